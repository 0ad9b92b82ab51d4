"""Request controls, as headers and as the LiteLLM-style body `cache` object."""

from __future__ import annotations

import json

import pytest


def test_given_no_cache_when_asked_then_bypass_and_the_fresh_answer_replaces_the_entry(configure, client, provider):
    configure(CACHE_TIERS="memory")
    first = client.chat("refresh me")
    refreshed = client.chat("refresh me", headers={"Cache-Control": "no-cache"})
    after = client.chat("refresh me")
    assert refreshed.cache == "BYPASS"
    assert refreshed.body != first.body  # a new upstream answer (fresh id)
    assert after.cache == "HIT" and after.body == refreshed.body
    assert provider.count() == 2


def test_given_body_no_cache_when_asked_then_bypass_and_cache_object_is_not_forwarded(configure, client, provider):
    configure(CACHE_TIERS="memory")
    client.chat("body controls")
    answer = client.chat("body controls", extra={"cache": {"no-cache": True}})
    assert answer.cache == "BYPASS"
    assert all("cache" not in r["body"] for r in provider.requests())


def test_given_no_store_when_asked_twice_then_nothing_is_stored(configure, client):
    configure(CACHE_TIERS="memory")
    client.chat("do not keep", headers={"Cache-Control": "no-store"})
    assert client.chat("do not keep").cache == "MISS"


def test_given_max_age_when_the_entry_is_older_then_it_is_a_miss(configure, client, engine_clock):
    configure(CACHE_TIERS="memory")
    clock = engine_clock()
    client.chat("aging header")
    client.chat("aging body")
    clock.advance(1.2)  # both entries are now over a second old
    assert client.chat("aging header", headers={"Cache-Control": "max-age=5"}).cache == "HIT"
    assert client.chat("aging body", extra={"cache": {"s-maxage": 3600}}).cache == "HIT"
    # (a miss fetches and stores a fresh answer, so each form gets its own entry)
    assert client.chat("aging header", headers={"Cache-Control": "max-age=1"}).cache == "MISS"
    assert client.chat("aging body", extra={"cache": {"s-maxage": 1}}).cache == "MISS"


def test_given_a_ttl_when_it_passes_then_the_entry_is_never_served(configure, client, engine_clock):
    configure(CACHE_TIERS="memory,dynamodb")
    clock = engine_clock()
    client.chat("short lived", headers={"X-Cache-TTL": "1"})
    assert client.chat("short lived").cache == "HIT"
    clock.advance(1.2)
    assert client.chat("short lived").cache == "MISS"


def test_given_a_ttl_above_the_maximum_when_stored_then_it_is_capped(configure, client):
    configure(CACHE_TIERS="memory", CACHE_MAX_TTL="100", CACHE_DEFAULT_TTL="50")
    first = client.chat("capped", headers={"X-Cache-TTL": "100000"})
    meta = client.call("GET", f"/cache/entries/{first.headers['x-cache-key']}", api_key="admin-secret").json()
    assert meta["expires"] - meta["created"] == 100  # the cap, neither the asked 100000 nor the default 50


def test_given_two_namespaces_when_asked_then_they_do_not_share(configure, client):
    configure(CACHE_TIERS="memory")
    client.chat("namespaced", headers={"X-Cache-Namespace": "a"})
    assert client.chat("namespaced", headers={"X-Cache-Namespace": "b"}).cache == "MISS"
    assert client.chat("namespaced", extra={"cache": {"namespace": "a"}}).cache == "HIT"


def test_given_a_custom_key_when_questions_differ_then_they_share_within_the_tenant(configure, client):
    configure(CACHE_TIERS="memory")
    client.chat("question one", headers={"X-Cache-Custom-Key": "greeting"})
    assert client.chat("question two", extra={"cache": {"cache_key": "greeting"}}).cache == "HIT"
    assert client.chat("question two", headers={"X-Cache-Custom-Key": "greeting"}, api_key="sk-other").cache == "MISS"


@pytest.mark.parametrize(
    ("headers", "extra"),
    [({"Cache-Control": "max-age=0"}, None), ({}, {"cache": {"s-maxage": 0}})],
)
def test_given_max_age_zero_when_an_entry_was_just_stored_then_it_is_not_served(configure, client, headers, extra):
    configure(CACHE_TIERS="memory")
    client.chat("fresh only")
    again = client.chat("fresh only", headers=headers, extra=extra)  # within the same second: Age would be 0
    assert again.cache == "MISS"


def test_given_an_answer_selecting_header_when_it_differs_then_the_entries_differ(configure, client, provider):
    configure(CACHE_TIERS="memory")
    plain = client.chat("per project")
    a = client.chat("per project", headers={"OpenAI-Project": "proj_A"})
    a_again = client.chat("per project", headers={"OpenAI-Project": "proj_A"})
    b = client.chat("per project", headers={"OpenAI-Project": "proj_B", "OpenAI-Organization": "org_X"})
    assert (plain.cache, a.cache, a_again.cache, b.cache) == ("MISS", "MISS", "HIT", "MISS")
    assert len({plain.headers["x-cache-key"], a.headers["x-cache-key"], b.headers["x-cache-key"]}) == 3
    assert provider.count() == 3  # proj_B was asked itself, not served proj_A's answer


@pytest.mark.parametrize("extra", [{"cache": {"ttl": 60}}, {"stream": True}])
def test_given_a_lone_surrogate_when_the_body_is_re_serialized_then_it_is_forwarded_not_a_500(configure, client, extra):
    configure(CACHE_TIERS="memory")
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x\ud800"}], **extra}
    raw = json.dumps(body).encode()  # ensure_ascii: the lone surrogate travels as the escape \ud800
    answer = client.call("POST", "/v1/chat/completions", raw=raw, headers={"Content-Type": "application/json"})
    assert answer.status == 200 and answer.cache == "MISS"
