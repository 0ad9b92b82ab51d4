"""The console of `make run`: one short line per request, readable warnings, colour only on a terminal."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import uuid
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from llmcache.local.console import (
    HumanFormatter,
    Paint,
    RequestLines,
    printable,
    request_line,
    use_human_logs,
    wants_colour,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "env", "expected"),
    [(Terminal(), {}, True), (Terminal(), {"NO_COLOR": "1"}, False), (io.StringIO(), {}, False)],
)
def test_given_a_stream_and_no_color_when_asked_then_colour_only_on_a_terminal_without_no_color(
    stream: io.StringIO, env: dict[str, str], expected: bool
) -> None:
    assert wants_colour(stream, env) is expected


def test_given_a_hit_when_formatted_then_one_short_line_has_time_method_path_status_cache_tier_and_ms() -> None:
    line = request_line(
        clock=0, method="POST", path="/v1/chat/completions", status=200, cache="HIT", tier="memory",
        match="exact", ms=0.42, paint=Paint(False),
    )  # fmt: skip

    assert re.fullmatch(r"\d\d:\d\d:\d\d  POST\s+/v1/chat/completions\s+200  HIT\s+memory\s+0\.4 ms", line)
    assert len(line) < 100


def test_given_a_semantic_hit_in_colour_when_formatted_then_it_says_semantic_and_a_5xx_is_red() -> None:
    semantic = request_line(
        clock=0, method="POST", path="/v1/messages", status=200, cache="HIT", tier="memory", match="semantic",
        ms=3, paint=Paint(True),
    )  # fmt: skip
    failed = request_line(
        clock=0, method="POST", path="/v1/messages", status=502, cache=None, tier=None, match=None, ms=12_345,
        paint=Paint(True),
    )  # fmt: skip

    assert "memory semantic" in ANSI.sub("", semantic) and "\x1b[32mHIT" in semantic
    assert "\x1b[1;31m502" in failed and "12.3 s" in failed


def test_given_a_path_with_escape_sequences_when_printed_then_they_cannot_reach_the_terminal() -> None:
    assert printable("/v1/\x1b[2J\x07x") == "/v1/?[2J?x"
    assert len(printable("/v1/" + "a" * 500)) == 96


def run_app(
    app: Any, path: bytes, *, headers: list[tuple[bytes, bytes]], chunks: list[bytes], out: io.StringIO | None = None
) -> str:
    out = out if out is not None else io.StringIO()

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(chunks) - 1})

    async def main() -> None:
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {"type": "http", "method": "POST", "path": path.decode(), "raw_path": path, "query_string": b"key=sk-1"}
        await RequestLines(app or inner, out=out)(scope, receive, send)
        assert sent  # the answer went through untouched

    asyncio.run(main())
    return out.getvalue()


def test_given_a_streamed_answer_when_it_ends_then_one_line_is_printed_with_its_cache_headers() -> None:
    headers = [(b"x-cache", b"MISS"), (b"content-type", b"text/event-stream")]

    printed = run_app(None, b"/v1/responses?key=sk-secret", headers=headers, chunks=[b"data: 1\n\n", b"data: 2\n\n"])

    assert printed.count("\n") == 1
    assert "/v1/responses" in printed and "MISS" in printed and "200" in printed
    assert "sk-secret" not in printed and "key=" not in printed  # never the query string


def test_given_an_app_that_fails_mid_answer_when_logged_then_the_line_says_the_answer_did_not_end() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-cache", b"MISS")]})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise ConnectionResetError

    out = io.StringIO()
    with pytest.raises(ConnectionResetError):
        run_app(failing, b"/v1/chat/completions", headers=[], chunks=[], out=out)

    assert out.getvalue().count("\n") == 1
    assert "MISS" in out.getvalue() and "client gone before the end" in out.getvalue()


def test_given_a_warning_with_fields_when_formatted_for_people_then_one_line_with_its_fields_and_no_lambda_keys() -> (
    None
):
    stream = io.StringIO()
    logger = Logger(service=f"console-{uuid.uuid4().hex[:6]}", logger_handler=logging.StreamHandler(stream))
    use_human_logs(logger, Paint(False))
    logger.append_keys(function_arn="arn:aws:lambda:local", cold_start=True)

    logger.info("answered", extra={"route": "chat/completions"})  # the JSON access line's level: not shown
    logger.warning("cache backend failed; answering without it", extra={"tier": "redis", "operation": "get"})

    text = stream.getvalue()
    assert text.count("\n") == 1
    assert re.match(r"\d\d:\d\d:\d\d  WARN   cache backend failed; answering without it  ", text)
    assert "tier=redis" in text and "operation=get" in text
    assert "function_arn" not in text and "{" not in text


def test_given_an_error_in_colour_when_formatted_then_its_level_stands_out_in_red() -> None:
    formatter = HumanFormatter(Paint(True))
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "unexpected error", (), None)

    assert "\x1b[1;31mERROR" in formatter.format(record)
