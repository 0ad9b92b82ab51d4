"""Issue 7 and friends through the real local gateway: async and streaming SDK clients, LiteLLM's
client, raw SSE, coalesced herds, semantic headers and every admin route over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from openai import AsyncOpenAI
from tests.conftest import ADMIN_KEY
from tests.e2e.clients import GENEROUS_TIMEOUT, chat_body, post, sdk, warm
from tests.servers import FakeProvider, GatewayProcess

CHAT = "POST /v1/chat/completions"


def _stream_text(client, prompt: str, include_usage: bool) -> tuple[str, object | None]:
    kwargs = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True, **kwargs
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    return text, usage


@pytest.mark.parametrize("include_usage", [True, False])
def test_given_the_sdk_streams_twice_when_the_second_is_a_hit_then_the_replay_equals_the_relay(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str, include_usage: bool
) -> None:
    client = sdk(gw)
    before = fake_provider.count(CHAT)
    first_text, first_usage = _stream_text(client, prompt, include_usage)
    second_text, second_usage = _stream_text(client, prompt, include_usage)
    assert first_text == second_text == f"offline answer to: {prompt}"
    assert fake_provider.count(CHAT) == before + 1
    if include_usage:
        assert first_usage is not None and second_usage is not None
        assert second_usage.total_tokens == first_usage.total_tokens > 0
    else:
        assert first_usage is None and second_usage is None


def test_given_the_async_sdk_when_asked_twice_then_miss_then_hit(gw: GatewayProcess, prompt: str) -> None:
    async def run() -> tuple[str, str, str, str]:
        client = AsyncOpenAI(base_url=gw.api_base, api_key="sk-async", max_retries=0, timeout=GENEROUS_TIMEOUT)
        messages = [{"role": "user", "content": prompt}]
        first = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
        second = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
        await client.close()
        return (first.headers["x-cache"], second.headers["x-cache"], first.parse().id, second.parse().id)

    miss, hit, first_id, second_id = asyncio.run(run())
    assert (miss, hit) == ("MISS", "HIT")
    assert first_id == second_id


def test_given_raw_sse_when_a_hit_is_streamed_then_every_event_is_a_chunk_and_it_ends_with_done(
    gw: GatewayProcess, prompt: str
) -> None:
    post(gw, "/v1/chat/completions", chat_body(prompt))
    response = post(gw, "/v1/chat/completions", chat_body(prompt, stream=True))
    assert response.headers["x-cache"] == "HIT"
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == f"offline answer to: {prompt}"


def test_given_litellms_client_when_it_asks_twice_then_the_second_answer_is_the_cached_one(
    gw: GatewayProcess, prompt: str
) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    kwargs = {
        "model": "openai/gpt-4o-mini",
        "api_base": gw.api_base,
        "api_key": "sk-litellm",
        "messages": [{"role": "user", "content": prompt}],
        "num_retries": 0,
    }
    first = litellm.completion(**kwargs)
    second = litellm.completion(**kwargs)
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.id == first.id  # the stored body: the offline provider gives every new answer a new id


def test_given_a_herd_of_identical_misses_when_they_arrive_together_then_one_provider_call_serves_all(
    gw: GatewayProcess, fake_provider: FakeProvider
) -> None:
    prompt = f"herd {uuid.uuid4().hex}"
    body = chat_body(prompt, model="fake-slow-600")
    before = fake_provider.count(CHAT)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post(gw, "/v1/chat/completions", body), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert len({a.json()["id"] for a in answers}) == 1
    assert fake_provider.count(CHAT) == before + 1


def test_given_every_control_when_sent_over_http_then_the_gateway_honours_it(gw: GatewayProcess, prompt: str) -> None:
    body = chat_body(prompt)
    assert post(gw, "/v1/chat/completions", body, headers={"Cache-Control": "no-store"}).headers["x-cache"] == "MISS"
    assert post(gw, "/v1/chat/completions", body).headers["x-cache"] == "MISS"
    assert post(gw, "/v1/chat/completions", body).headers["x-cache"] == "HIT"
    assert post(gw, "/v1/chat/completions", body, headers={"Cache-Control": "no-cache"}).headers["x-cache"] == "BYPASS"
    assert post(gw, "/v1/chat/completions", body, headers={"X-Cache-Namespace": "e2e"}).headers["x-cache"] == "MISS"
    custom = {"X-Cache-Custom-Key": f"k-{prompt}"}
    post(gw, "/v1/chat/completions", body, headers=custom)
    assert post(gw, "/v1/chat/completions", chat_body("other words"), headers=custom).headers["x-cache"] == "HIT"
    bad = post(gw, "/v1/chat/completions", {**body, "cache": {"ttl": "soon"}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "cache.ttl"
    assert post(gw, "/v1/chat/completions", body, headers={"Cache-Control": "max-age=0"}).headers["x-cache"] == "MISS"
    ttl_body = chat_body(f"{prompt} with a ttl")
    stored = post(gw, "/v1/chat/completions", ttl_body, headers={"X-Cache-TTL": "60"})
    meta = httpx.get(
        f"{gw.url}/cache/entries/{stored.headers['x-cache-key']}",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=GENEROUS_TIMEOUT,
    ).json()
    assert meta["expires"] - meta["created"] == 60


def _admin(gw: GatewayProcess, method: str, path: str, body: object = None, key: str | None = ADMIN_KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, gw.url + path, json=body, headers=headers, timeout=GENEROUS_TIMEOUT)


def test_given_the_admin_api_over_http_when_used_then_each_route_answers_per_contract(
    gw: GatewayProcess, prompt: str
) -> None:
    key = post(gw, "/v1/chat/completions", chat_body(prompt)).headers["x-cache-key"]
    assert _admin(gw, "GET", f"/cache/entries/{key}", key=None).status_code == 401
    assert _admin(gw, "GET", f"/cache/entries/{key}", key="sk-tenant-a").status_code == 403
    meta = _admin(gw, "GET", f"/cache/entries/{key}").json()
    assert meta["route"] == "chat/completions" and meta["model"] == "gpt-4o-mini"
    assert _admin(gw, "PATCH", f"/cache/entries/{key}", {"ttl": 60}).json()["ttl_remaining"] <= 60
    stats = _admin(gw, "GET", "/cache/stats").json()
    assert stats["source"] == "process" and stats["misses"] >= 1
    assert _admin(gw, "DELETE", f"/cache/entries/{key}").status_code == 204
    assert _admin(gw, "DELETE", f"/cache/entries/{key}").status_code == 404
    assert _admin(gw, "GET", "/cache/entries/" + "f" * 64).status_code == 404
    post(gw, "/v1/chat/completions", chat_body(prompt, model="gpt-4o"), headers={"X-Cache-Namespace": "flushme"})
    flushed = _admin(gw, "POST", "/cache/flush", {"namespace": "flushme"})
    assert flushed.status_code == 200
    again = post(
        gw, "/v1/chat/completions", chat_body(prompt, model="gpt-4o"), headers={"X-Cache-Namespace": "flushme"}
    )
    assert again.headers["x-cache"] == "MISS"


@pytest.mark.semantic
@pytest.mark.parametrize("index", ["qdrant", pytest.param("valkey", marks=pytest.mark.valkey)])
def test_given_semantic_mode_when_the_sdk_asks_a_paraphrase_then_the_headers_say_semantic(
    gateway: Callable[..., GatewayProcess], index: str, request: pytest.FixtureRequest
) -> None:
    env = {"SEMANTIC_MODE": "on", "SEMANTIC_EMBEDDER": "local", "SEMANTIC_INDEX": index}
    if index == "valkey":
        env["SEMANTIC_REDIS_URL"] = request.getfixturevalue("valkey_search_url")
    # The first request loads the model in the gateway: warmed here, so no call under test waits on it.
    semantic_gw = warm(gateway(env=env, name=f"gateway-semantic-{index}"))
    # A key of its own makes a partition of its own (entries are scoped to the credential): the texts stay
    # fixed, so what the pair model reads is the same on every run (a random tag in them changed its score).
    client = sdk(semantic_gw, f"sk-semantic-{uuid.uuid4().hex[:8]}")
    first = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What is the capital city of France?"}]
    )
    second = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What's the capital city of France?"}]
    )
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert second.headers["x-cache-match"] == "semantic"
    assert 0.9 <= float(second.headers["x-cache-similarity"]) <= 1
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
