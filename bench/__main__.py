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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import coldstart, semantic_index, semantic_lookup, sizes, ttft
from bench.common import (
    ROOT,
    chat_body,
    git_commit,
    load_average,
    machine,
    median_merge,
    paired_ratio,
    run_worker,
    start_moto_process,
    start_provider_process,
    versions,
)
from bench.report import build_rows, render_table
from bench.rows import get

RESULTS = ROOT / "bench" / "results" / "latest.json"
# A --quick run's figures are "not figures to quote": they go beside the tracked results, never over them.
QUICK_RESULTS = ROOT / "bench" / "results" / "quick.json"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke run, not figures to quote")
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh processes per side (default 10)")
    parser.add_argument(
        "--cold-budget", type=float, default=150.0, help="stop cold-start rounds after this many seconds (min 3)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="in-process rounds per side, alternating llmcache and LiteLLM (default 3; 2 with --quick)",
    )
    parser.add_argument("--build-layer", action="store_true", help="run layers/build.py even if its output exists")
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the JSON (default latest.json; with --quick quick.json)"
    )
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


@dataclass(frozen=True)
class BenchEnv:
    """What an added section gets: the helper servers' addresses and the run's settings."""

    provider_url: str  # the fake provider, ".../v1"
    redis: tuple[str, int] | None  # (host, port) of the throwaway redis-server, flushed before each section
    moto_url: str | None  # moto server mode (AWS_* dummy credentials are already in os.environ)
    quick: bool
    rounds: int  # alternate the sides this many times and report medians (see alternate_rounds)


# Sections added by other bench modules: (key in latest.json, title, measure(env) -> JSON-able result).
# Add one line per module here (and its table rows in bench/report.py's EXTRA_ROWS):
#   ("ttft", "time to first token, streamed", ttft.measure),
#   ("semantic_index", "semantic index lookups", semantic_index.measure),
EXTRA_SECTIONS: list[tuple[str, str, Callable[[BenchEnv], Any]]] = [
    ("ttft", "time to first token (streamed miss) and entry-point cold start", ttft.measure),
    ("semantic_lookup", "semantic lookup on one thread (local ONNX models)", semantic_lookup.measure),
]

# Figures whose llmcache/anchor ratio is taken round by round (each round's two sides ran back to
# back) and reported as the median of those ratios.
PAIRED_FIGURES = (
    "memory_hit_us.p50",
    "memory_hit_us.p99",
    "redis_hit_us.p50",
    "redis_hit_us.p99",
    "miss.overhead_us.p50",
    "miss.overhead_us.p99",
)


def alternate_rounds(sections: Sections, base: dict[str, Any], rounds: int, redis_server: Any) -> dict[str, list[Any]]:
    """llmcache, then LiteLLM, then LiteLLM, then llmcache...: each side's in-process worker `rounds` times,
    alternating which goes first, so that load on the shared machine falls on both sides alike. The first
    round of each side also profiles a hit; only llmcache's first round fills the memory tier (no anchor)."""
    runs: dict[str, list[Any]] = {"llmcache": [], "litellm": [], "order": []}
    titles = {
        "llmcache": "llmcache in-process (hit, miss, scaling)",
        "litellm": "LiteLLM in-process (hit, miss, scaling)",
    }
    for index in range(rounds):
        order = ["llmcache", "litellm"] if index % 2 == 0 else ["litellm", "llmcache"]
        for side in order:
            if redis_server is not None:
                redis_server.flushall()
            config = {**base, "mode": side, "profile": index == 0, "fill": index == 0}
            title = (
                f"{titles[side]}{', fill' if side == 'llmcache' and index == 0 else ''} [round {index + 1}/{rounds}]"
            )
            result = sections.run(title, lambda config=config: run_worker("bench.inproc", config, timeout=600))
            runs[side].append(result)
            runs["order"].append(side)
    return runs


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
        rounds = args.rounds or (2 if args.quick else 3)
        runs = alternate_rounds(sections, base, rounds, redis_server)
        results["rounds"] = {"count": rounds, "order": runs.pop("order")}
        results["llmcache_rounds"], results["litellm_rounds"] = runs["llmcache"], runs["litellm"]
        results["llmcache"] = median_merge(runs["llmcache"])
        results["litellm"] = median_merge(runs["litellm"])
        results["paired_ratios"] = {
            path: paired_ratio(
                [get(r, path) for r in runs["llmcache"]],
                [get(r, path) for r in runs["litellm"]],
            )
            for path in PAIRED_FIGURES
        }
        if moto is not None:
            results["aws"] = sections.run(
                "AWS calls per request (moto server mode)",
                lambda: run_worker("bench.inproc", {**base, "mode": "aws", "moto_url": moto.url}, timeout=300),
            )
        results["semantic_index"] = sections.run(
            "semantic index lookup, Valkey vs in-process exact vs embedded Qdrant (3,000 entries)",
            lambda: run_worker("bench.semantic_index", {"lookups": 50 if args.quick else 500}, timeout=600),
        )
        results["package"] = sections.run("package size", lambda: sizes.measure(args.build_layer))

        # ----- sections other modules add (one entry each in EXTRA_SECTIONS, below) -----------------
        env = BenchEnv(
            provider_url=provider_url,
            redis=None if redis_server is None else (redis_server.host, redis_server.port),
            moto_url=None if moto is None else moto.url,
            quick=args.quick,
            rounds=rounds,
        )
        for key, title, measure in EXTRA_SECTIONS:
            if redis_server is not None:
                redis_server.flushall()
            results[key] = sections.run(title, lambda measure=measure: measure(env))
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
    args.out = results_path(args.out, args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
    print(render_table(results, rows))
    print(semantic_index.render(results.get("semantic_index")))
    if results.get("ttft"):
        print("\n" + ttft.render(results["ttft"]))
    if results.get("semantic_lookup"):
        print("\n" + semantic_lookup.render(results["semantic_lookup"]))
    log(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} in {results['seconds']}s")
    crashed = {k: v for k, v in sections.errors.items() if k != "redis-server"}
    return 1 if crashed else 0


def results_path(out: Path | None, quick: bool) -> Path:
    """Where the figures go: --out when given, else quick.json for a smoke run, else the tracked latest.json."""
    if out is not None:
        return out
    return QUICK_RESULTS if quick else RESULTS


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
