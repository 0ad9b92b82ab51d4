"""The console of `make run`: one short line per request, warnings and errors that stand out.

Deployed, every request writes a Powertools JSON line and an EMF metrics line (600-900 characters each), which
is what CloudWatch Logs wants and what a person at a terminal cannot read. Under `make run` the gateway writes
instead, per request:

    01:42:07  POST  /v1/chat/completions       200  HIT     memory          0.6 ms

and its warnings and errors as one line each, in colour when stdout is a terminal (and NO_COLOR is unset).
`LOG_FORMAT=json` keeps the deployment's JSON lines (`llmcache.local.cli` decides which).

What a line shows of a request: its method and path, never the query string (a client may put a key there),
a header value or a body; what the client typed is stripped of control characters, so a path cannot write
escape sequences to the operator's terminal.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import IO, Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_FORMAT = "json"
HUMAN_FORMAT = "human"
PATH_WIDTH = 28  # most paths fit; a longer one pushes the columns right rather than being cut
MAX_PATH_CHARS = 96

_RESET = "\033[0m"
_STYLES = {
    "dim": "\033[2m",
    "bold": "\033[1m",
    "green": "\033[32m",
    "yellow": "\033[33m",
    "red": "\033[31m",
    "cyan": "\033[36m",
    "magenta": "\033[35m",
    "red_bold": "\033[1;31m",
    "yellow_bold": "\033[1;33m",
}
_CACHE_STYLE = {"HIT": "green", "MISS": "cyan", "BYPASS": "magenta"}


def wants_colour(stream: IO[str], env: Mapping[str, str]) -> bool:
    """Colour on a terminal, unless NO_COLOR is set to anything (https://no-color.org)."""
    if env.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Paint:
    """Wraps text in ANSI styles, or leaves it plain."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str | None) -> str:
        if not self.enabled or not style:
            return text
        return f"{_STYLES[style]}{text}{_RESET}"


def printable(text: str, limit: int = MAX_PATH_CHARS) -> str:
    """What a client sent, safe to print: control characters (escape sequences) replaced, length capped."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def request_line(
    *,
    clock: float,
    method: str,
    path: str,
    status: int | None,
    cache: str | None,
    tier: str | None,
    match: str | None,
    ms: float,
    paint: Paint,
    note: str = "",
) -> str:
    """One request: time, method, path, status, X-Cache, tier (and semantic), milliseconds."""
    stamp = time.strftime("%H:%M:%S", time.localtime(clock))
    shown_status = "---" if status is None else str(status)
    status_style = None if status is None or status < 400 else ("yellow" if status < 500 else "red_bold")
    where = tier or ""
    if match == "semantic":
        where = f"{where} semantic".strip()
    parts = [
        paint(stamp, "dim"),
        f"{printable(method, 8):<6}",
        f"{printable(path):<{PATH_WIDTH}}",
        paint(shown_status, status_style),
        paint(f"{cache or '-':<6}", _CACHE_STYLE.get(cache or "")),
        f"{where:<15}",
        paint(f"{_milliseconds(ms):>9}", "dim"),
    ]
    line = "  ".join(parts)
    return f"{line}  {paint(note, 'yellow')}" if note else line


def _milliseconds(ms: float) -> str:
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 10_000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"


class RequestLines:
    """ASGI middleware: prints `request_line` once each answer is written (a stream: once it ends)."""

    def __init__(self, app: App, out: IO[str] | None = None, paint: Paint | None = None) -> None:
        self.app = app
        self.out = out
        self.paint = paint or Paint(False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": None, "headers": {}, "done": False}

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                seen["headers"] = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", [])
                }
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                seen["done"] = True
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            headers = seen["headers"]
            self._write(
                request_line(
                    clock=time.time(),
                    method=str(scope.get("method", "")),
                    path=_path(scope),
                    status=seen["status"],
                    cache=headers.get("x-cache"),
                    tier=headers.get("x-cache-tier"),
                    match=headers.get("x-cache-match"),
                    ms=(time.perf_counter() - started) * 1000,
                    paint=self.paint,
                    note="" if seen["done"] else "client gone before the end",
                )
            )

    def _write(self, line: str) -> None:
        out = self.out or sys.stdout
        out.write(line + "\n")
        out.flush()


def _path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):  # as sent, percent-encoding kept: what the client typed, not what it decodes to
        return raw.decode("latin-1").split("?", 1)[0]
    return str(scope.get("path", ""))


# A LogRecord's own attributes; everything else on a record is a field the gateway passed in `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_LEVEL_STYLE = {"WARNING": "yellow_bold", "ERROR": "red_bold", "CRITICAL": "red_bold"}
_LEVEL_NAME = {"WARNING": "WARN", "CRITICAL": "ERROR"}


class HumanFormatter(LambdaPowertoolsFormatter):
    """The gateway's log lines as one readable line each: time, level, message, then its fields as key=value.

    A Powertools formatter (the Logger keeps calling `append_keys` on it with the invocation's keys: the fake
    Lambda context of a local run, which this format leaves out). The fields are the ones the JSON line carries:
    ids, sizes, error types, never prompt text or keys."""

    def __init__(self, paint: Paint) -> None:
        super().__init__()
        self.paint = paint

    def format(self, record: logging.LogRecord) -> str:
        level = _LEVEL_NAME.get(record.levelname, record.levelname)
        fields = " ".join(
            f"{name}={printable(str(value), 200)}"
            for name, value in vars(record).items()
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_") and value is not None
        )
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{self.paint(stamp, 'dim')}  {self.paint(f'{level:<5}', _LEVEL_STYLE.get(record.levelname))}  "
        line += record.getMessage() + (f"  {self.paint(fields, 'dim')}" if fields else "")
        if record.exc_info:  # a bug in the gateway: the traceback is for the developer running it
            line += "\n" + self.paint(self.formatException(record.exc_info), "dim")
        return line


def use_human_logs(logger: Any, paint: Paint) -> None:
    """The gateway's logger in the console format, at WARNING: the per-request JSON access line (INFO) gives way
    to `RequestLines`, warnings and errors stay and stand out."""
    handler = logger.registered_handler
    handler.setFormatter(HumanFormatter(paint))
    logging.getLogger(logger.name).setLevel(logging.WARNING)
