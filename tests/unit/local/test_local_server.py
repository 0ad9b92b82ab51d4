"""The local HTTP server with a stub handler: event in, response out, concurrency, limits."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llmcache.local.server import LocalServer


class RecordingHandler:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.reply: Any = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}
        self.barrier: threading.Barrier | None = None
        self.error: Exception | None = None

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        if self.error is not None:
            raise self.error
        return self.reply


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def server(handler: RecordingHandler) -> Iterator[LocalServer]:
    with LocalServer(handler, max_body_bytes=1024 * 1024) as running:
        yield running


def test_given_a_request_when_served_then_the_handler_gets_a_rest_event_and_a_lambda_context(
    server: LocalServer, handler: RecordingHandler
) -> None:
    response = httpx.post(
        f"{server.url}/v1/chat/completions?debug=1",
        json={"model": "m"},
        headers={"Authorization": "Bearer sk-x"},
        timeout=5,
    )

    assert response.status_code == 200 and response.json() == {"ok": True}
    event = handler.events[-1]
    assert event["httpMethod"] == "POST" and event["path"] == "/v1/chat/completions"
    assert json.loads(event["body"]) == {"model": "m"}
    assert {k.lower(): v for k, v in event["headers"].items()}["authorization"] == "Bearer sk-x"
    assert event["queryStringParameters"] == {"debug": "1"}
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    context = handler.contexts[-1]
    assert context.aws_request_id == event["requestContext"]["requestId"]
    assert context.get_remaining_time_in_millis() > 0


def test_given_a_handler_reply_with_headers_and_base64_body_when_served_then_the_client_gets_them(
    server: LocalServer, handler: RecordingHandler
) -> None:
    handler.reply = {
        "statusCode": 201,
        "headers": {"X-Cache": "MISS", "Content-Length": "999", "Connection": "close"},
        "multiValueHeaders": {"X-Multi": ["1", "2"]},
        "body": base64.b64encode(b"\x00\x01binary").decode(),
        "isBase64Encoded": True,
    }

    response = httpx.get(f"{server.url}/anything", timeout=5)

    assert response.status_code == 201
    assert response.headers["x-cache"] == "MISS"
    assert response.headers.get_list("x-multi") == ["1", "2"]
    assert response.content == b"\x00\x01binary"
    assert response.headers["content-length"] == str(len(b"\x00\x01binary"))  # the server's own, not the handler's


def test_given_a_handler_that_raises_when_served_then_502_in_the_openai_envelope_without_traceback(
    server: LocalServer, handler: RecordingHandler
) -> None:
    handler.error = RuntimeError("boom secret detail")

    response = httpx.get(f"{server.url}/v1/models", timeout=5)

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "lambda_error"
    assert "boom" not in response.text and "Traceback" not in response.text


def test_given_a_declared_body_far_over_10_mb_when_posted_then_413_without_calling_the_handler(
    server: LocalServer, handler: RecordingHandler
) -> None:
    with socket.create_connection(("127.0.0.1", server.httpd.server_address[1]), timeout=5) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data

    assert answer.startswith(b"HTTP/1.1 413")
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert handler.events == []


def test_given_a_body_over_the_limit_actually_sent_when_posted_then_the_client_reads_413_not_a_reset(
    server: LocalServer, handler: RecordingHandler
) -> None:
    response = httpx.post(f"{server.url}/v1/embeddings", content=b"x" * (2 * 1024 * 1024), timeout=10)

    assert response.status_code == 413
    assert handler.events == []


def test_given_a_chunked_body_when_posted_then_the_handler_gets_it_whole(
    server: LocalServer, handler: RecordingHandler
) -> None:
    def parts() -> Iterator[bytes]:
        yield b'{"model": '
        yield b'"m"}'

    response = httpx.post(f"{server.url}/v1/chat/completions", content=parts(), timeout=5)

    assert response.status_code == 200
    assert handler.events[-1]["body"] == '{"model": "m"}'


def test_given_a_head_request_when_served_then_headers_come_without_a_body(
    server: LocalServer, handler: RecordingHandler
) -> None:
    response = httpx.head(f"{server.url}/health", timeout=5)

    assert response.status_code == 200
    assert response.content == b""
    assert handler.events[-1]["httpMethod"] == "HEAD"


def test_given_two_slow_requests_when_sent_together_then_both_are_handled_at_the_same_time(
    server: LocalServer, handler: RecordingHandler
) -> None:
    # Both handler calls must be inside the handler at once to pass the barrier.
    handler.barrier = threading.Barrier(2)
    results: list[int] = []

    def call() -> None:
        results.append(httpx.get(f"{server.url}/health", timeout=15).status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert results == [200, 200]


def test_given_keep_alive_when_two_requests_share_a_connection_then_both_are_answered(
    server: LocalServer, handler: RecordingHandler
) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        first = client.post("/a", content=b"one")
        second = client.post("/b", content=b"two")

    assert (first.status_code, second.status_code) == (200, 200)
    assert [e["body"] for e in handler.events] == ["one", "two"]


def _raw_exchange(server: LocalServer, request: bytes) -> bytes:
    """Send raw bytes and keep the connection open; what the server answers before it closes it (a server
    still waiting for body bytes that will never come times the read out: the test fails)."""
    with socket.create_connection(("127.0.0.1", server.httpd.server_address[1]), timeout=3) as sock:
        sock.sendall(request)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    return answer


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: \xb2",  # a superscript two: str.isdigit() accepts it, int() does not
        b"Content-Length: \xb2\r\nExpect: 100-continue",
        b"Content-Length: -5",
        b"Transfer-Encoding: chunked",  # followed by a chunk size of -1
    ],
)
def test_given_a_malformed_body_framing_when_posted_then_400_and_the_handler_is_not_called(
    server: LocalServer, handler: RecordingHandler, head: bytes
) -> None:
    body = b"-1\r\nxx\r\n0\r\n\r\n" if b"chunked" in head else b"{}"
    answer = _raw_exchange(server, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n\r\n" + body)

    answer = answer.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n")  # the interim answer to Expect, if asked
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert handler.events == []
