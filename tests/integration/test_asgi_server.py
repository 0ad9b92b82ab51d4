"""The ASGI app under uvicorn as `make run` configures it (a real server on a free port, in this process):
slow and idle connections cannot hold it (#12 finding 9), coalesced streamed misses, the trusted request
context behind the Lambda Web Adapter."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests.integration.harness import AsgiClient, serving

from llmcache import asgi
from llmcache.dialects.openai import StreamAssembler
from llmcache.dialects.sse import iter_sse_events


@pytest.fixture
def server(configure, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    configure(CACHE_TIERS="memory")
    monkeypatch.setattr(asgi, "BODY_SECONDS", 1.0)
    with serving(asgi.app, head_seconds=1.0) as url:
        yield url


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=15)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_given_100_connections_stuck_mid_body_when_another_client_asks_then_it_is_answered_and_they_get_408(
    server: str,
) -> None:
    stuck = []
    for _ in range(100):
        sock = _connect(server)
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-a\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":'
        )
        stuck.append(sock)
    try:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "not held up"}]}
        answer = httpx.post(f"{server}/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-a"})
        assert answer.status_code == 200 and answer.headers["x-cache"] == "MISS"
        replies = [_read_all(sock) for sock in stuck]  # each ends: 408, then the connection is closed
        assert all(reply.startswith(b"HTTP/1.1 408") for reply in replies), replies[0][:200]
        assert b"did not arrive within" in replies[0]
    finally:
        for sock in stuck:
            sock.close()


@pytest.mark.parametrize("sent", [b"", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"])
def test_given_a_connection_that_never_sends_a_whole_request_head_when_waited_on_then_the_server_closes_it(
    server: str, sent: bytes
) -> None:
    with _connect(server) as sock:
        sock.sendall(sent)
        assert _read_all(sock) == b""  # closed by the server (the socket timeout, 15 s, would raise instead)


def test_given_a_herd_of_identical_streamed_misses_when_served_then_the_provider_streams_once(
    server: str, provider
) -> None:
    body = {
        "model": "fake-slowstream-100",
        "stream": True,
        "messages": [{"role": "user", "content": "one call for the herd"}],
    }

    def ask(_: int) -> httpx.Response:
        return httpx.post(f"{server}/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-a"})

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(ask, range(6)))
    assert provider.count() == 1
    assert all(a.status_code == 200 and a.text.endswith("data: [DONE]\n\n") for a in answers)
    contents = {_content(a.content) for a in answers}
    assert contents == {"offline answer to: one call for the herd"}
    assert sum(a.headers.get("x-cache-coalesced") == "true" for a in answers) >= 1


def _content(sse: bytes) -> str:
    assembler = StreamAssembler()
    for event in iter_sse_events([sse]):
        assembler.feed(event)
    answer = assembler.result()
    assert answer is not None
    return answer["choices"][0]["message"]["content"]


def _ask(client: AsgiClient, key_id: str, bearer: str) -> str | None:
    context = f'{{"requestId": "r-1", "identity": {{"apiKeyId": "{key_id}"}}}}'
    answer = client.chat("tenant by api key id", api_key=bearer, headers={"x-amzn-request-context": context})
    assert answer.status == 200
    return answer.cache


def test_given_a_forged_request_context_header_when_not_behind_the_adapter_then_it_is_ignored(configure) -> None:
    configure(CACHE_TIERS="memory", UPSTREAM_API_KEY="sk-managed")
    client = AsgiClient()
    assert _ask(client, "key-one", "sk-same") == "MISS"
    assert _ask(client, "key-two", "sk-same") == "HIT"  # the header's key ids were not taken as tenants


def test_given_the_lambda_web_adapter_when_it_passes_the_request_context_then_the_api_key_id_is_the_tenant(
    configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(CACHE_TIERS="memory", UPSTREAM_API_KEY="sk-managed")  # managed: the API key id alone is the tenant
    monkeypatch.setenv("AWS_LWA_INVOKE_MODE", "response_stream")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "llmcache-test")
    client = AsgiClient()
    assert _ask(client, "key-one", "sk-first") == "MISS"
    assert _ask(client, "key-one", "sk-second") == "HIT"  # same API key id, same tenant
    assert _ask(client, "key-two", "sk-first") == "MISS"  # another API key id, another tenant


@pytest.mark.parametrize(
    ("path", "error_of"),
    [
        ("/v1/chat/completions", lambda body: (body["error"]["type"], body["error"]["code"])),
        ("/v1/messages", lambda body: (body["type"], body["error"]["type"])),
    ],
)
def test_given_a_declared_body_over_10_mb_when_the_asgi_door_refuses_it_then_413_in_the_routes_envelope(
    server: str, path: str, error_of
) -> None:
    with _connect(server) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {11 * 1024 * 1024}\r\n\r\n".encode()
        )
        reply = _read_all(sock)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    expected = (
        ("invalid_request_error", "request_too_large") if path != "/v1/messages" else ("error", "request_too_large")
    )
    assert error_of(json.loads(body)) == expected
