"""`llmcache warm`: pre-fill the cache from JSON lines, one request body per line, for every cached API.

Each line goes to its API's route as a client would send it, so the entry is the one later clients hit: a
Messages line carries `anthropic-version` (part of its key) and the client key as `x-api-key`, as Anthropic's
SDKs send them. A line's API is its `"route"` field, else `--route`, else its shape (`prompt`: completions;
`input`: embeddings for an embedding model, else Responses; `messages`: Messages for a Claude model or with a
top-level `system`, else chat completions).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import click

from llmcache.cli.charts import dollars
from llmcache.cli.gateway import CliError, Gateway, message

CACHED_ROUTES = ("chat/completions", "completions", "embeddings", "responses", "messages")
# Fields of a warm line that are not sent: "route" picks the endpoint; streaming is turned off so that
# the answer's usage can be read (neither is part of the cache key, so the entry is the same).
NOT_SENT = ("route", "stream", "stream_options")
# What Anthropic's official SDKs send today (anthropic 2.x for Python: 2026-10-21; 0.x sent 2023-06-01). The header
# is part of a Messages entry's key, so warm must send what the clients will (tests/unit/test_cli.py checks it).
ANTHROPIC_VERSION = "2026-10-21"


@dataclass
class WarmTally:
    sent: int = 0
    already_cached: int = 0
    stored: int = 0
    not_stored: int = 0  # answered but not kept (BYPASS, or a MISS the cache refused to store)
    failed: int = 0
    skipped: int = 0  # lines that were not a request body
    tokens: int = 0
    dollars: float = 0.0
    unpriced: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note(self, line: str) -> None:
        with self.lock:
            self.problems.append(line)

    @property
    def any_failed(self) -> bool:
        return bool(self.failed or self.skipped)


@dataclass(frozen=True)
class WarmRequest:
    line: int
    route: str
    body: dict[str, Any]


def normalize_route(route: str) -> str | None:
    name = route.strip().strip("/").removeprefix("v1/")
    return name if name in CACHED_ROUTES else None


def route_of(body: dict[str, Any]) -> str | None:
    """A request body's API, from its shape; None when it could be none of them."""
    model = str(body.get("model") or "").lower()
    if "prompt" in body:
        return "completions"
    if "input" in body:
        embedding = "embed" in model or "encoding_format" in body or "dimensions" in body
        return "embeddings" if embedding else "responses"
    if "messages" in body:
        claude = model.startswith(("claude", "anthropic.")) or "system" in body
        return "messages" if claude else "chat/completions"
    return None


def warm_requests(lines: Iterator[str], default_route: str | None, tally: WarmTally) -> Iterator[WarmRequest]:
    """The request of each line; a line that is not one is named in `tally` and skipped."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            tally.skipped += 1
            tally.note(f"line {number}: not JSON ({exc.msg}); skipped")
            continue
        if not isinstance(body, dict):
            tally.skipped += 1
            tally.note(f"line {number}: a request body must be a JSON object; skipped")
            continue
        route = body.get("route", default_route) or route_of(body)
        if route is None:
            tally.skipped += 1
            tally.note(f'line {number}: cannot tell its API from its fields: add "route" (or --route); skipped')
            continue
        normalized = normalize_route(route) if isinstance(route, str) else None
        if normalized is None:
            tally.skipped += 1
            tally.note(f"line {number}: unknown route {route!r} (one of {', '.join(CACHED_ROUTES)}); skipped")
            continue
        yield WarmRequest(number, normalized, {k: v for k, v in body.items() if k not in NOT_SENT})


def send_line(gateway: Gateway, request: WarmRequest, anthropic_version: str) -> Any:
    """POST one line to its route with the credential where its API's clients put it."""
    path = f"/v1/{request.route}"
    if request.route != "messages":
        return gateway.send("POST", path, key=gateway.api_key, body=request.body)
    # Anthropic's SDKs send `x-api-key`; behind API Gateway keys that header is the gateway's, so a bearer token.
    key_header = "authorization" if gateway.gateway_key else "x-api-key"
    headers = {"anthropic-version": anthropic_version}
    return gateway.send("POST", path, key=gateway.api_key, body=request.body, headers=headers, key_header=key_header)


def warm_one(gateway: Gateway, request: WarmRequest, tally: WarmTally, prices: Any, anthropic_version: str) -> str:
    """Send one line; returns HIT, MISS (stored), BYPASS or ERROR for the progress bar."""
    try:
        response = send_line(gateway, request, anthropic_version)
    except CliError as exc:
        tally.note(f"line {request.line}: {exc}")
        with tally.lock:
            tally.failed += 1
        return "ERROR"
    outcome = response.headers.get("x-cache", "")
    if response.status_code >= 400 or outcome not in ("HIT", "MISS", "BYPASS"):
        reason = message(response) if response.status_code >= 400 else "the answer carried no X-Cache header"
        tally.note(f"line {request.line} ({request.route}): {reason} ({response.status_code})")
        with tally.lock:
            tally.failed += 1
        return "ERROR"
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    from llmcache.dialects.registry import dialect_for  # each API reads its own usage

    usage = dialect_for(request.route).usage(answer if isinstance(answer, dict) else {})
    model = str(answer.get("model") or request.body.get("model") or "") if isinstance(answer, dict) else ""
    with tally.lock:
        if outcome == "HIT":
            tally.already_cached += 1
        elif outcome == "MISS":
            tally.stored += 1
        else:
            tally.not_stored += 1
        if outcome in ("HIT", "MISS"):  # in the cache now
            tally.tokens += usage.total
            if prices.known(model) is None:
                if usage.total:
                    tally.unpriced.add(model or "(no model)")
            else:
                tally.dollars += prices.cost(model, usage)
    return outcome


def run_warm(
    gateway: Gateway,
    requests: Iterator[WarmRequest],
    tally: WarmTally,
    prices: Any,
    *,
    concurrency: int,
    total: int | None,
    anthropic_version: str,
) -> bool:
    """Send with at most `concurrency` in flight; True when Ctrl-C stopped it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    counts = {"HIT": 0, "MISS": 0, "BYPASS": 0, "ERROR": 0}
    columns = (
        TextColumn("warming"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("hits {task.fields[hits]} · misses {task.fields[misses]} · errors {task.fields[errors]}"),
        TimeElapsedColumn(),
    )
    in_flight: set[Future[str]] = set()
    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="warm")
    with Progress(*columns, console=Console(stderr=True, highlight=False), transient=False) as progress:
        task = progress.add_task("warm", total=total, hits=0, misses=0, errors=0)

        def settle(done: set[Future[str]]) -> None:
            for future in done:
                outcome = future.result() if not future.cancelled() else "ERROR"
                counts[outcome] += 1
                progress.update(
                    task,
                    advance=1,
                    hits=counts["HIT"],
                    misses=counts["MISS"] + counts["BYPASS"],
                    errors=counts["ERROR"] + tally.skipped,
                )

        skipped_shown = 0

        def show_skipped() -> None:
            nonlocal skipped_shown
            if tally.skipped > skipped_shown:  # a bad line is progress too, and an error
                progress.update(task, advance=tally.skipped - skipped_shown, errors=counts["ERROR"] + tally.skipped)
                skipped_shown = tally.skipped

        try:
            for request in requests:
                show_skipped()
                while len(in_flight) >= concurrency:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    in_flight.difference_update(done)
                    settle(done)
                tally.sent += 1
                in_flight.add(executor.submit(warm_one, gateway, request, tally, prices, anthropic_version))
            show_skipped()
            done, _ = wait(in_flight)
            settle(done)
        except KeyboardInterrupt:
            progress.console.print("stopping: letting the requests in flight finish (Ctrl-C again quits now)")
            try:
                executor.shutdown(wait=True, cancel_futures=True)
            except KeyboardInterrupt:
                os._exit(130)
            settle({f for f in in_flight if f.done() and not f.cancelled()})
            return True
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
    return False


def print_summary(tally: WarmTally, interrupted: bool) -> None:
    for problem in tally.problems[:20]:
        click.echo(problem, err=True)
    if len(tally.problems) > 20:
        click.echo(f"... and {len(tally.problems) - 20} more problems", err=True)
    parts = [
        f"sent {tally.sent}",
        f"already cached {tally.already_cached}",
        f"stored {tally.stored}",
        f"failed {tally.failed}",
    ]
    if tally.not_stored:
        parts.append(f"answered but not cached {tally.not_stored}")
    if tally.skipped:
        parts.append(f"skipped lines {tally.skipped}")
    click.echo(("interrupted: " if interrupted else "") + ", ".join(parts))
    click.echo(f"now cached: {tally.tokens:,} tokens, {dollars(tally.dollars)} at list prices (saved on every hit)")
    if tally.unpriced:
        click.echo(
            f"no price for {', '.join(sorted(tally.unpriced))}: tokens counted, no dollars "
            "(add prices with PRICES_FILE or PRICES)"
        )
