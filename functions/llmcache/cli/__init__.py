"""`llmcache`: the operator command. It talks HTTP to a gateway (`make run`'s or a deployed one).

    llmcache warm examples/prompts.jsonl   pre-fill the cache, one request body per line (any cached API)
    llmcache stats --window 1h [--watch]   hit rate and dollars saved as charts, split by route, model, match
    llmcache flush --namespace default     every entry of a namespace stops being served
    llmcache entry KEY [--ttl N | --delete]
    llmcache tenant [KEY]                  a key's tenant id (computed here: the key is sent nowhere)

It reads LLMCACHE_URL, LLMCACHE_API_KEY (a client key, for warm) and LLMCACHE_ADMIN_KEY (for the rest), or the
admin key from stdin (--admin-key-stdin); a flag exists for each, --admin-key only as a last resort (a flag's
value shows in `ps` and in the shell's history). Behind API Gateway API keys, LLMCACHE_GATEWAY_KEY is sent as
`x-api-key`. Every error is one line that says what to do, passwords in URLs masked; never a traceback.

Not part of the Lambda package (click and rich are the `cli` extra, not in the layer). It imports httpx, click,
the gateway's light `savings` (prices), `dialects` (each API's usage) and `keys` (tenant ids), and rich only where it
draws: nothing of the gateway's AWS or Powertools stack. The parts: `gateway` (talking to a gateway safely),
`warm`, `charts` (the stats screen).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from llmcache.cli.charts import duration, render
from llmcache.cli.gateway import DEFAULT_URL, CliError, EntryNotFound, Gateway, entry_path, json_of, redact
from llmcache.cli.warm import (
    ANTHROPIC_VERSION,
    CACHED_ROUTES,
    WarmTally,
    normalize_route,
    print_summary,
    run_warm,
    warm_requests,
)

WINDOW = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
SECONDS_PER = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# The stats route's bounds: it keeps 14 days (as long as CloudWatch keeps 1-minute data).
MIN_WINDOW, MAX_WINDOW = 60, 14 * 86400
ENTRY_HINT = "KEY is the X-Cache-Key header of one answer, while its entry lives (see its Age and your TTL)"


# ----- the command line --------------------------------------------------------------------------


def gateway_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The connection flags every command takes, each with its environment variable."""
    options = [
        click.option("--url", envvar="LLMCACHE_URL", default=DEFAULT_URL, show_default=True, show_envvar=True,
                     help="The gateway's base URL."),
        click.option("--api-key", envvar="LLMCACHE_API_KEY", show_envvar=True,
                     help="A client key: what warm sends as the client's credential. Prefer the variable."),
        click.option("--admin-key-stdin", is_flag=True,
                     help="Read the admin key from the first line of stdin (from a secrets manager, say)."),
        click.option("--admin-key", envvar="LLMCACHE_ADMIN_KEY", show_envvar=True,
                     help="The gateway's ADMIN_API_KEY. As a flag, a last resort: it shows in `ps` and history."),
        click.option("--gateway-key", envvar="LLMCACHE_GATEWAY_KEY", show_envvar=True,
                     help="An API Gateway API key, sent as x-api-key (deployed gateways)."),
        click.option("--insecure", is_flag=True, envvar="LLMCACHE_INSECURE", show_envvar=True,
                     help="Allow keys over plain http to a host other than this machine (a network you trust)."),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=120.0, show_default=True,
                     help="Seconds to wait for each answer."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _gateway(
    url: str,
    api_key: str | None,
    admin_key: str | None,
    admin_key_stdin: bool,
    gateway_key: str | None,
    insecure: bool,
    timeout: float,
) -> Gateway:
    if admin_key_stdin:
        admin_key = sys.stdin.readline()
        if not admin_key.strip():
            raise CliError("--admin-key-stdin read no key: pipe it in, e.g. `pass show llmcache-admin | llmcache ...`")
    elif admin_key and _given_as_flag("admin_key"):
        click.echo(
            "note: --admin-key shows the key in `ps` and your shell history; prefer LLMCACHE_ADMIN_KEY "
            "or --admin-key-stdin",
            err=True,
        )
    return Gateway(
        url.strip(),
        _clean(api_key),
        _clean(admin_key),
        _clean(gateway_key),
        timeout,
        insecure=insecure,
        warn=lambda line: click.echo(line, err=True),
    )


def _given_as_flag(name: str) -> bool:
    context = click.get_current_context(silent=True)
    return context is not None and context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


def _clean(value: str | None) -> str | None:
    return value.strip() or None if value else None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="llmcache", message="llmcache %(version)s")
def cli() -> None:
    """Operate an llmcache gateway: pre-fill it, read what it saved, flush and inspect entries.

    \b
    Connection: LLMCACHE_URL, LLMCACHE_API_KEY (warm) and LLMCACHE_ADMIN_KEY (stats, flush, entry);
    `make run` prints the export line for all three.
    """


# ----- warm ----------------------------------------------------------------------------------------


def _count_lines(path: Path) -> int | None:
    try:
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    except OSError:
        return None


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--route", help=f"The API of lines without a \"route\" field ({', '.join(CACHED_ROUTES)}); "
              "default: each line's shape.")  # fmt: skip
@click.option("--anthropic-version", default=ANTHROPIC_VERSION, show_default=True,
              help="Sent with Messages lines: part of their key, so the version your clients send.")  # fmt: skip
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=4, show_default=True, help="Requests in flight at once."
)
@gateway_options
def warm(file: Path, route: str | None, anthropic_version: str, concurrency: int, **connection: Any) -> None:
    """Pre-fill the cache from FILE (JSON lines: one request body per line; - reads stdin).

    Each line is sent once through the gateway, as a client would send it, to its API: the line's "route"
    field, else --route, else its shape (Claude models and a top-level "system": Messages). Lines already
    cached are counted, never sent upstream again. Exits 1 when any line failed or was not a request.
    """
    from llmcache.savings import PriceTable, price_overrides

    gateway = _gateway(**connection)
    default_route = None
    if route is not None:
        default_route = normalize_route(route)
        if default_route is None:
            raise CliError(f"--route must be one of {', '.join(CACHED_ROUTES)}; got {route!r}")
    if not gateway.api_key:
        raise CliError("no client key: set LLMCACHE_API_KEY (the key your apps send; `make run` prints one)")
    if str(file) == "-" and connection.get("admin_key_stdin"):
        raise CliError("stdin can give the prompts or the admin key, not both (warm needs no admin key)")
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
    gateway.check_transport("client key")  # and a refused transport, once, before any line
    with handle:
        requests = warm_requests(iter(handle), default_route, tally)
        interrupted = run_warm(
            gateway, requests, tally, prices, concurrency=concurrency, total=total, anthropic_version=anthropic_version
        )
    gateway.close()
    print_summary(tally, interrupted)
    if interrupted:
        sys.exit(130)
    if tally.any_failed:
        sys.exit(1)


# ----- stats ---------------------------------------------------------------------------------------


def parse_window(text: str, flag: str = "--window", low: int = MIN_WINDOW, high: int = MAX_WINDOW) -> int:
    """Seconds from `90s`, `30m`, `1h`, `7d` or a bare number of seconds, within [low, high]."""
    match = WINDOW.match(text.lower())
    if not match:
        raise CliError(f"{flag} takes a number with s, m, h or d (e.g. 90s, 30m, 1h, 7d); got {text!r}")
    seconds = int(match.group(1)) * SECONDS_PER[match.group(2)]
    if not low <= seconds <= high:
        why = " (the gateway keeps 14 days of counts)" if high == MAX_WINDOW else ""
        raise CliError(f"{flag} must be between {duration(low)} and {duration(high)}{why}; got {text!r}")
    return seconds


def _fetch_stats(gateway: Gateway, seconds: int) -> dict[str, Any]:
    data = json_of(gateway.admin("GET", "/cache/stats", params={"window": str(seconds)}), gateway)
    if not isinstance(data, dict):
        raise CliError(f"the server at {gateway.shown_url} did not answer like an llmcache gateway: check LLMCACHE_URL")
    return data


@cli.command()
@click.option("--window", default="1h", show_default=True, help="How far back: 90s, 30m, 1h, 7d (1m to 14d).")
@click.option("--watch", is_flag=True, help="Redraw every --every until Ctrl-C.")
@click.option("--every", default="2s", show_default=True, help="How often --watch redraws (1s to 1h).")
@click.option("--json", "as_json", is_flag=True, help="Print the gateway's JSON, for scripts.")
@gateway_options
def stats(window: str, watch: bool, every: str, as_json: bool, **connection: Any) -> None:
    """Hit rate and dollars saved over the window: totals, charts per step, and splits by route, model and
    exact vs semantic (a local gateway's own counts; deployed, CloudWatch's totals and charts)."""
    seconds = parse_window(window)
    pause = parse_window(every, "--every", 1, 3600)
    gateway = _gateway(**connection)
    if as_json:
        click.echo(json.dumps(_fetch_stats(gateway, seconds), indent=2))
        return
    console = _console()
    if not watch:
        console.print(render(_fetch_stats(gateway, seconds), url=gateway.shown_url, window=seconds))
        return
    _watch(gateway, seconds, pause, console)


def _watch(gateway: Gateway, seconds: int, pause: int, console: Any) -> None:
    """Redraw the stats in place until Ctrl-C; a gateway that stops answering is said, then retried."""
    import datetime as dt

    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    shown: Any = Text("")
    with Live(console=console, auto_refresh=False, transient=False) as live:
        try:
            while True:
                now = dt.datetime.now()
                try:
                    shown = render(_fetch_stats(gateway, seconds), url=gateway.shown_url, window=seconds, updated=now)
                    view = shown
                except CliError as exc:  # keep the last picture, say why it is stale
                    view = Group(shown, Text(f"{now:%H:%M:%S} {exc} (retrying every {duration(pause)})", "red"))
                live.update(Group(view, Text(f"refreshing every {duration(pause)}; Ctrl-C stops", "dim")),
                            refresh=True)  # fmt: skip
                time.sleep(pause)
        except KeyboardInterrupt:
            return


# ----- flush, entry, tenant --------------------------------------------------------------------------


@cli.command()
@click.option("--namespace", required=True, help='The partition to flush, e.g. "default".')
@click.option("--tenant", help="Only this tenant's entries (`llmcache tenant KEY` gives a key's id).")
@gateway_options
def flush(namespace: str, tenant: str | None, **connection: Any) -> None:
    """Stop serving every entry of a namespace at once (O(1): nothing is scanned)."""
    gateway = _gateway(**connection)
    body = {"namespace": namespace, **({"tenant": tenant} if tenant else {})}
    data = json_of(gateway.admin("POST", "/cache/flush", body), gateway)
    who = "every tenant" if data.get("tenant") in (None, "*") else f"tenant {data.get('tenant')}"
    click.echo(f"flushed namespace {data.get('namespace', namespace)} for {who} (generation {data.get('generation')})")


@cli.command()
@click.argument("key")
@click.option("--ttl", type=click.IntRange(min=1), help="Give the entry a new expiry, N seconds from now.")
@click.option("--delete", is_flag=True, help="Remove the entry from every tier.")
@click.option("--json", "as_json", is_flag=True, help="Print the gateway's JSON, for scripts.")
@gateway_options
def entry(key: str, ttl: int | None, delete: bool, as_json: bool, **connection: Any) -> None:
    """Show an entry's metadata (KEY: the X-Cache-Key header of an answer), re-expire it, or delete it."""
    if ttl is not None and delete:
        raise CliError("give either --ttl or --delete, not both")
    path = entry_path(key)  # 64 lowercase hex, checked before anything is sent
    key = key.strip()
    gateway = _gateway(**connection)
    try:
        if delete:
            gateway.admin("DELETE", path)
            click.echo(f"deleted {key}")
            return
        response = gateway.admin("PATCH", path, {"ttl": ttl}) if ttl is not None else gateway.admin("GET", path)
    except EntryNotFound as missing:
        raise CliError(f"{missing}; {ENTRY_HINT}") from None
    data = json_of(response, gateway)
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


@cli.command()
@click.argument("key", required=False)
@click.option("--api-key-id", help="Deployed with API Gateway API keys: the key's id (the API key that chose it).")
def tenant(key: str | None, api_key_id: str | None) -> None:
    """Print the tenant id of a client KEY, as the gateway derives it (for `flush --tenant`).

    Computed here: the key is sent nowhere. KEY defaults to LLMCACHE_API_KEY; `-` reads it from stdin (a key
    typed as an argument stays in your shell history). With --api-key-id: the tenant of that API Gateway key
    (managed mode), or of that key and KEY together (passthrough mode, where each provider key is a tenant).
    """
    from llmcache.keys import tenant_id

    if key == "-":
        key = sys.stdin.readline()
    elif key is None and not api_key_id:
        key = os.environ.get("LLMCACHE_API_KEY")
    credential, key_id = _clean(key), _clean(api_key_id)
    if credential is None and key_id is None:
        raise CliError("no key: give KEY, `-` to read it from stdin, LLMCACHE_API_KEY, or --api-key-id")
    click.echo(tenant_id(credential, key_id, passthrough=credential is not None))


# ----- helpers, entry point ----------------------------------------------------------------------


def _utc(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


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
    except click.ClickException as exc:  # a usage error: click's own message (it never holds a URL we were given)
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # a bug here must still not print a traceback at an operator
        _fail(f"unexpected {type(exc).__name__}: {exc} (please report it)", 1)
    sys.exit(0)


def _fail(text: str, code: int) -> NoReturn:
    click.echo(f"llmcache: {redact(text)}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
