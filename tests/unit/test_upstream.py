"""The provider over httpx (upstream): what is sent, what comes back, and errors mapped to the gateway's own."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from llmcache.errors import UpstreamTimeout, UpstreamUnavailable
from llmcache.upstream import Upstream, current_credential, upstream_embedder


def upstream_answering(handler, **options) -> Upstream:
    return Upstream(
        "https://provider.test/v1",
        connect_timeout=1,
        read_timeout=5,
        transport=httpx.MockTransport(handler),
        **options,
    )


def test_given_a_client_request_when_posted_then_only_the_credential_and_the_forwarded_headers_go_on() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True}, headers={"x-request-id": "r1", "set-cookie": "a=b"})

    upstream = upstream_answering(handler, forwarded_headers=("openai-organization", "accept-language"))
    answer = upstream.post(
        "chat/completions",
        b"{}",
        {"openai-organization": "org-1", "x-cache-ttl": "60", "cookie": "c=d"},
        "sk-caller",
    )
    sent = seen[0].headers
    assert str(seen[0].url) == "https://provider.test/v1/chat/completions"
    assert sent["authorization"] == "Bearer sk-caller" and sent["openai-organization"] == "org-1"
    assert "x-cache-ttl" not in sent and "cookie" not in sent
    assert answer.status == 200 and json.loads(answer.body) == {"ok": True}
    assert answer.headers["x-request-id"] == "r1" and "set-cookie" not in answer.headers


def test_given_a_managed_key_when_posted_then_it_replaces_the_callers() -> None:
    seen: list[httpx.Request] = []
    upstream = upstream_answering(
        lambda request: seen.append(request) or httpx.Response(200, json={}),
        managed_key=lambda: "sk-managed",
    )
    upstream.post("embeddings", b"{}", {}, "sk-caller")
    assert seen[0].headers["authorization"] == "Bearer sk-managed"


def test_given_an_unreachable_provider_when_posted_then_502_upstream_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(UpstreamUnavailable):
        upstream_answering(handler).post("chat/completions", b"{}", {}, None)


def test_given_a_deadline_already_passed_when_posted_then_504_and_the_provider_is_not_asked() -> None:
    seen: list[httpx.Request] = []
    upstream = upstream_answering(lambda request: seen.append(request) or httpx.Response(200, json={}))
    with pytest.raises(UpstreamTimeout):
        upstream.post("chat/completions", b"{}", {}, None, deadline=time.monotonic() - 1)
    assert seen == []


def test_given_the_semantic_embedder_when_it_embeds_then_the_callers_credential_pays_and_the_order_is_kept() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        data = [{"index": 1, "embedding": [2, 2]}, {"index": 0, "embedding": [1, 1]}]
        return httpx.Response(200, json={"data": data})

    embed = upstream_embedder(upstream_answering(handler), timeout=5)
    token = current_credential.set("sk-caller")
    try:
        assert embed(["a", "b"], "text-embedding-3-small") == [[1.0, 1.0], [2.0, 2.0]]
    finally:
        current_credential.reset(token)
    assert seen[0].headers["authorization"] == "Bearer sk-caller"
    assert json.loads(seen[0].content)["encoding_format"] == "float"


def test_given_the_provider_sets_a_cookie_when_the_next_caller_calls_then_no_cookie_goes_up() -> None:
    """review finding R2: Given one pooled client for every tenant and a provider (or its CDN) that sets a cookie on
    tenant A's call, When tenant B calls (a cached route's post or a passed-on relay), Then B's call carries none."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={}, headers={"set-cookie": "__cf_bm=tenant-a; Path=/; Domain=provider.test"})

    upstream = upstream_answering(handler)
    upstream.post("chat/completions", b"{}", {}, "sk-tenant-a")
    with upstream.relay("GET", "models", "", b"", {}, "sk-tenant-b") as (_, chunks):
        b"".join(chunks)
    upstream.post("chat/completions", b"{}", {}, "sk-tenant-c")

    assert [request.headers.get("cookie") for request in seen] == [None, None, None]
    assert len(upstream.client.cookies.jar) == 0
