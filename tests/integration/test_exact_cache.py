"""The exact-match path through the real handler, with moto (server mode) and the fake provider."""

from __future__ import annotations

import base64
import os
import re

import boto3
import pytest
import respx
from tests.integration.harness import chat_answer

KEY = re.compile(r"^[0-9a-f]{64}$")


def test_given_a_new_question_when_asked_twice_then_miss_then_hit_with_the_same_body(configure, client, provider):
    configure()
    first = client.chat("What is the capital of France?")
    second = client.chat("What is the capital of France?")
    assert (first.status, first.cache) == (200, "MISS")
    assert (second.status, second.cache) == (200, "HIT")
    assert second.body == first.body  # the stored bytes, not a new answer (the fake's ids are random)
    assert second.json()["usage"] == first.json()["usage"]
    assert KEY.match(first.headers["x-cache-key"]) and first.headers["x-cache-key"] == second.headers["x-cache-key"]
    assert second.headers["x-cache-match"] == "exact"
    assert second.headers["x-cache-tier"] == "memory"
    assert int(second.headers["age"]) >= 0
    assert "age" not in first.headers
    assert provider.count() == 1


def test_given_only_the_dynamodb_tier_when_asked_twice_then_the_hit_comes_from_dynamodb(configure, client):
    configure(CACHE_TIERS="dynamodb")
    client.chat("tier check")
    second = client.chat("tier check")
    assert second.cache == "HIT"
    assert second.headers["x-cache-tier"] == "dynamodb"


def test_given_reordered_json_and_float_spellings_when_asked_then_it_is_the_same_entry(configure, client):
    configure()
    first = client.call(
        "POST",
        "/v1/chat/completions",
        raw=b'{"model":"m","temperature":1.0,"messages":[{"role":"user","content":"hi"}]}',
        headers={"Content-Type": "application/json"},
    )
    second = client.call(
        "POST",
        "/v1/chat/completions",
        raw=b'{ "messages": [{"content": [{"type": "text", '
        b'"text": "hi"}], "role": "user"}], "temperature": 1, "model": "m", "user": "u-1" }',
    )
    assert (first.cache, second.cache) == ("MISS", "HIT")


def test_given_two_tenants_when_they_ask_the_same_then_the_second_is_a_miss(configure, client, provider):
    configure()
    client.chat("shared question", api_key="sk-tenant-a")
    other = client.chat("shared question", api_key="sk-tenant-b")
    again = client.chat("shared question", api_key="sk-tenant-b")
    assert other.cache == "MISS"
    assert again.cache == "HIT"
    assert provider.count() == 2


def test_given_shared_scope_when_two_tenants_ask_the_same_then_the_second_hits(configure, client):
    configure(CACHE_SCOPE="shared")
    client.chat("shared scope", api_key="sk-tenant-a")
    assert client.chat("shared scope", api_key="sk-tenant-b").cache == "HIT"


def test_given_completions_when_asked_twice_then_miss_then_hit(configure, client):
    configure()
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5}
    first = client.call("POST", "/v1/completions", body)
    second = client.call("POST", "/v1/completions", body)
    assert (first.status, first.cache, second.cache) == (200, "MISS", "HIT")
    assert second.json()["choices"][0]["text"] == first.json()["choices"][0]["text"]


def _table_items(settings):
    table = boto3.resource("dynamodb").Table(settings.cache_table)
    return table, table.scan()["Items"]


def test_given_an_expired_item_still_in_the_table_when_asked_then_it_is_a_miss(configure, client):
    settings = configure(CACHE_TIERS="dynamodb")
    client.chat("expiring")
    table, items = _table_items(settings)
    entry = next(i for i in items if i["pk"].startswith("e#"))
    # DynamoDB's TTL sweeper is lazy (and moto never sweeps): the item is present, its time is up.
    table.update_item(
        Key={"pk": entry["pk"]},
        UpdateExpression="SET expires_precise = :p, expires_at = :p",
        ExpressionAttributeValues={":p": 1},
    )
    again = client.chat("expiring")
    assert again.cache == "MISS"


def test_given_an_answer_over_the_inline_limit_when_stored_then_it_goes_to_s3_and_hits_from_s3(configure, client):
    settings = configure(CACHE_TIERS="dynamodb", CACHE_INLINE_MAX_BYTES="50")
    first = client.chat("large body")
    second = client.chat("large body")
    assert (first.cache, second.cache) == ("MISS", "HIT")
    assert second.headers["x-cache-tier"] == "s3"
    assert second.body == first.body
    objects = boto3.client("s3").list_objects_v2(Bucket=settings.cache_bucket).get("Contents", [])
    assert [o["Key"] for o in objects] == [f"bodies/{first.headers['x-cache-key']}"]


def test_given_a_400kb_answer_when_stored_then_dynamodb_holds_a_pointer_and_the_hit_is_whole(
    configure, client, provider
):
    settings = configure(CACHE_TIERS="dynamodb")
    # Random text barely compresses, so the stored body stays far above DynamoDB's 400 KB item limit.
    content = base64.b64encode(os.urandom(450_000)).decode()
    answer = chat_answer(content, answer_id="chatcmpl-big", model="m")
    with respx.mock(base_url=provider.base_url, assert_all_called=True) as mock:
        mock.post("/chat/completions").respond(200, json=answer)
        first = client.chat("a very long answer")
    second = client.chat("a very long answer")
    assert (first.cache, second.cache) == ("MISS", "HIT")
    assert second.headers["x-cache-tier"] == "s3"
    assert second.json()["choices"][0]["message"]["content"] == content
    _, items = _table_items(settings)
    entry = next(i for i in items if i["pk"].startswith("e#"))
    assert "body" not in entry
    assert entry["body_key"] == f"bodies/{first.headers['x-cache-key']}"
    assert len(entry["body_sha256"]) == 64


def test_given_a_deleted_s3_object_when_asked_then_it_is_a_miss_and_is_stored_again(configure, client):
    settings = configure(CACHE_TIERS="dynamodb", CACHE_INLINE_MAX_BYTES="50")
    first = client.chat("vanishing body")
    s3 = boto3.client("s3")
    s3.delete_object(Bucket=settings.cache_bucket, Key=f"bodies/{first.headers['x-cache-key']}")
    assert client.chat("vanishing body").cache == "MISS"
    assert client.chat("vanishing body").cache == "HIT"


def test_given_a_corrupt_s3_object_when_asked_then_it_is_a_miss_never_a_wrong_answer(configure, client):
    settings = configure(CACHE_TIERS="dynamodb", CACHE_INLINE_MAX_BYTES="50")
    first = client.chat("corrupt body")
    boto3.client("s3").put_object(
        Bucket=settings.cache_bucket, Key=f"bodies/{first.headers['x-cache-key']}", Body=b"not what was stored"
    )
    again = client.chat("corrupt body")
    assert (again.status, again.cache) == (200, "MISS")
    assert again.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]


def test_given_dynamodb_is_down_when_asked_then_the_answer_still_comes_from_upstream(configure, client, moto, capsys):
    configure(CACHE_TIERS="dynamodb")
    moto.stop()
    try:
        answer = client.chat("during an outage")
        assert answer.status == 200
        assert answer.json()["choices"][0]["message"]["content"]
        assert answer.cache in ("MISS", "BYPASS")
        assert '"CacheBackendError"' in capsys.readouterr().out
    finally:
        moto.start()


def test_given_memory_and_dynamodb_when_dynamodb_fails_after_a_hit_then_memory_still_answers(configure, client, moto):
    configure(CACHE_TIERS="memory,dynamodb", CACHE_GENERATION_TTL="300")
    client.chat("resilient")
    moto.stop()
    try:
        again = client.chat("resilient")
        assert (again.status, again.cache, again.headers["x-cache-tier"]) == (200, "HIT", "memory")
    finally:
        moto.start()


@pytest.mark.parametrize("model", ["fake-error-500", "fake-error-429", "fake-no-choices"])
def test_given_an_upstream_failure_when_asked_twice_then_it_is_passed_through_and_never_stored(
    configure, client, provider, model
):
    configure()
    first = client.chat("will fail", model=model)
    second = client.chat("will fail", model=model)
    assert first.cache == second.cache == "MISS"
    assert provider.count() == 2
    if model.startswith("fake-error"):
        assert first.status == int(model.rsplit("-", 1)[1])
        assert "error" in first.json()
