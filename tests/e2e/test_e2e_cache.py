"""The local gateway, driven by the official OpenAI SDK: misses, hits, tenants, routes, streams."""

from __future__ import annotations

import uuid

import httpx
from tests.e2e.clients import GENEROUS_TIMEOUT, HEX64, chat_body, post, sdk
from tests.servers import FakeProvider, GatewayProcess, MotoHandle

CHAT = "POST /v1/chat/completions"


def test_given_a_new_prompt_when_the_sdk_asks_twice_then_miss_then_hit_with_equal_content_and_usage(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    client = sdk(gw)
    calls_before = fake_provider.count(CHAT)
    messages = [{"role": "user", "content": prompt}]

    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    second = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]

    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert HEX64.match(first.headers["x-cache-key"])
    assert second.headers["x-cache-key"] == first.headers["x-cache-key"]
    assert "age" not in first.headers and "x-cache-tier" not in first.headers
    assert int(second.headers["age"]) >= 0
    assert second.headers["x-cache-match"] == "exact"
    assert second.headers["x-cache-tier"] in {"memory", "redis", "dynamodb", "s3"}
    miss, hit = first.parse(), second.parse()
    assert hit.choices[0].message.content == miss.choices[0].message.content
    assert miss.choices[0].message.content == f"offline answer to: {prompt}"
    assert hit.usage == miss.usage
    assert hit.id == miss.id  # the stored body itself, not a second upstream answer
    assert fake_provider.count(CHAT) == calls_before + 1


def test_given_an_answer_cached_for_one_key_when_another_key_asks_then_it_misses(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    tenant_a, tenant_b = sdk(gw, "sk-tenant-a"), sdk(gw, "sk-tenant-b")
    messages = [{"role": "user", "content": prompt}]
    tenant_a.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    again_a = tenant_a.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]

    other = tenant_b.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]

    assert again_a.headers["x-cache"] == "HIT"
    assert other.headers["x-cache"] == "MISS"
    assert other.headers["x-cache-key"] != again_a.headers["x-cache-key"]
    assert other.parse().id != again_a.parse().id
    # Passthrough mode: each tenant's own key went upstream, redacted in the provider's log.
    assert fake_provider.requests(CHAT)[-1]["headers"]["authorization"] == "***nt-b"


def test_given_the_completions_route_when_asked_twice_then_miss_then_hit(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    client = sdk(gw)
    before = fake_provider.count("POST /v1/completions")

    first = client.completions.with_raw_response.create(model="gpt-3.5-turbo-instruct", prompt=prompt, max_tokens=50)
    second = client.completions.with_raw_response.create(model="gpt-3.5-turbo-instruct", prompt=prompt, max_tokens=50)

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.parse().choices[0].text == first.parse().choices[0].text
    assert second.parse().usage == first.parse().usage
    assert fake_provider.count("POST /v1/completions") == before + 1


def test_given_a_plain_answer_cached_when_the_sdk_streams_the_same_request_then_it_replays_the_hit(
    gw: GatewayProcess, prompt: str
) -> None:
    client = sdk(gw)
    messages = [{"role": "user", "content": prompt}]
    plain = client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]

    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=messages,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())

    assert raw.headers["x-cache"] == "HIT"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    usage = [c.usage for c in chunks if c.usage]
    assert text == plain.choices[0].message.content
    assert finish == ["stop"]
    assert usage and usage[-1].total_tokens == plain.usage.total_tokens  # type: ignore[union-attr]


def test_given_a_streamed_miss_when_asked_again_plainly_then_the_assembled_answer_is_a_hit(
    gw: GatewayProcess, prompt: str
) -> None:
    client = sdk(gw)
    messages = [{"role": "user", "content": prompt}]
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages, stream=True)  # type: ignore[arg-type]
    streamed = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)

    again = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]

    assert raw.headers["x-cache"] == "MISS"
    assert again.headers["x-cache"] == "HIT"
    assert again.parse().choices[0].message.content == streamed == f"offline answer to: {prompt}"


def test_given_a_batch_partly_cached_when_embedded_then_only_the_missing_inputs_go_upstream(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    client = sdk(gw)
    first_inputs, second_inputs = [f"{prompt} one", f"{prompt} two"], [f"{prompt} two", f"{prompt} three"]
    first = client.embeddings.create(model="text-embedding-3-small", input=first_inputs, encoding_format="float")

    second = client.embeddings.create(model="text-embedding-3-small", input=second_inputs, encoding_format="float")

    assert fake_provider.requests("POST /v1/embeddings")[-1]["body"]["input"] == [f"{prompt} three"]
    assert [d.index for d in second.data] == [0, 1]
    assert second.data[0].embedding == first.data[1].embedding
    assert second.usage.prompt_tokens > 0


def test_given_dynamodb_is_down_when_a_new_prompt_arrives_then_the_answer_still_comes_from_upstream(
    gw: GatewayProcess, moto_server: MotoHandle, prompt: str
) -> None:
    moto_server.stop()
    try:
        response = post(gw, "/v1/chat/completions", chat_body(prompt))
    finally:
        moto_server.start()

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == f"offline answer to: {prompt}"
    assert response.headers["x-cache"] in {"MISS", "BYPASS"}


def test_given_no_upstream_configured_when_make_run_starts_then_it_announces_the_offline_provider_and_caches(
    make_run_gateway: GatewayProcess,
) -> None:
    question = f"Hello from make run [{uuid.uuid4().hex[:8]}]"
    client = sdk(make_run_gateway, "sk-local-demo")

    first = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": question}],
    )
    second = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": question}],
    )

    log = make_run_gateway.log_text()
    assert "offline provider: answers are canned, not from a model" in log
    assert f"{make_run_gateway.url}/v1/chat/completions" in log  # the copy-paste curl
    assert "moto in-process" in log and "memory, dynamodb" in log
    export = next(line.strip() for line in log.splitlines() if line.strip().startswith("export LLMCACHE_URL="))
    assert export.startswith(f"export LLMCACHE_URL={make_run_gateway.url} ")  # the CLI pointed at this port
    admin_key = export.split("LLMCACHE_ADMIN_KEY=")[1]
    assert admin_key.startswith("sk-admin-local-") and log.count(admin_key) == 1  # printed once, never logged
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.parse().choices[0].message.content == f"offline answer to: {question}"
    health = httpx.get(f"{make_run_gateway.url}/health", timeout=GENEROUS_TIMEOUT)
    assert health.status_code == 200
