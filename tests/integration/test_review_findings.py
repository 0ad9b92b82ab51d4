"""Findings of the outside review of issue #22's fixes (R1..R5), each held by a test that fails today.

Every test is marked `xfail(strict=True)`: the suite stays green while a finding is open, and the test turns into
an unexpected pass (a failure, under strict) the day it is fixed: then drop the mark. Through both entry points
(the Lambda handler and the ASGI app), against the fake provider or a tiny recording provider on loopback.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tests.integration.harness import HandlerClient

MANAGED = {"UPSTREAM_API_KEY": "sk-operator-openai", "ANTHROPIC_API_KEY": "sk-ant-operator"}
ANTHROPIC = {"anthropic-version": "2023-06-01"}
JSON_BODY = {"Content-Type": "application/json"}


def question() -> str:
    return f"What is in it? [{uuid.uuid4().hex[:8]}]"


# ----- R1: JSON escapes in field names slip past the managed-mode object check ------------------------------------
@pytest.mark.xfail(
    strict=True,
    reason="finding R1: managed mode's object check looks for field names in the raw bytes; a JSON escape "
    '(`"previous\\u005fresponse_id"`) parses to the same field but hides it, and the raw bytes go up as sent',
)
@pytest.mark.parametrize(
    ("path", "raw"),
    [
        (
            "/v1/responses",
            rb'{"model":"gpt-4.1-mini","input":"hi","previous\u005fresponse\u005fid":"resp_of_tenant_a"}',
        ),
        (
            "/v1/responses",
            rb'{"model":"gpt-4.1-mini","input":[{"role":"user","content":[{"type":"input_file",'
            rb'"file\u005fid":"file-of-tenant-a"}]}]}',
        ),
        (
            "/v1/responses",
            rb'{"model":"gpt-4.1-mini","input":"hi","tools":[{"type":"file_search",'
            rb'"vector\u005fstore_ids":["vs_of_tenant_a"]}]}',
        ),
        ("/v1/responses/input_tokens", rb'{"model":"gpt-4.1-mini","previous_respons\u0065_id":"resp_of_tenant_a"}'),
    ],
    ids=["cached-previous_response_id", "cached-file_id", "cached-vector_store_ids", "passed-on-input_tokens"],
)
def test_given_managed_mode_when_a_body_names_another_tenants_object_through_a_json_escape_then_403(
    configure, client: HandlerClient, provider, path: str, raw: bytes
):
    """finding R1 (variant of 22.1): Given managed mode (the operator's key), When tenant B names tenant A's stored
    response, file or vector store with a `\\u005f` escape in the field name, Then it is refused as the plain
    spelling is (403), and nothing goes up with the operator's key."""
    configure(CACHE_TIERS="memory", **MANAGED)
    assert json.loads(raw)  # valid JSON: the provider reads the escaped name as the real field

    answer = client.call("POST", path, raw=raw, headers=JSON_BODY, api_key="tenant-b")

    assert answer.status == 403, answer.body
    assert provider.stats()["total"] == 0


@pytest.mark.xfail(
    strict=True,
    reason="finding R1: a passed-on body with a duplicate key is read last-wins by the object check; a provider "
    "that keeps the first duplicate gets the object (the cached routes refuse duplicates with a 400)",
)
def test_given_managed_mode_when_a_passed_on_body_repeats_an_object_field_then_400_as_on_the_cached_routes(
    configure, client: HandlerClient, provider
):
    """finding R1: Given managed mode, When a passed-on JSON body names `previous_response_id` twice (an id, then
    null), Then it is refused (400) as the cached routes refuse duplicate keys, never passed on."""
    configure(CACHE_TIERS="memory", **MANAGED)
    raw = b'{"model":"gpt-4.1-mini","previous_response_id":"resp_of_tenant_a","previous_response_id":null}'

    answer = client.call("POST", "/v1/responses/input_tokens", raw=raw, headers=JSON_BODY, api_key="tenant-b")

    assert answer.status == 400, answer.body
    assert provider.stats()["total"] == 0


@pytest.mark.xfail(
    strict=True,
    reason="finding R1: a passed-on body sent with `Content-Encoding: gzip` goes up compressed and unread: the object "
    "check sees neither the field names nor JSON",
)
def test_given_managed_mode_when_a_passed_on_body_is_compressed_then_it_is_refused_or_checked(
    configure, client: HandlerClient, provider
):
    """finding R1: Given managed mode, When a passed-on body naming tenant A's stored response is gzip-compressed
    (`Content-Encoding: gzip` is relayed up), Then it is refused (or decompressed and refused as the plain body is),
    never passed on unread."""
    configure(CACHE_TIERS="memory", **MANAGED)
    raw = gzip.compress(b'{"model":"gpt-4.1-mini","previous_response_id":"resp_of_tenant_a"}')
    headers = {**JSON_BODY, "Content-Encoding": "gzip"}

    answer = client.call("POST", "/v1/responses/input_tokens", raw=raw, headers=headers, api_key="tenant-b")

    assert answer.status in (400, 403, 415), answer.body
    assert provider.stats()["total"] == 0


# ----- R2: the shared httpx client keeps a cookie jar across tenants ----------------------------------------------
class _CookieProvider(BaseHTTPRequestHandler):
    """Answers every call (a chat answer, or `{}`), sets a session cookie naming the caller's key, and records the
    `Cookie` header each call brought, as OpenAI's CDN (`__cf_bm`, `_cfuvid`) or a session-affine proxy would."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str | None]]

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        key = self.headers.get("authorization") or self.headers.get("x-api-key") or ""
        type(self).seen.append((key, self.headers.get("cookie")))
        body = json.dumps(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("set-cookie", f"session={key.split()[-1] if key else 'none'}; Path=/")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def cookie_provider() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    seen: list[tuple[str, str | None]] = []
    handler = type("CookieProvider", (_CookieProvider,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.xfail(
    strict=True,
    reason="finding R2: the one pooled httpx client per provider keeps a cookie jar, so a cookie the provider set "
    "on tenant A's call goes up with every later call of every tenant (beside their own key in passthrough mode)",
)
@pytest.mark.parametrize("route", ["cached", "passed-on"])
def test_given_the_provider_set_a_cookie_on_tenant_as_call_when_tenant_b_calls_then_no_cookie_goes_up(
    configure, client: HandlerClient, cookie_provider, route: str
):
    """finding R2 (variant of 22.7): Given passthrough mode and a provider that answers tenant A with `Set-Cookie`,
    When tenant B calls (a cached route or a passed-on path), Then B's call carries no cookie at all: the gateway
    relays neither the client's cookies nor the provider's."""
    url, seen = cookie_provider
    configure(CACHE_TIERS="memory", UPSTREAM_BASE_URL=f"{url}/v1")

    def call(key: str) -> int:
        if route == "cached":
            return client.chat(question(), api_key=key).status
        return client.call("GET", "/v1/models", api_key=key).status

    assert call("sk-tenant-a-key") == 200
    assert call("sk-tenant-b-key") == 200

    assert [key for key, _ in seen] == ["Bearer sk-tenant-a-key", "Bearer sk-tenant-b-key"]
    assert seen[1][1] is None, f"tenant B's call carried {seen[1][1]!r}"


# ----- R3: the upstream embedder sends a Messages caller's Anthropic key to the OpenAI-compatible upstream --------
@pytest.mark.xfail(
    strict=True,
    reason="finding R3: with SEMANTIC_EMBEDDER=upstream in passthrough mode, the semantic lookup of a /v1/messages "
    "request embeds its text at UPSTREAM_BASE_URL/embeddings with the caller's Anthropic key as a bearer token",
)
def test_given_upstream_embeddings_when_a_messages_caller_asks_then_its_anthropic_key_never_reaches_the_openai_upstream(
    configure, client: HandlerClient, provider
):
    """finding R3 (variant of 22.3): Given semantic matching with the provider's embeddings and the caller's own
    keys (passthrough), When an Anthropic SDK caller asks `/v1/messages` with its `sk-ant-` key, Then that key is
    sent to Anthropic only: no call to the OpenAI-compatible upstream carries it."""
    configure(
        CACHE_TIERS="memory",
        SEMANTIC_MODE="on",
        SEMANTIC_EMBEDDER="upstream",
        SEMANTIC_EMBEDDING_MODEL="text-embedding-3-small",
    )
    anthropic_key = "sk-ant-api03-tenant-a-secret-k3y9"
    body = {"model": "claude-x", "max_tokens": 16, "messages": [{"role": "user", "content": question()}]}

    answer = client.call("POST", "/v1/messages", body, headers={**ANTHROPIC, "x-api-key": anthropic_key}, api_key=None)

    assert answer.status == 200, answer.body
    assert provider.requests("POST /v1/messages")[-1]["headers"]["x-api-key"] == "***k3y9"
    embeddings = provider.requests("POST /v1/embeddings")
    assert all(r["headers"].get("authorization") != "***k3y9" for r in embeddings), embeddings[-1]["headers"]


# ----- R4: Responses' own stateful tools are cached ---------------------------------------------------------------
@pytest.mark.xfail(
    strict=True,
    reason="finding R4: a Responses call with a remote MCP tool or a code_interpreter container id is cached, while "
    "the Messages API's `mcp_servers` and `container` bypass for the same reasons",
)
@pytest.mark.parametrize(
    "tools",
    [
        [{"type": "mcp", "server_label": "crm", "server_url": "https://mcp.example/sse", "require_approval": "never"}],
        [{"type": "code_interpreter", "container": "cntr_of_this_tenant"}],
    ],
    ids=["remote-mcp", "code-interpreter-container"],
)
def test_given_a_responses_call_with_a_stateful_tool_when_asked_twice_then_both_reach_the_provider(
    configure, client: HandlerClient, provider, tools: list[dict[str, Any]]
):
    """finding R4 (variant of 22.5): Given passthrough mode, When a Responses call lets the provider call a remote
    MCP server (its side effects and answers belong to each call) or run code in an existing container (which keeps
    files and state between calls) and is asked twice, Then both calls bypass (`X-Cache-Bypass-Reason`), as the
    Messages API's `mcp_servers` and `container` do."""
    configure(CACHE_TIERS="memory")
    body = {"model": "gpt-4.1-mini", "input": question(), "tools": tools}

    first = client.call("POST", "/v1/responses", body)
    second = client.call("POST", "/v1/responses", body)

    assert (first.status, second.status) == (200, 200), second.body
    assert (first.cache, second.cache) == ("BYPASS", "BYPASS")
    assert second.headers.get("x-cache-bypass-reason")
    assert len(provider.requests("POST /v1/responses")) == 2


# ----- R5: the request deadline is checked only when a piece arrives ----------------------------------------------
class _TricklingProvider(BaseHTTPRequestHandler):
    """Streams `PIECES` events, `GAP` seconds apart: each gap is shorter than the read timeout, so only the request's
    deadline can end the answer."""

    protocol_version = "HTTP/1.1"
    PIECES = 4
    GAP = 2.5

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for index in range(self.PIECES):
                data = f'data: {{"piece": {index}}}\n\n'.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(self.GAP)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the gateway hung up: what the fix does


@pytest.fixture
def trickling_provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TricklingProvider)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.xfail(
    strict=True,
    reason="finding R5: the deadline is checked between pieces only, and the read timeout is cut to what was left "
    "when the call began: a provider that trickles holds the request past its deadline by up to one more gap",
)
def test_given_a_trickling_provider_when_the_deadline_passes_then_the_answer_ends_there(
    configure, client: HandlerClient, trickling_provider
):
    """finding R5 (variant of 22.6): Given REQUEST_DEADLINE_SECONDS=3 and a passed-on answer whose provider sends a
    piece every 2.5 s (never silent for a whole read timeout), When the deadline passes mid-gap, Then the answer
    ends at the deadline (here: well before the next piece, at 5.0 s), not when the next piece arrives.
    (The margin either side is over a second: the fixed gateway ends near 3 s, today's at 5.0 s.)"""
    configure(CACHE_TIERS="memory", UPSTREAM_BASE_URL=f"{trickling_provider}/v1", REQUEST_DEADLINE_SECONDS="3")

    started = time.monotonic()
    answer = client.call("GET", "/v1/slow/stream")
    elapsed = time.monotonic() - started

    # live door: the 200 and the pieces so far; Lambda door (buffered): the 504 of a cut answer
    assert (answer.status, client.live) in ((200, True), (504, False)), answer.body
    assert elapsed < 4.2, f"the answer ended {elapsed:.1f} s after it began, its deadline was 3 s"
