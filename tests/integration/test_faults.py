"""Fault injection: throttling, corrupt items, failing writes. The answer stays right; nothing wrong is stored."""

from __future__ import annotations

import boto3
import pytest
from pynamodb.connection.base import Connection
from tests.integration.harness import throttle_dynamodb


@pytest.mark.parametrize("operation", ["GetItem", "PutItem", "BatchGetItem"])
def test_given_dynamodb_throttles_an_operation_when_asked_then_the_answer_is_right_and_counted(
    configure, client, monkeypatch, capsys, operation
):
    configure(CACHE_TIERS="dynamodb")
    monkeypatch.setattr(Connection, "_make_api_call", throttle_dynamodb(operation))
    first = client.chat("throttled")
    second = client.chat("throttled")
    assert (first.status, second.status) == (200, 200)
    assert first.json()["choices"][0]["message"]["content"] == "offline answer to: throttled"
    assert second.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]
    assert "CacheBackendError" in capsys.readouterr().out


def test_given_a_corrupt_body_in_a_dynamodb_item_when_asked_then_a_miss_never_a_500(configure, client, capsys):
    settings = configure(CACHE_TIERS="dynamodb")
    first = client.chat("corrupt item")
    table = boto3.resource("dynamodb").Table(settings.cache_table)
    table.update_item(
        Key={"pk": "e#" + first.headers["x-cache-key"]},
        UpdateExpression="SET body = :b",
        ExpressionAttributeValues={":b": b"\x78\x9cnot zlib at all"},
    )
    again = client.chat("corrupt item")
    assert (again.status, again.cache) == (200, "MISS")
    assert again.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]
    assert "CacheBackendError" in capsys.readouterr().out
    assert client.chat("corrupt item").cache == "HIT"  # the fresh answer replaced the corrupt one


def test_given_an_item_with_neither_body_nor_pointer_when_asked_then_a_miss(configure, client):
    settings = configure(CACHE_TIERS="dynamodb")
    first = client.chat("hollow item")
    table = boto3.resource("dynamodb").Table(settings.cache_table)
    table.update_item(Key={"pk": "e#" + first.headers["x-cache-key"]}, UpdateExpression="REMOVE body")
    assert client.chat("hollow item").cache == "MISS"


def test_given_s3_refuses_writes_when_a_large_answer_is_stored_then_no_dangling_pointer(configure, client, monkeypatch):
    settings = configure(CACHE_TIERS="dynamodb", CACHE_INLINE_MAX_BYTES="50")
    from llmcache import wiring
    from llmcache.errors import BackendFailure

    bodies = wiring.engine().store.tiers[0].bodies

    def refuse(key, body):
        raise BackendFailure("s3", "put", "AccessDenied")

    monkeypatch.setattr(bodies, "put", refuse)
    assert client.chat("no room in s3").status == 200
    items = boto3.resource("dynamodb").Table(settings.cache_table).scan()["Items"]
    assert not [i for i in items if i["pk"].startswith("e#")]
    monkeypatch.undo()
