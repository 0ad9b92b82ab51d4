"""`make bench`: llmcache and LiteLLM's cache on the same machine, in the same run, same requests.

Prints one table and writes bench/results/latest.json. Progress goes to stderr. The exit status
is 0 unless a section crashed (its error is in the JSON and the table): never because of a number.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import coldstart, sizes, ttft
from bench.common import (
    ROOT,
    chat_body,
    git_commit,
    load_average,
    machine,
    run_worker,
    start_moto_process,
    start_provider_process,
    versions,
)
from bench.report import build_rows, render_table

RESULTS = ROOT / "bench" / "results" / "latest.json"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke run, not figures to quote")
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh processes per side (default 10)")
    parser.add_argument(
        "--cold-budget", type=float, default=150.0, help="stop cold-start rounds after this many seconds (min 3)"
    )
    parser.add_argument("--build-layer", action="store_true", help="run layers/build.py even if its output exists")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON (default %(default)s)")
    return parser.parse_args(argv)


def iterations(quick: bool) -> dict[str, Any]:
    scale = 0.1 if quick else 1.0
    return {
        "memory_iterations": int(5000 * scale),
        "redis_iterations": int(1000 * scale),
        "miss_iterations": int(300 * scale),
        "profile_iterations": int(2000 * scale),
        "scale_budget_bytes": int(16_000_000 * scale),
        "fill_iterations": int(300 * scale),
        "litellm_memory_iterations": int(3000 * scale),
        "litellm_redis_iterations": int(1000 * scale),
        "litellm_miss_iterations": int(200 * scale),
        "aws_requests": int(50 * scale) or 5,
    }


class Sections:
    """Runs each section, keeping its error instead of stopping the whole benchmark."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.monotonic()
        log(f"{name} ...")
        try:
            result = fn()
        except Exception as exc:
            self.errors[name] = f"{type(exc).__name__}: {exc}"[-4000:]
            log(f"{name} FAILED: {type(exc).__name__}: {str(exc)[-1500:]}")
            traceback.print_exc(file=sys.stderr)
            return None
        log(f"{name} done in {time.monotonic() - started:.1f}s")
        return result


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "load_average_start": load_average(),
        "versions": versions(),
        "commit": git_commit(),
        "quick": args.quick,
        "method": {
            "percentiles": "nearest rank; with n samples p99 is the ceil(0.99 n)-th smallest (the largest for n < 100)",
            "request": "a ~2 KB chat request (system prompt, context, question: 3 messages)",
            "upstream": "the offline fake provider (llmcache.local.fake_provider) in its own process",
            "isolation": "llmcache and LiteLLM run in separate worker processes; the helper servers in others",
        },
    }
    config = iterations(args.quick)
    results["iterations"] = config
    sections = Sections()
    helpers: list[Any] = []
    redis_server = None
    tmp = tempfile.TemporaryDirectory(prefix="llmcache-bench-")
    try:
        provider = start_provider_process()
        helpers.append(provider)
        provider_url = provider.url + "/v1"
        try:
            from tests.servers import RedisServer

            redis_server = RedisServer().start()
        except Exception as exc:  # redis-server missing: the Redis rows say so
            sections.errors["redis-server"] = f"{type(exc).__name__}: {exc}"
            log(f"no redis-server: {exc}")
        moto = sections.run("moto server", start_moto_process)
        if moto is not None:
            helpers.append(moto)
        site = Path(tmp.name) / "lambda-site"
        body_path = Path(tmp.name) / "body.json"
        body_path.write_bytes(chat_body(2048, tag="first-request"))

        ddb_env = None
        if moto is not None:
            from llmcache.local.aws import create_cache_resources, emulated_aws_env

            table = f"bench-cold-{int(time.time())}"
            os.environ.update(emulated_aws_env(moto.url))  # dummy credentials; children get their own copy
            create_cache_resources(table=table, bucket=table, endpoint_url=moto.url)
            ddb_env = {**emulated_aws_env(moto.url), "CACHE_TABLE": table, "CACHE_BUCKET": table}

        results["cold_start"] = sections.run(
            "cold start (fresh processes, alternating)",
            lambda: coldstart.measure(
                provider_url=provider_url,
                body_path=str(body_path),
                runs=3 if args.quick else args.cold_runs,
                budget_seconds=args.cold_budget,
                ddb_env=ddb_env,
                site=site,
            ),
        )
        results["importtime"] = sections.run(
            "python -X importtime llmcache.handler", lambda: coldstart.importtime(site)
        )
        results["importtime_venv"] = sections.run(
            "python -X importtime llmcache.handler (dev venv)", lambda: coldstart.importtime(None)
        )
        results["cold_profile"] = sections.run(
            "pyinstrument: import + first request",
            lambda: coldstart.profile_cold(site, provider_url, str(body_path)),
        )
        if ddb_env is not None:
            results["cold_profile_dynamodb"] = sections.run(
                "pyinstrument: import + first request, memory+dynamodb",
                lambda: coldstart.profile_cold(
                    site, provider_url, str(body_path), {**ddb_env, "CACHE_TIERS": "memory,dynamodb"}
                ),
            )

        base = {"provider_url": provider_url, **config}
        if redis_server is not None:
            base.update({"redis_host": redis_server.host, "redis_port": redis_server.port})
        results["llmcache"] = sections.run(
            "llmcache in-process (hit, miss, scaling, fill)",
            lambda: run_worker("bench.inproc", {**base, "mode": "llmcache"}, timeout=600),
        )
        if redis_server is not None:
            redis_server.flushall()
        results["litellm"] = sections.run(
            "LiteLLM in-process (hit, miss, scaling)",
            lambda: run_worker("bench.inproc", {**base, "mode": "litellm"}, timeout=600),
        )
        if moto is not None:
            results["aws"] = sections.run(
                "AWS calls per request (moto server mode)",
                lambda: run_worker("bench.inproc", {**base, "mode": "aws", "moto_url": moto.url}, timeout=300),
            )
        results["package"] = sections.run("package size", lambda: sizes.measure(args.build_layer))
        results["streaming"] = sections.run(
            "time to first token (streamed miss) and entry-point cold start",
            lambda: ttft.measure(runs=5 if args.quick else 20, cold_runs=2 if args.quick else 5),
        )
    finally:
        for helper in reversed(helpers):
            helper.stop()
        if redis_server is not None:
            redis_server.stop()
        tmp.cleanup()

    results["load_average_end"] = load_average()
    results["seconds"] = round(time.monotonic() - started, 1)
    results["errors"] = sections.errors
    rows = build_rows(results)
    results["table"] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
    print(render_table(results, rows))
    if results.get("streaming"):
        print("\n" + ttft.render(results["streaming"]))
    log(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} in {results['seconds']}s")
    crashed = {k: v for k, v in sections.errors.items() if k != "redis-server"}
    return 1 if crashed else 0


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
