"""The seam (`api.fast_path`): every request becomes one GatewayResponse for either door. Client POSTs and passed-on
/v1/ paths are answered without the resolver, their errors in the route's own envelope; the Lambda door's proxy
answer is that response, a stream joined."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmcache import wiring
from llmcache.api import fast_path
from llmcache.api.proxy_events import LocalLambdaContext, proxy_response, request_to_event
from llmcache.handler import lambda_handler

KEY = "sk-dispatch-tenant"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "dispatch me"}]}
CLAUDE = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "dispatch me"}]}


def _event(method: str, path: str, body: Any = None, *, raw: bytes | None = None, auth: str | None = KEY) -> dict:
    headers = [("Content-Type", "application/json")]
    if auth is not None:
        headers.append(("Authorization", f"Bearer {auth}" if auth.startswith("sk-") else auth))
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    return request_to_event(method, path, headers, data, request_id="req-fixed", now=1_796_000_000.0)


def _error_of(response: Any) -> dict:
    return json.loads(response.body)["error"]


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        pytest.param(
            _event("POST", "/v1/chat/completions", raw=b"{not json"), 400, "invalid_request", id="invalid-json"
        ),
        pytest.param(_event("POST", "/v1/chat/completions", CHAT, auth=None), 401, "missing_api_key", id="no-key"),
        pytest.param(_event("POST", "/chat/completions", CHAT, auth="Basic abc"), 401, "invalid_api_key", id="scheme"),
        pytest.param(_event("POST", "/v1/completions", {"prompt": "x"}), 400, "invalid_request", id="no-model"),
        pytest.param(_event("POST", "/v1/embeddings", {"model": "m"}), 400, "invalid_request", id="no-input"),
        pytest.param(
            _event("POST", "/v1/chat/completions", raw=b"[" * 100_000 + b"]" * 100_000),
            400,
            "invalid_request",
            id="deep",
        ),
        pytest.param(_event("HEAD", "/v1/chat/completions"), 405, "method_not_allowed", id="wrong-method"),
        pytest.param(_event("POST", "/chat/completion", CHAT), 404, "not_found", id="unknown-route"),
    ],
)
def test_given_a_bad_request_when_dispatched_then_one_response_in_openais_envelope(configure, event, status, code):
    configure(CACHE_TIERS="memory")
    response = fast_path.dispatch(event, LocalLambdaContext())
    assert response.stream is None and response.status == status
    assert _error_of(response)["code"] == code


def test_given_a_bad_messages_request_when_dispatched_then_the_error_is_in_anthropics_envelope(configure):
    configure(CACHE_TIERS="memory")
    response = fast_path.dispatch(_event("POST", "/v1/messages", {"model": "claude-sonnet-4-5"}))
    assert response.status == 400
    assert json.loads(response.body)["type"] == "error"
    assert json.loads(response.body)["error"]["type"] == "invalid_request_error"


def test_given_a_body_over_the_limit_when_dispatched_then_413_in_the_routes_envelope(configure):
    configure(CACHE_TIERS="memory", MAX_REQUEST_BYTES="64")
    chat = fast_path.dispatch(_event("POST", "/v1/chat/completions", CHAT))
    messages = fast_path.dispatch(_event("POST", "/v1/messages", CLAUDE))
    assert chat.status == messages.status == 413
    assert _error_of(chat)["code"] == "request_too_large"
    assert json.loads(messages.body)["error"]["type"] == "request_too_large"


def test_given_a_cached_answer_when_dispatched_then_a_hit_with_the_stored_bytes(configure):
    configure(CACHE_TIERS="memory")
    event = _event("POST", "/v1/chat/completions", CHAT)
    miss = fast_path.dispatch(event)
    hit = fast_path.dispatch(event)
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert hit.body == miss.body and hit.content_type == "application/json"


def test_given_a_streamed_miss_when_dispatched_then_the_response_carries_the_stream_and_the_lambda_door_joins_it(
    configure,
):
    configure(CACHE_TIERS="memory")
    event = _event("POST", "/v1/chat/completions", {**CHAT, "stream": True})
    live = fast_path.dispatch(event)
    assert live.stream is not None and live.body == b""
    relayed = b"".join(fast_path.relay(live))
    assert relayed.endswith(b"data: [DONE]\n\n")

    buffered = lambda_handler(_event("POST", "/v1/chat/completions", {**CHAT, "stream": True, "n": 1}), None)
    assert buffered["statusCode"] == 200
    assert buffered["multiValueHeaders"]["Content-Type"] == ["text/event-stream"]
    assert buffered["body"].endswith("data: [DONE]\n\n")


def test_given_a_bug_below_when_dispatched_then_the_500_envelope(configure, monkeypatch):
    configure(CACHE_TIERS="memory")

    def broken() -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(wiring, "engine", broken)
    response = fast_path.dispatch(_event("POST", "/v1/chat/completions", CHAT))
    assert response.status == 500 and _error_of(response)["code"] == "internal_error"


def test_given_a_direct_dispatch_when_an_admin_route_follows_then_it_sees_its_own_request(configure):
    configure(CACHE_TIERS="memory")
    fast_path.dispatch(_event("POST", "/v1/chat/completions", CHAT))
    stats = fast_path.dispatch(_event("GET", "/cache/stats", auth="sk-not-admin"), LocalLambdaContext())
    health = fast_path.dispatch(_event("GET", "/health"), LocalLambdaContext())
    assert stats.status == 403 and health.status == 200
    assert json.loads(health.body) == {"status": "ok"} and health.content_type == "application/json"


def test_given_a_response_when_the_lambda_door_answers_then_its_proxy_output_is_that_response(configure):
    configure(CACHE_TIERS="memory")
    event = _event("POST", "/v1/chat/completions", CHAT)
    proxy = lambda_handler(event, None)
    again = fast_path.dispatch(event)
    assert proxy["statusCode"] == 200 and proxy["isBase64Encoded"] is False
    assert json.loads(proxy["body"]) == json.loads(again.body)
    assert proxy["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert proxy["multiValueHeaders"]["X-Cache"] == ["MISS"] and again.headers["X-Cache"] == "HIT"


def test_given_a_body_that_is_not_text_when_made_a_proxy_answer_then_it_is_base64() -> None:
    from llmcache.exchange import GatewayResponse

    proxy = proxy_response(GatewayResponse(200, b"\xff\x00", "audio/mpeg", {"X-Cache": "BYPASS"}))
    assert proxy["isBase64Encoded"] is True and proxy["body"] == "/wA="
    assert proxy["multiValueHeaders"] == {"X-Cache": ["BYPASS"], "Content-Type": ["audio/mpeg"]}
