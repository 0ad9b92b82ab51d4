"""Every other /v1/ path is passed on uncached (api.passthrough): to its provider, as sent, relayed as it comes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from llmcache.api.passthrough import PassedOn, dialect_of_path, pass_on
from llmcache.api.providers import is_anthropic_path
from llmcache.exchange import GatewayResponse, UpstreamResponse


class RecordingUpstream:
    def __init__(self, status: int = 200, pieces: tuple[bytes, ...] = (b'{"data":', b"[]}")) -> None:
        self.status, self.pieces = status, pieces
        self.asked: list[tuple[Any, ...]] = []
        self.closed = False

    @contextmanager
    def relay(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str], credential: Any, **_: Any
    ):
        self.asked.append((method, path, query, body, credential))
        head = UpstreamResponse(
            self.status, {"content-type": "application/json", "x-request-id": "r1", "set-cookie": "c=1"}, b""
        )
        try:
            yield head, iter(self.pieces)
        finally:
            self.closed = True


@pytest.mark.parametrize(
    ("path", "anthropic"),
    [("/v1/messages", True), ("/messages/", True), ("/v1/messages/count_tokens", True), ("/v1/models", False)],
)
def test_given_a_path_when_its_api_is_asked_then_messages_paths_are_anthropics(path: str, anthropic: bool) -> None:
    assert is_anthropic_path(path) is anthropic
    assert dialect_of_path(path).provider == ("anthropic" if anthropic else "openai")


def passed_on(upstream: RecordingUpstream, path: str, credential: str | None) -> GatewayResponse:
    engine = SimpleNamespace(services=SimpleNamespace(upstream=upstream, providers={}))
    request = PassedOn("GET", path, None, "a=1", b"", {}, credential, None, deadline=time.monotonic() + 30)
    return pass_on(engine, request)  # type: ignore[arg-type]


def test_given_a_passed_on_request_when_answered_then_the_body_is_relayed_piece_by_piece_with_bypass() -> None:
    upstream = RecordingUpstream()
    response = passed_on(upstream, "/v1/models", "sk-a")
    assert upstream.asked == [("GET", "models", "a=1", b"", "sk-a")]
    assert response.status == 200 and response.content_type == "application/json"
    assert response.headers == {"x-request-id": "r1", "X-Cache": "BYPASS"}  # no provider cookie
    assert response.stream is not None
    pieces: Iterator[bytes] = iter(response.stream)
    assert list(pieces) == [b'{"data":', b"[]}"]
    response.stream.close()
    assert upstream.closed


def test_given_a_stream_that_breaks_when_passed_on_then_nothing_is_appended() -> None:
    response = passed_on(RecordingUpstream(), "/v1/files/f", "sk-a")
    assert response.stream is not None
    assert response.stream.error_event(Exception("broke")) == b""  # type: ignore[arg-type]
    response.stream.close()
