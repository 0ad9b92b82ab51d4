"""The management API: admin key only; flush, inspect, re-expire, delete, stats."""

from __future__ import annotations

import datetime as dt
import uuid

import boto3
import pytest
from pynamodb.connection.base import Connection
from tests.integration.harness import throttle_dynamodb

ADMIN = "admin-secret"


def test_given_a_client_key_when_calling_admin_routes_then_403_and_no_key_401(configure, client):
    configure(CACHE_TIERS="memory")
    assert client.call("POST", "/cache/flush", {"namespace": "default"}).status == 403
    assert client.call("POST", "/cache/flush", {"namespace": "default"}, api_key=None).status == 401
    assert client.call("GET", "/cache/stats", api_key=None).status == 401


def test_given_no_admin_key_configured_when_calling_admin_routes_then_they_refuse(configure, client):
    configure(CACHE_TIERS="memory", ADMIN_API_KEY="")
    answer = client.call("GET", "/cache/stats", api_key="anything")
    assert answer.status == 403 and "ADMIN_API_KEY" in answer.json()["error"]["message"]


@pytest.mark.parametrize("tiers", ["memory", "memory,dynamodb"])
def test_given_a_flush_of_a_namespace_when_asked_again_then_every_tenant_misses(configure, client, tiers):
    configure(CACHE_TIERS=tiers)
    client.chat("flush me", api_key="sk-a")
    client.chat("flush me", api_key="sk-b")
    client.chat("keep me", headers={"X-Cache-Namespace": "other"})
    flushed = client.call("POST", "/cache/flush", {"namespace": "default"}, api_key=ADMIN)
    assert flushed.status == 200 and flushed.json()["flushed"] is True
    assert client.chat("flush me", api_key="sk-a").cache == "MISS"
    assert client.chat("flush me", api_key="sk-b").cache == "MISS"
    assert client.chat("keep me", headers={"X-Cache-Namespace": "other"}).cache == "HIT"


def test_given_a_flush_for_one_tenant_when_asked_then_only_that_tenant_misses(configure, client):
    configure(CACHE_TIERS="memory")
    from llmcache.keys import tenant_id

    client.chat("per tenant", api_key="sk-a")
    client.chat("per tenant", api_key="sk-b")
    answer = client.call("POST", "/cache/flush", {"namespace": "default", "tenant": tenant_id("sk-a")}, api_key=ADMIN)
    assert answer.status == 200
    assert client.chat("per tenant", api_key="sk-a").cache == "MISS"
    assert client.chat("per tenant", api_key="sk-b").cache == "HIT"


def test_given_a_flush_without_namespace_when_posted_then_400(configure, client):
    configure(CACHE_TIERS="memory")
    assert client.call("POST", "/cache/flush", {}, api_key=ADMIN).status == 400


def test_given_an_entry_when_inspected_patched_and_deleted_then_every_tier_follows(configure, client):
    configure(CACHE_TIERS="memory,dynamodb")
    key = client.chat("inspect me").headers["x-cache-key"]
    meta = client.call("GET", f"/cache/entries/{key}", api_key=ADMIN)
    assert meta.status == 200
    body = meta.json()
    assert body["route"] == "chat/completions" and body["model"] and body["size"] > 0 and body["tier"] == "memory"
    patched = client.call("PATCH", f"/cache/entries/{key}", {"ttl": 30}, api_key=ADMIN)
    assert patched.status == 200 and patched.json()["ttl_remaining"] <= 30
    assert client.call("DELETE", f"/cache/entries/{key}", api_key=ADMIN).status == 204
    assert client.call("GET", f"/cache/entries/{key}", api_key=ADMIN).status == 404
    assert client.call("DELETE", f"/cache/entries/{key}", api_key=ADMIN).status == 404
    assert client.chat("inspect me").cache == "MISS"


def test_given_a_patched_ttl_when_it_passes_then_the_entry_is_gone(configure, client, engine_clock):
    configure(CACHE_TIERS="memory,dynamodb")
    clock = engine_clock()
    key = client.chat("expire me soon").headers["x-cache-key"]
    patched = client.call("PATCH", f"/cache/entries/{key}", {"ttl": 2}, api_key=ADMIN)
    assert patched.status == 200 and 0 < patched.json()["ttl_remaining"] <= 2
    assert client.chat("expire me soon").cache == "HIT"  # still served until the new expiry
    clock.advance(2.2)
    assert client.chat("expire me soon").cache == "MISS"


@pytest.mark.parametrize("operation", ["GetItem", "DeleteItem"])
def test_given_dynamodb_failing_when_an_entry_is_inspected_or_deleted_then_503_not_a_false_404(
    configure, client, monkeypatch, operation
):
    configure(CACHE_TIERS="dynamodb")
    key = client.chat("unreadable entry").headers["x-cache-key"]
    monkeypatch.setattr(Connection, "_make_api_call", throttle_dynamodb(operation))
    method = "GET" if operation == "GetItem" else "DELETE"
    answer = client.call(method, f"/cache/entries/{key}", api_key=ADMIN)
    assert answer.status == 503 and "dynamodb" in answer.json()["error"]["message"]
    monkeypatch.undo()
    assert client.call("GET", f"/cache/entries/{key}", api_key=ADMIN).status == 200  # it was there all along


def test_given_an_unknown_key_when_inspected_then_404(configure, client):
    configure(CACHE_TIERS="memory")
    assert client.call("GET", "/cache/entries/" + "0" * 64, api_key=ADMIN).status == 404
    assert client.call("GET", "/cache/entries/not-a-key", api_key=ADMIN).status == 404


def test_given_traffic_when_stats_are_read_locally_then_they_count_this_process(configure, client):
    configure(CACHE_TIERS="memory")
    before = client.call("GET", "/cache/stats", api_key=ADMIN).json()
    client.chat("stats one")
    client.chat("stats one")
    after = client.call("GET", "/cache/stats", api_key=ADMIN).json()
    assert after["source"] == "process"
    assert after["hits"] - before["hits"] == 1
    assert after["misses"] - before["misses"] == 1
    assert after["tokens_saved"] > before["tokens_saved"]


def test_given_metrics_in_cloudwatch_when_stats_are_read_deployed_then_they_come_from_cloudwatch(
    configure, client, monkeypatch
):
    monkeypatch.setenv("STATS_SOURCE", "cloudwatch")
    environment = f"stats{uuid.uuid4().hex[:8]}"  # its own metrics: the test runs once per entry point
    configure(CACHE_TIERS="memory", ENVIRONMENT=environment)
    dims = [{"Name": "service", "Value": "llmcache"}, {"Name": "environment", "Value": environment}]
    now = dt.datetime.now(dt.UTC)
    boto3.client("cloudwatch").put_metric_data(
        Namespace="LlmCache",
        MetricData=[
            {"MetricName": "CacheHit", "Dimensions": dims, "Value": 30, "Timestamp": now},
            {"MetricName": "CacheMiss", "Dimensions": dims, "Value": 10, "Timestamp": now},
            {"MetricName": "TokensSaved", "Dimensions": dims, "Value": 1234, "Timestamp": now},
            {"MetricName": "CostSaved", "Dimensions": dims, "Value": 0.25, "Timestamp": now - dt.timedelta(minutes=20)},
        ],
    )
    stats = client.call("GET", "/cache/stats?window=3600", api_key=ADMIN).json()
    assert stats["source"] == "cloudwatch", stats
    assert (stats["hits"], stats["misses"], stats["hit_rate"], stats["tokens_saved"]) == (30, 10, 0.75, 1234)
    # the chart's series, per one-minute step: the hits in the current minute, the dollars 20 minutes back
    series = stats["series"]
    assert series["step_seconds"] == 60 and series["hits"][-1] == 30 and sum(series["hits"]) == 30
    assert (
        stats["cost_saved_usd"] == 0.25 and series["cost_saved_usd"][-1] == 0 and sum(series["cost_saved_usd"]) == 0.25
    )
    assert stats["split"] is None and "metric dimensions never take client input" in stats["split_note"]


def test_given_a_bad_window_when_reading_stats_then_400(configure, client):
    configure(CACHE_TIERS="memory")
    assert client.call("GET", "/cache/stats?window=abc", api_key=ADMIN).status == 400
    assert client.call("GET", "/cache/stats?window=5", api_key=ADMIN).status == 400


def test_given_shared_scope_when_flushing_one_tenant_then_400_says_to_flush_the_namespace(configure, client):
    configure(CACHE_TIERS="memory", CACHE_SCOPE="shared")
    client.chat("shared entry")
    answer = client.call("POST", "/cache/flush", {"namespace": "default", "tenant": "0" * 32}, api_key=ADMIN)
    assert answer.status == 400 and answer.json()["error"]["param"] == "tenant"
    assert client.chat("shared entry").cache == "HIT"  # nothing was flushed, and nothing claimed it was


def test_given_an_unreadable_admin_key_secret_when_admin_routes_are_called_then_503_or_401_never_500(configure, client):
    configure(CACHE_TIERS="memory", ADMIN_API_KEY="", ADMIN_API_KEY_SECRET_ARN="llmcache-missing-admin-secret")
    with_key = client.call("GET", "/cache/stats", api_key="some-key")
    assert with_key.status == 503 and "admin key could not be read" in with_key.json()["error"]["message"]
    assert client.call("GET", "/cache/stats", api_key=None).status == 401  # decided before the secret is read


def test_given_an_unreadable_provider_key_secret_in_managed_mode_when_asked_then_503(configure, client):
    configure(CACHE_TIERS="memory", UPSTREAM_API_KEY_SECRET_ARN="llmcache-missing-provider-secret")
    answer = client.chat("managed key missing")
    assert answer.status == 503 and "provider key could not be read" in answer.json()["error"]["message"]
