"""Passed-on paths cannot leave the provider's base path or change the request, and only allowlisted headers cross
the gateway either way (issue #22, findings 22.2, 22.7 and 22.8). Through both entry points; the ASGI door is also
called with raw targets (a literal `..`, which an HTTP client library would normalise away)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from tests.integration.harness import Answer

ANTHROPIC = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-tenant-b"}
ESCAPES = [
    "/v1/%2e%2e/x",
    "/v1/files/..%2f..%2fx",
    "/v1/messages/%2e%2e/files",
    "/v1/models%3Fafter=x",
    "/v1/models%23x",
    "/v1/models%00",
    "/v1/models%0d%0aX-Injected:%201",
    "/v1/files/%252e%252e/x",
]


def asgi_raw(method: str, target: bytes, headers: dict[str, str]) -> Answer:
    """One request through the ASGI app with `target` exactly as a client put it on the request line."""
    from llmcache.asgi import app

    path, _, query = target.partition(b"?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path.decode("latin-1"),
        "raw_path": path,
        "query_string": query,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("gateway.test", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return Answer(start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body)


@pytest.mark.parametrize("target", ESCAPES)
def test_given_a_path_that_would_leave_the_base_or_change_the_request_when_passed_on_then_400_and_never_sent(
    configure, client, provider, log_lines, target: str
):
    """finding 22.2 (and 22.8: `%00` and `%0d%0a` are a 400 in the envelope, never a 500 with a traceback)."""
    configure(CACHE_TIERS="memory")
    headers = ANTHROPIC if "/messages/" in target else {}

    answer = client.call("GET", target, headers=headers, api_key=None if headers else "default")

    assert answer.status == 400, answer.body
    envelope = answer.json()
    message = envelope["error"]["message"]
    assert "path" in message and (envelope.get("type") == "error") == bool(headers)  # the API's own envelope
    assert provider.stats()["total"] == 0
    assert "Traceback" not in log_lines.getvalue() and '"level":"ERROR"' not in log_lines.getvalue()


@pytest.mark.parametrize("target", [b"/v1/../x", b"/v1/messages/../files", b"/v1/files/a%2Fb", b"/v1/./models"])
def test_given_a_raw_target_with_dot_segments_or_an_encoded_slash_when_it_reaches_the_asgi_door_then_400(
    configure, provider, target: bytes
):
    """finding 22.2: what `make run` receives on the request line, before any decoding of ours."""
    configure(CACHE_TIERS="memory", UPSTREAM_API_KEY="sk-operator-openai")

    answer = asgi_raw("GET", target, {"authorization": "Bearer sk-tenant-b", **ANTHROPIC})

    assert answer.status == 400 and answer.json()["error"]["type"] == "invalid_request_error", answer.body
    assert provider.stats()["total"] == 0


def test_given_a_websocket_upgrade_when_it_reaches_the_asgi_door_then_it_is_refused_cleanly(configure):
    """finding 22.8: an upgrade is a 404 with an envelope (or a closed handshake), never a bare 500."""
    from llmcache.asgi import app

    configure(CACHE_TIERS="memory")
    sent: list[dict[str, Any]] = []
    messages = iter([{"type": "websocket.connect"}])

    async def receive() -> dict[str, Any]:
        return next(messages, {"type": "websocket.disconnect", "code": 1000})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for extensions in ({"websocket.http.response": {}}, {}):
        sent.clear()
        messages = iter([{"type": "websocket.connect"}])
        scope = {"type": "websocket", "path": "/v1/realtime", "raw_path": b"/v1/realtime", "headers": []}
        anyio.run(app, {**scope, "extensions": extensions}, receive, send)
        if extensions:
            assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 404
            assert json.loads(sent[1]["body"])["error"]["code"] == "websocket_not_supported"
        else:
            assert sent == [{"type": "websocket.close", "code": 1008}]


def test_given_a_clients_address_cookies_and_organization_when_passed_on_in_managed_mode_then_none_goes_up(
    configure, client, provider
):
    """finding 22.7: client Cookie, Forwarded, X-Real-IP, X-Forwarded-*, and (managed) OpenAI-Organization/Project."""
    configure(CACHE_TIERS="memory", UPSTREAM_API_KEY="sk-operator-openai")
    headers = {
        "Cookie": "session=secret",
        "Forwarded": "for=203.0.113.9",
        "X-Real-IP": "203.0.113.9",
        "X-Forwarded-For": "203.0.113.9",
        "OpenAI-Organization": "org-of-the-operator",
        "OpenAI-Project": "proj-of-the-operator",
        "Connection": "keep-alive, OpenAI-Beta",
        "OpenAI-Beta": "assistants=v2",
    }

    answer = client.call("GET", "/v1/models", headers=headers)

    assert answer.status == 200
    sent = provider.requests("GET /v1/models")[-1]["headers"]
    forbidden = {"cookie", "forwarded", "x-real-ip", "x-forwarded-for", "openai-organization", "openai-project"}
    assert not forbidden & set(sent) and "openai-beta" not in sent  # the last one: named by Connection
    assert sent["authorization"] == "***enai"


def test_given_managed_mode_when_a_cached_route_is_asked_with_an_organization_then_it_stays_here(
    configure, client, provider
):
    """finding 22.7: beside the operator's key a caller does not choose the operator's organization or project."""
    configure(CACHE_TIERS="memory", UPSTREAM_API_KEY="sk-operator-openai")

    answer = client.chat("which organization?", headers={"OpenAI-Organization": "org-other", "OpenAI-Project": "p"})

    assert answer.status == 200
    sent = provider.requests("POST /v1/chat/completions")[-1]["headers"]
    assert "openai-organization" not in sent and "openai-project" not in sent


def test_given_a_providers_cookies_limits_and_proxy_headers_when_relayed_then_none_reaches_the_client(
    configure, client, provider
):
    """finding 22.7: Set-Cookie, CORS, Location, openai-organization, x-ratelimit-*, a provider x-cache: never."""
    configure(CACHE_TIERS="memory")
    provider.set_fault("proxy-headers")

    answer = client.call("GET", "/v1/models")

    assert answer.status == 200 and answer.cache == "BYPASS"
    never = {"set-cookie", "access-control-allow-origin", "location", "openai-organization", "openai-version"}
    assert not never & set(answer.headers)
    assert not [name for name in answer.headers if name.startswith("x-ratelimit-")]
    assert "x-request-id" not in answer.headers  # the provider's Connection header named it: hop-by-hop


def test_given_anthropics_answer_when_relayed_then_its_organization_and_rate_limits_stay_here(configure, client):
    """finding 22.7"""
    configure(CACHE_TIERS="memory")

    answer = client.call("GET", "/v1/models", headers=ANTHROPIC, api_key=None)

    assert answer.status == 200 and answer.headers["request-id"] == "req_fake01"
    assert "anthropic-organization-id" not in answer.headers
    assert not [name for name in answer.headers if "ratelimit" in name]
