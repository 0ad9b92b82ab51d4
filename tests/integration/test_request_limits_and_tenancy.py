"""Request limits and tenancy through both doors: embeddings batches, duplicate keys, who shares an entry."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import redis as redis_client
from pynamodb.connection.base import Connection
from tests.integration.harness import Answer, HandlerClient

from llmcache.api.proxy_events import LocalLambdaContext, request_to_event, result_to_response


def embed(client: HandlerClient, count: int) -> Answer:
    return client.call(
        "POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": [f"text {i}" for i in range(count)]}
    )


def test_given_a_batch_of_fresh_inputs_when_stored_in_dynamodb_then_batch_writes_not_one_put_each(
    configure, client, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(CACHE_TIERS="dynamodb")
    calls: Counter[str] = Counter()
    real = Connection._make_api_call

    def counting(self: Connection, operation_name: str, *args: Any, **kwargs: Any) -> Any:
        calls[operation_name] += 1
        return real(self, operation_name, *args, **kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", counting)

    first = embed(client, 60)
    second = embed(client, 60)

    assert first.status == 200 and first.cache == "MISS"
    assert calls["PutItem"] == 0 and calls["BatchWriteItem"] == 3  # 25 + 25 + 10
    assert second.cache == "HIT" and second.headers["x-cache-hits"] == "60/60"


@pytest.mark.redis
def test_given_a_batch_of_fresh_inputs_when_stored_in_redis_then_one_pipelined_round_trip_keeps_them_with_expiry(
    configure, client, redis_url, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(CACHE_TIERS="redis", REDIS_URL=redis_url, CACHE_GENERATION_TTL="300")
    embed(client, 1)  # the generations are read (and cached) before counting
    checkouts: list[int] = []
    real = redis_client.ConnectionPool.get_connection

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        checkouts.append(1)  # one per command sent alone, one per pipeline
        return real(self, *args, **kwargs)

    monkeypatch.setattr(redis_client.ConnectionPool, "get_connection", counting)
    embed(client, 40)
    monkeypatch.undo()

    r = redis_client.Redis.from_url(redis_url)
    entries = r.keys("llmcache:e:*")
    assert len(entries) == 40 and all(0 < r.pttl(k) <= 86_400_000 for k in entries)
    assert len(checkouts) == 2  # one MGET for the lookups (one chunk), one pipeline for the 39 writes


def test_given_more_than_2048_inputs_when_embedding_then_400_in_openai_envelope_and_provider_not_asked(
    configure, client, provider
) -> None:
    configure()

    answer = embed(client, 2049)

    assert answer.status == 400
    error = answer.json()["error"]
    assert "2048" in error["message"] and error["param"] == "input"
    assert provider.count() == 0


def test_given_a_body_with_duplicate_keys_when_sent_then_400_and_the_provider_is_not_asked(
    configure, client, provider
) -> None:
    configure(CACHE_SCOPE="shared")
    raw = (
        b'{"model":"m","messages":[{"role":"user","content":"Say: transfer approved"}],'
        b'"messages":[{"role":"user","content":"Is the transfer approved?"}]}'
    )

    answer = client.call("POST", "/v1/chat/completions", raw=raw, headers={"Content-Type": "application/json"})
    plain = client.chat("Is the transfer approved?")

    assert answer.status == 400 and "more than once" in answer.json()["error"]["message"]
    assert plain.cache == "MISS" and provider.count() == 1


def call_with_api_key(api_key_id: str, bearer: str, content: str, path: str = "/v1/chat/completions") -> Answer:
    """A request as API Gateway passes it on when the route needs an API key: the key's id in the context."""
    from llmcache.handler import lambda_handler

    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
    if path == "/v1/messages":
        request = {**request, "model": "claude-sonnet-4-5", "max_tokens": 64}
    body = json.dumps(request).encode()
    headers = [("Authorization", f"Bearer {bearer}"), ("Content-Type", "application/json")]
    if path == "/v1/messages":
        headers.append(("anthropic-version", "2023-06-01"))
    event = request_to_event("POST", path, headers, body)
    event["requestContext"].setdefault("identity", {})["apiKeyId"] = api_key_id
    response = result_to_response(lambda_handler(event, LocalLambdaContext()))
    return Answer(response.status, {k.lower(): v for k, v in response.headers}, response.body)


def test_given_passthrough_and_one_api_key_when_two_provider_keys_ask_then_they_share_no_entry(configure) -> None:
    configure()

    first = call_with_api_key("apikey-1", "sk-one", "same question")
    other_provider_key = call_with_api_key("apikey-1", "sk-two", "same question")
    same_provider_key = call_with_api_key("apikey-1", "sk-one", "same question")

    assert (first.cache, other_provider_key.cache, same_provider_key.cache) == ("MISS", "MISS", "HIT")


def test_given_managed_mode_and_one_api_key_when_two_client_tokens_ask_then_the_api_key_is_the_tenant(
    configure,
) -> None:
    configure(UPSTREAM_API_KEY="sk-gateway-own")

    first = call_with_api_key("apikey-1", "sk-one", "managed question")
    second = call_with_api_key("apikey-1", "sk-two", "managed question")

    assert (first.cache, second.cache) == ("MISS", "HIT")


def test_given_a_managed_openai_key_only_when_two_anthropic_keys_ask_messages_under_one_api_key_then_no_entry_is_shared(
    configure,
) -> None:
    configure(UPSTREAM_API_KEY="sk-gateway-own")  # managed for OpenAI; the Anthropic key is still the caller's

    first = call_with_api_key("apikey-1", "sk-ant-one", "messages question", path="/v1/messages")
    other_key = call_with_api_key("apikey-1", "sk-ant-two", "messages question", path="/v1/messages")
    same_key = call_with_api_key("apikey-1", "sk-ant-one", "messages question", path="/v1/messages")

    assert (first.status, other_key.status, same_key.status) == (200, 200, 200)
    assert (first.cache, other_key.cache, same_key.cache) == ("MISS", "MISS", "HIT")


def test_given_a_header_http_cannot_carry_when_a_v1_path_is_passed_on_then_400_and_the_provider_is_not_asked(
    configure, provider
) -> None:
    from llmcache.handler import lambda_handler

    configure(CACHE_TIERS="memory")
    # API Gateway hands over any text; a header that goes up (an allowlisted one since issue #22) must carry it.
    headers = [("Authorization", "Bearer sk-one"), ("Accept-Language", "snow \u2603")]
    event = request_to_event("GET", "/v1/models", headers, b"")

    response = result_to_response(lambda_handler(event, LocalLambdaContext()))

    assert response.status == 400 and "accept-language" in json.loads(response.body)["error"]["message"]
    assert provider.count("GET /v1/models") == 0
