"""`make load`: a steady request rate against the local gateway, with a realistic hit/miss mix.

Starts `python -m llmcache.local --port <free>` (tests/servers.py's GatewayProcess, exactly
`make run`) with CACHE_TIERS=memory,dynamodb by default, the offline fake provider as upstream and
moto in server mode for DynamoDB/S3, each in its own process, all on loopback. Then holds `--rps`
requests per second for `--seconds` from one asyncio client (a minimal HTTP/1.1 client over
kept-alive connections, so the generator's own CPU stays small next to the gateway's):
`--repeat` of them (80%) repeat a prompt from a pool, the rest are new. The schedule is open-loop (request i is due at
i / rps), so a slow gateway shows up as latency from the due time, not as a lower rate alone.
Bounded: at most rps x seconds requests, and the run stops 30 s after its schedule ends.

Prints a table and one JSON line. Exit 0 unless the run itself crashes (errors are reported).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from bench.common import (
    chat_body,
    load_average,
    machine,
    percentile,
    start_moto_process,
    start_provider_process,
)

GRACE_SECONDS = 30.0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to hold the rate (default 60)")
    parser.add_argument("--rps", type=float, default=200.0, help="requests per second (default 200)")
    parser.add_argument("--repeat", type=float, default=0.8, help="share of requests repeating a pooled prompt")
    parser.add_argument("--pool", type=int, default=200, help="distinct prompts in the pool (default 200)")
    parser.add_argument("--tenants", type=int, default=4, help="distinct API keys (default 4)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections, i.e. most requests in flight")
    parser.add_argument("--tiers", default="memory,dynamodb", help="CACHE_TIERS for the gateway")
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="let the gateway start its own moto and offline provider in-process (plain `make run`)",
    )
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def wait_healthy(base_url: str, timeout: float = 45.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(base_url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"no 200 from {base_url}/health within {timeout:.0f}s")


def warm_up(base_url: str) -> None:
    """One request before the clock starts: the first one builds the engine and its clients (that
    cold-start cost is `make bench`'s figure, not a steady-state latency)."""
    import httpx

    body = chat_body(1000, tag=f"warm-up-{uuid.uuid4().hex}")
    headers = {"Authorization": "Bearer sk-load-warm-up", "Content-Type": "application/json"}
    httpx.post(base_url + "/v1/chat/completions", content=body, headers=headers, timeout=60).raise_for_status()


def log(message: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Connection:
    """One kept-alive HTTP/1.1 connection with a minimal client: a load generator must cost far less
    per request than the server it measures (httpx's async pool spent ~8 ms of CPU per request here)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, key: str) -> tuple[int, dict[str, str]]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def drive(
    base_url: str, args: argparse.Namespace, pool: list[tuple[bytes, str]], rng: random.Random
) -> dict[str, Any]:
    split = urlsplit(base_url)
    host, port = split.hostname or "127.0.0.1", int(split.port or 80)
    total = int(args.rps * args.seconds)
    rows: list[tuple[float, float, float, int | None, str | None, str | None]] = []
    queue: asyncio.Queue[tuple[float, bytes, str] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def worker() -> None:
        connection = Connection(host, port)
        while True:
            item = await queue.get()
            if item is None:
                break
            due, body, key = item
            sent = loop.time()
            status: int | None = None
            outcome: str | None = None
            error: str | None = None
            try:
                status, headers = await asyncio.wait_for(connection.post("/v1/chat/completions", body, key), 30)
                outcome = headers.get("x-cache")
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
                error = type(exc).__name__
                await connection.close()
            rows.append((due, sent, loop.time(), status, outcome, error))
        await connection.close()

    workers = [asyncio.create_task(worker()) for _ in range(args.concurrency)]
    start = loop.time() + 0.2
    deadline = start + args.seconds + GRACE_SECONDS
    scheduled = 0
    for index in range(total):
        due = start + index / args.rps
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if loop.time() > deadline:
            break
        if rng.random() < args.repeat:
            body, key = pool[rng.randrange(len(pool))]
        else:
            body = chat_body(rng.randrange(400, 2400), tag=f"new-{uuid.uuid4().hex}")
            key = f"sk-load-tenant-{rng.randrange(args.tenants)}"
        queue.put_nowait((due, body, key))
        scheduled += 1
    for _ in workers:
        queue.put_nowait(None)
    _, pending = await asyncio.wait(workers, timeout=max(1.0, deadline - loop.time()))
    for task in pending:
        task.cancel()
    return {"rows": rows, "start": start, "scheduled": scheduled}


def summarize(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    rows = result["rows"]
    ok = [r for r in rows if r[3] == 200]
    errors = [r for r in rows if r[3] != 200]
    service_ms = [(r[2] - r[1]) * 1000 for r in ok]
    from_due_ms = [(r[2] - r[0]) * 1000 for r in ok]
    hits = [r for r in ok if r[4] == "HIT"]
    hit_ms = [(r[2] - r[1]) * 1000 for r in hits]
    miss_ms = [(r[2] - r[1]) * 1000 for r in ok if r[4] != "HIT"]
    last = max((r[2] for r in rows), default=result["start"])
    elapsed = max(1e-9, last - result["start"])
    kinds: dict[str, int] = {}
    for r in errors:
        label = str(r[3]) if r[3] is not None else (r[5] or "error")
        kinds[label] = kinds.get(label, 0) + 1
    outcomes: dict[str, int] = {}
    for r in ok:
        outcomes[str(r[4])] = outcomes.get(str(r[4]), 0) + 1

    def pct(values: list[float], q: float) -> float | None:
        return round(percentile(values, q), 2) if values else None

    return {
        "target_rps": args.rps,
        "seconds": args.seconds,
        "requests": len(rows),
        "scheduled": result["scheduled"],
        "achieved_rps": round(len(ok) / elapsed, 1),
        "p50_ms": pct(service_ms, 50),
        "p99_ms": pct(service_ms, 99),
        "p50_from_due_ms": pct(from_due_ms, 50),
        "p99_from_due_ms": pct(from_due_ms, 99),
        "hit_p50_ms": pct(hit_ms, 50),
        "hit_p99_ms": pct(hit_ms, 99),
        "miss_p50_ms": pct(miss_ms, 50),
        "miss_p99_ms": pct(miss_ms, 99),
        "hit_ratio": round(len(hits) / len(ok), 4) if ok else None,
        "outcomes": outcomes,
        "errors": len(errors),
        "error_kinds": kinds,
        "tiers": args.tiers,
        "repeat": args.repeat,
        "pool": args.pool,
        "concurrency": args.concurrency,
        "embedded": args.embedded,
    }


def render(summary: dict[str, Any]) -> str:
    items = [
        ("target rate", f"{summary['target_rps']:g} rps for {summary['seconds']:g} s"),
        ("achieved rate", f"{summary['achieved_rps']} rps ({summary['requests']} requests)"),
        ("latency p50 / p99", f"{summary['p50_ms']} / {summary['p99_ms']} ms"),
        ("from due time p50 / p99", f"{summary['p50_from_due_ms']} / {summary['p99_from_due_ms']} ms"),
        ("hits p50 / p99", f"{summary['hit_p50_ms']} / {summary['hit_p99_ms']} ms"),
        ("misses p50 / p99", f"{summary['miss_p50_ms']} / {summary['miss_p99_ms']} ms"),
        ("hit ratio", f"{summary['hit_ratio']} (repeats {summary['repeat']:.0%} from a pool of {summary['pool']})"),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(summary["outcomes"].items()))),
        ("errors", f"{summary['errors']}" + (f" {summary['error_kinds']}" if summary["errors"] else "")),
        ("tiers", summary["tiers"] + (" (embedded moto + provider)" if summary["embedded"] else "")),
    ]
    width = max(len(k) for k, _ in items)
    lines = ["| " + "measure".ljust(width) + " | value", "|" + "-" * (width + 2) + "|" + "-" * 40]
    lines += [f"| {k.ljust(width)} | {v}" for k, v in items]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    from tests.servers import GatewayProcess, gateway_env

    from llmcache.local.aws import emulated_aws_env

    rng = random.Random(args.seed)
    pool = [
        (chat_body(rng.randrange(400, 2400), tag=f"pool-{i}"), f"sk-load-tenant-{i % args.tenants}")
        for i in range(args.pool)
    ]
    helpers: list[Any] = []
    gateway = None
    try:
        overrides: dict[str, str | None] = {"CACHE_TIERS": args.tiers}
        if not args.embedded:
            provider = start_provider_process()
            helpers.append(provider)
            overrides["UPSTREAM_BASE_URL"] = provider.url + "/v1"
            if "dynamodb" in args.tiers:
                moto = start_moto_process()
                helpers.append(moto)
                overrides.update(emulated_aws_env(moto.url))
        env = gateway_env(overrides)
        gateway = GatewayProcess(env, name="load", extra_args=("--quiet",))
        gateway.start()
        base_url = gateway.url
        log(f"gateway on {base_url} (tiers {args.tiers}); {args.rps:g} rps for {args.seconds:g} s")
        warm_up(base_url)
        load_before = load_average()
        result = asyncio.run(drive(base_url, args, pool, rng))
        summary = summarize(result, args)
        summary["load_average"] = [load_before, load_average()]
        summary["machine"] = machine()
        summary["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    finally:
        if gateway is not None:
            gateway.stop()
            gateway.remove_log()
        for helper in reversed(helpers):
            helper.stop()
    print(render(summary))
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
