"""The Lambda handler answers client POSTs without the generic resolver: the answers must be the resolver's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmcache import wiring
from llmcache.api import fast_path as client_dispatch
from llmcache.api import routes as api
from llmcache.proxy_events import LocalLambdaContext, request_to_event

KEY = "sk-dispatch-tenant"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "dispatch me"}]}


def _event(method: str, path: str, body: Any = None, *, raw: bytes | None = None, auth: str | None = KEY) -> dict:
    headers = [("Content-Type", "application/json")]
    if auth is not None:
        headers.append(("Authorization", f"Bearer {auth}" if auth.startswith("sk-") else auth))
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    return request_to_event(method, path, headers, data, request_id="req-fixed", now=1_796_000_000.0)


# Differ between any two calls: Age may tick in between; the provider numbers each of its answers.
PER_CALL_HEADERS = ("Age", "x-request-id", "openai-processing-ms")


def _both(event: dict) -> tuple[dict, dict]:
    """The resolver's answer, then the direct dispatch's, for the same event."""
    via_resolver = api.app.resolve(event, LocalLambdaContext())
    direct = client_dispatch.answer(event, LocalLambdaContext())
    for answer in (via_resolver, direct):
        for name in PER_CALL_HEADERS:
            answer.get("multiValueHeaders", {}).pop(name, None)
    return via_resolver, direct


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_event("POST", "/v1/chat/completions", raw=b"{not json"), id="invalid-json"),
        pytest.param(_event("POST", "/v1/chat/completions", CHAT, auth=None), id="no-credential"),
        pytest.param(_event("POST", "/chat/completions", CHAT, auth="Basic abc"), id="wrong-scheme"),
        pytest.param(_event("POST", "/v1/completions", {"prompt": "x"}), id="no-model"),
        pytest.param(_event("POST", "/v1/embeddings", {"model": "m"}), id="no-input"),
        pytest.param(_event("POST", "/v1/chat/completions", raw=b"[" * 100_000 + b"]" * 100_000), id="deep"),
        pytest.param(_event("POST", "/v1/chat/completions", {**CHAT, "model": "fake-error-400"}), id="provider-400"),
        pytest.param(_event("GET", "/v1/chat/completions"), id="wrong-method"),
        pytest.param(_event("POST", "/v1/chat/completion", CHAT), id="unknown-route"),
        pytest.param(_event("GET", "/health"), id="health"),
    ],
)
def test_given_a_request_when_dispatched_directly_then_the_answer_is_the_resolvers(configure, event):
    configure(CACHE_TIERS="memory")
    via_resolver, direct = _both(event)
    assert direct == via_resolver
    assert direct["statusCode"] in (200, 400, 401, 404, 405)


def test_given_a_cached_answer_when_dispatched_directly_then_the_hit_is_the_resolvers(configure):
    configure(CACHE_TIERS="memory")
    event = _event("POST", "/v1/chat/completions", CHAT)
    assert client_dispatch.answer(event, LocalLambdaContext())["multiValueHeaders"]["X-Cache"] == ["MISS"]
    via_resolver, direct = _both(event)
    assert direct == via_resolver
    assert direct["multiValueHeaders"]["X-Cache"] == ["HIT"]


def test_given_a_body_over_the_limit_when_dispatched_directly_then_413_as_the_resolver_says(configure):
    configure(CACHE_TIERS="memory", MAX_REQUEST_BYTES="64")
    via_resolver, direct = _both(_event("POST", "/v1/chat/completions", CHAT))
    assert direct == via_resolver and direct["statusCode"] == 413


def test_given_a_bug_below_when_dispatched_directly_then_the_same_500_envelope(configure, monkeypatch):
    configure(CACHE_TIERS="memory")

    def broken() -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(wiring, "engine", broken)
    via_resolver, direct = _both(_event("POST", "/v1/chat/completions", CHAT))
    assert direct == via_resolver and direct["statusCode"] == 500
    assert json.loads(direct["body"])["error"]["code"] == "internal_error"


def test_given_a_direct_dispatch_when_an_admin_route_follows_then_it_sees_its_own_request(configure):
    configure(CACHE_TIERS="memory")
    client_dispatch.answer(_event("POST", "/v1/chat/completions", CHAT), LocalLambdaContext())
    stats = api.app.resolve(_event("GET", "/cache/stats", auth="sk-not-admin"), LocalLambdaContext())
    health = client_dispatch.answer(_event("GET", "/health"), LocalLambdaContext())
    assert stats["statusCode"] == 403 and health["statusCode"] == 200
