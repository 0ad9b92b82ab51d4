"""`llmcache`: the operator command. It talks HTTP to a gateway (`make run`'s or a deployed one).

    llmcache warm prompts.jsonl          pre-fill the cache, one request body per line
    llmcache stats --window 1h           hits, misses, tokens and dollars saved
    llmcache flush --namespace default   every entry of a namespace stops being served
    llmcache entry KEY [--ttl N | --delete]

It reads LLMCACHE_URL, LLMCACHE_API_KEY (a client key, for warm) and LLMCACHE_ADMIN_KEY (for the
rest), each also a flag. Behind API Gateway API keys, LLMCACHE_GATEWAY_KEY is sent as `x-api-key`.
Every error is one line that says what to do; never a traceback.

Not part of the Lambda package (click and rich are the `cli` extra, not in the layer). It imports
httpx, click and the gateway's light `savings` module (the price table, for warm), and rich only
where it draws: nothing of the gateway's AWS or Powertools stack.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
CACHED_ROUTES = ("chat/completions", "completions", "embeddings", "responses", "messages")
# Fields of a warm line that are not sent: "route" picks the endpoint; streaming is turned off so that
# the answer's usage can be read (neither is part of the cache key, so the entry is the same).
NOT_SENT = ("route", "stream", "stream_options")
WINDOW = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
SECONDS_PER = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class CliError(Exception):
    """One line for the operator: what went wrong and what to do."""


# ----- talking to the gateway --------------------------------------------------------------------


@dataclass
class Gateway:
    url: str
    api_key: str | None
    admin_key: str | None
    gateway_key: str | None
    timeout: float
    _client: httpx.Client | None = field(default=None, repr=False)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            if not re.match(r"^https?://[^/\s]+", self.url):
                raise CliError(
                    f"LLMCACHE_URL must be the gateway's http(s) base URL, e.g. {DEFAULT_URL}; got {self.url!r}"
                )
            if self.url.rstrip("/").endswith("/v1"):
                raise CliError(f"LLMCACHE_URL is the gateway's base URL, without /v1: {self.url.rstrip('/')[:-3]}")
            headers = {"x-api-key": self.gateway_key} if self.gateway_key else {}
            self._client = httpx.Client(
                base_url=self.url.rstrip("/"),
                headers={"User-Agent": "llmcache-cli", **headers},
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def send(self, method: str, path: str, *, key: str | None, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            return self.client.request(method, path, json=body, headers=headers, **kwargs)
        except httpx.ConnectError:
            raise CliError(
                f"cannot connect to the gateway at {self.url}: is it running (`make run`)? "
                "Set LLMCACHE_URL or --url to its address"
            ) from None
        except httpx.TimeoutException:
            raise CliError(
                f"the gateway at {self.url} did not answer within {self.timeout:g} s: retry, or raise --timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise CliError(f"the request to {self.url} failed ({type(exc).__name__}): check LLMCACHE_URL") from None

    def admin(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        if not self.admin_key:
            raise CliError("no admin key: set LLMCACHE_ADMIN_KEY or pass --admin-key (`make run` prints one)")
        response = self.send(method, path, key=self.admin_key, body=body, **kwargs)
        if response.status_code in (401, 403) and not _is_gateway_error(response):
            raise CliError(
                f"{self.url} refused the request ({response.status_code}) before the gateway saw it: "
                "behind API Gateway, set LLMCACHE_GATEWAY_KEY (or --gateway-key) to an API key"
            )
        if response.status_code in (401, 403):
            raise CliError(
                f"the gateway refused the admin key ({response.status_code}: {_message(response)}): "
                "set LLMCACHE_ADMIN_KEY or --admin-key to the gateway's ADMIN_API_KEY"
            )
        if response.status_code == 404 and not _is_gateway_error(response):
            raise CliError(
                f"{self.url} has no {path} route (404): LLMCACHE_URL must be the gateway's base URL "
                "(no /v1; deployed, the ApiUrl output with its stage)"
            )
        if response.status_code >= 400:
            raise CliError(f"{_message(response)} ({response.status_code})")
        return response


def _is_gateway_error(response: httpx.Response) -> bool:
    """An answer in the gateway's own error envelope (not a proxy's page or API Gateway's message)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no readable answer"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(body, dict) and body.get("message"):  # API Gateway's own {"message": "Forbidden"}
        return str(body["message"])
    return response.reason_phrase or "error"


def _json_of(response: httpx.Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise CliError(
            f"the server at {url} did not answer like an llmcache gateway (HTTP {response.status_code}, {kind}): "
            "check LLMCACHE_URL"
        ) from None


# ----- the command line --------------------------------------------------------------------------


def gateway_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The connection flags every command takes, each with its environment variable."""
    options = [
        click.option("--url", envvar="LLMCACHE_URL", default=DEFAULT_URL, show_default=True, show_envvar=True,
                     help="The gateway's base URL."),
        click.option("--api-key", envvar="LLMCACHE_API_KEY", show_envvar=True,
                     help="A client key: warm sends it as the bearer credential."),
        click.option("--admin-key", envvar="LLMCACHE_ADMIN_KEY", show_envvar=True,
                     help="The gateway's ADMIN_API_KEY, for stats, flush and entry."),
        click.option("--gateway-key", envvar="LLMCACHE_GATEWAY_KEY", show_envvar=True,
                     help="An API Gateway API key, sent as x-api-key (deployed gateways)."),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=120.0, show_default=True,
                     help="Seconds to wait for each answer."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _gateway(url: str, api_key: str | None, admin_key: str | None, gateway_key: str | None, timeout: float) -> Gateway:
    return Gateway(url.strip(), _clean(api_key), _clean(admin_key), _clean(gateway_key), timeout)


def _clean(value: str | None) -> str | None:
    return value.strip() or None if value else None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="llmcache", message="llmcache %(version)s")
def cli() -> None:
    """Operate an llmcache gateway: pre-fill it, read what it saved, flush and inspect entries."""


# ----- warm ----------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class WarmRequest:
    line: int
    route: str
    body: dict[str, Any]


def _normalize_route(route: str) -> str | None:
    name = route.strip().strip("/").removeprefix("v1/")
    return name if name in CACHED_ROUTES else None


def _warm_requests(lines: Iterator[str], default_route: str, tally: WarmTally) -> Iterator[WarmRequest]:
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
        route = body.get("route", default_route)
        normalized = _normalize_route(route) if isinstance(route, str) else None
        if normalized is None:
            tally.skipped += 1
            tally.note(f"line {number}: unknown route {route!r} (one of {', '.join(CACHED_ROUTES)}); skipped")
            continue
        yield WarmRequest(number, normalized, {k: v for k, v in body.items() if k not in NOT_SENT})


def _warm_one(gateway: Gateway, request: WarmRequest, tally: WarmTally, prices: Any) -> str:
    """Send one line; returns HIT, MISS (stored), BYPASS or ERROR for the progress bar."""
    try:
        response = gateway.send("POST", f"/v1/{request.route}", key=gateway.api_key, body=request.body)
    except CliError as exc:
        tally.note(f"line {request.line}: {exc}")
        with tally.lock:
            tally.failed += 1
        return "ERROR"
    outcome = response.headers.get("x-cache", "")
    if response.status_code >= 400 or outcome not in ("HIT", "MISS", "BYPASS"):
        reason = _message(response) if response.status_code >= 400 else "the answer carried no X-Cache header"
        tally.note(f"line {request.line}: {reason} ({response.status_code})")
        with tally.lock:
            tally.failed += 1
        return "ERROR"
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    from llmcache.dialects.registry import dialect_for

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


def _count_lines(path: Path) -> int | None:
    try:
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    except OSError:
        return None


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--route",
    default="chat/completions",
    show_default=True,
    help=f'The API of lines without a "route" field: {", ".join(CACHED_ROUTES)}.',
)
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=4, show_default=True, help="Requests in flight at once."
)
@gateway_options
def warm(file: Path, route: str, concurrency: int, **connection: Any) -> None:  # fmt: skip
    """Pre-fill the cache from FILE (JSON lines: one request body per line; - reads stdin).

    Each line is sent once through the gateway, as a client would send it; lines already cached are
    counted, never sent upstream again. A line that is not a request body is named and skipped.
    """
    from llmcache.savings import PriceTable, price_overrides

    gateway = _gateway(**connection)
    default_route = _normalize_route(route)
    if default_route is None:
        raise CliError(f"--route must be one of {', '.join(CACHED_ROUTES)}; got {route!r}")
    if not gateway.api_key:
        raise CliError("no client key: set LLMCACHE_API_KEY or pass --api-key (the key your apps send)")
    try:
        prices = PriceTable.shipped(price_overrides(os.environ.get("PRICES_FILE"), os.environ.get("PRICES")))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if str(file) == "-":
        total, handle = None, sys.stdin
    else:
        try:
            handle = file.open(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CliError(f"cannot read {file}: {exc.strerror}") from None
        total = _count_lines(file)
    tally = WarmTally()
    gateway.client  # noqa: B018 - a bad URL is reported before the progress bar starts
    with handle:
        interrupted = _run_warm(gateway, _warm_requests(iter(handle), default_route, tally), tally, prices,
                                concurrency, total)  # fmt: skip
    gateway.close()
    _print_warm_summary(tally, interrupted)
    if interrupted:
        sys.exit(130)
    if tally.sent and tally.failed == tally.sent:
        sys.exit(1)


def _run_warm(
    gateway: Gateway,
    requests: Iterator[WarmRequest],
    tally: WarmTally,
    prices: Any,
    concurrency: int,
    total: int | None,
) -> bool:
    """Send with at most `concurrency` in flight; True when Ctrl-C stopped it."""
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
    with Progress(*columns, console=_console(stderr=True), transient=False) as progress:
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
                in_flight.add(executor.submit(_warm_one, gateway, request, tally, prices))
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


def _print_warm_summary(tally: WarmTally, interrupted: bool) -> None:
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


def dollars(amount: float) -> str:
    """Cents for sums that have them; six decimals for the fractions of a cent one hit saves."""
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.6f}"


# ----- stats, flush, entry -----------------------------------------------------------------------


def parse_window(text: str) -> int:
    match = WINDOW.match(text.lower())
    if not match:
        raise CliError(f"--window takes seconds or a number with s, m, h or d (e.g. 1h, 30m, 7d); got {text!r}")
    return int(match.group(1)) * SECONDS_PER[match.group(2)]


@cli.command()
@click.option("--window", default="1h", show_default=True, help="How far back: 90s, 30m, 1h, 7d (at most 14d).")
@click.option("--json", "as_json", is_flag=True, help="Print the gateway's JSON, for scripts.")
@gateway_options
def stats(window: str, as_json: bool, **connection: Any) -> None:
    """Hits, misses, hit rate, tokens and dollars saved, backend faults."""
    gateway = _gateway(**connection)
    seconds = parse_window(window)
    response = gateway.admin("GET", "/cache/stats", params={"window": str(seconds)})
    data = _json_of(response, gateway.url)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from rich.table import Table

    hit_rate = data.get("hit_rate")
    table = Table(
        title=f"llmcache stats, {_duration(int(data.get('window_seconds') or seconds))} ({data.get('source')})"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("hits", f"{data.get('hits', 0):,}"),
        ("misses", f"{data.get('misses', 0):,}"),
        ("bypasses", f"{data.get('bypasses', 0):,}"),
        ("hit rate", "-" if hit_rate is None else f"{100 * hit_rate:.1f} %"),
        ("tokens saved", f"{data.get('tokens_saved', 0):,}"),
        ("dollars saved", dollars(float(data.get("cost_saved_usd") or 0.0))),
        ("backend faults", f"{data.get('backend_errors', 0):,}"),
        ("upstream errors", f"{data.get('upstream_errors', 0):,}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    _console().print(table)


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@cli.command()
@click.option("--namespace", required=True, help='The partition to flush, e.g. "default".')
@click.option("--tenant", help="Only this tenant's entries (its id, as logged per request).")
@gateway_options
def flush(namespace: str, tenant: str | None, **connection: Any) -> None:
    """Stop serving every entry of a namespace at once (O(1): nothing is scanned)."""
    gateway = _gateway(**connection)
    body = {"namespace": namespace, **({"tenant": tenant} if tenant else {})}
    data = _json_of(gateway.admin("POST", "/cache/flush", body), gateway.url)
    who = "every tenant" if data.get("tenant") in (None, "*") else f"tenant {data.get('tenant')}"
    click.echo(f"flushed namespace {data.get('namespace', namespace)} for {who} (generation {data.get('generation')})")


@cli.command()
@click.argument("key")
@click.option("--ttl", type=click.IntRange(min=1), help="Give the entry a new expiry, N seconds from now.")
@click.option("--delete", is_flag=True, help="Remove the entry from every tier.")
@click.option("--json", "as_json", is_flag=True, help="Print the gateway's JSON, for scripts.")
@gateway_options
def entry(key: str, ttl: int | None, delete: bool, as_json: bool, **connection: Any) -> None:
    """Show an entry's metadata (KEY is the X-Cache-Key header), re-expire it, or delete it."""
    if ttl is not None and delete:
        raise CliError("give either --ttl or --delete, not both")
    gateway = _gateway(**connection)
    path = f"/cache/entries/{key.strip()}"
    if delete:
        gateway.admin("DELETE", path)
        click.echo(f"deleted {key.strip()}")
        return
    response = gateway.admin("PATCH", path, {"ttl": ttl}) if ttl is not None else gateway.admin("GET", path)
    data = _json_of(response, gateway.url)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from rich.table import Table

    table = Table(show_header=False, title=f"entry {data.get('key', key)}")
    table.add_column("field")
    table.add_column("value")
    for name in ("route", "model", "tier", "size", "tokens", "created", "expires", "ttl_remaining"):
        if name in data:
            value = data[name]
            if name in ("created", "expires") and isinstance(value, int | float):
                value = _utc(value)
            table.add_row(name, str(value))
    _console().print(table)


def _utc(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


# ----- entry point -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> NoReturn:
    """The console script: every failure is one line on stderr and a non-zero exit, never a traceback."""
    try:
        cli.main(args=argv, prog_name="llmcache", standalone_mode=False)
    except CliError as exc:
        _fail(str(exc), 1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        _fail("interrupted", 130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # a bug here must still not print a traceback at an operator
        _fail(f"unexpected {type(exc).__name__}: {exc} (please report it)", 1)
    sys.exit(0)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"llmcache: {message}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
