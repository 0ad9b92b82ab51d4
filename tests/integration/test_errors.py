"""Every bad input gets a clear OpenAI-style error; nothing yields a 500."""

from __future__ import annotations

import time

import pytest
from tests.integration.harness import broken_stream_error


def _assert_envelope(answer, status: int) -> dict:
    assert answer.status == status, answer.body
    error = answer.json()["error"]
    assert isinstance(error["message"], str) and len(error["message"]) > 10
    assert error["type"] and error["code"]
    return error


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"not json", "not valid JSON"),
        (b"[1,2,3]", "JSON object"),
        (b'{"model": "m", "messages": [], "x": NaN}', "not valid JSON"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "`model` is required"),
        (b'{"model": "m"}', "`messages` is required"),
        (b'{"model": 5, "messages": [{"role": "user", "content": "hi"}]}', "`model` must be"),
        (b'{"model": "m", "messages": "hi"}', "`messages` must be"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
    ],
)
def test_given_a_malformed_body_when_posted_then_400_names_the_problem(configure, client, raw, needle):
    configure(CACHE_TIERS="memory")
    error = _assert_envelope(client.call("POST", "/v1/chat/completions", raw=raw), 400)
    assert needle in error["message"]


def test_given_no_credential_when_posted_then_401(configure, client):
    configure(CACHE_TIERS="memory")
    _assert_envelope(client.chat("hi", api_key=None), 401)


def test_given_a_malformed_authorization_header_when_posted_then_401(configure, client):
    configure(CACHE_TIERS="memory")
    _assert_envelope(client.chat("hi", api_key=None, headers={"Authorization": "Basic abc"}), 401)


def test_given_an_unknown_route_when_called_then_404(configure, client):
    configure(CACHE_TIERS="memory")
    _assert_envelope(client.call("POST", "/v1/unknown", {"a": 1}), 404)


def test_given_a_wrong_method_when_called_then_405_with_allow(configure, client):
    configure(CACHE_TIERS="memory")
    # Under /v1/ another method is passed on (OpenAI lists stored completions on GET); unprefixed, it is ours.
    answer = client.call("GET", "/chat/completions")
    _assert_envelope(answer, 405)
    assert answer.headers["allow"] == "POST"


def test_given_a_body_over_the_limit_when_posted_then_413(configure, client):
    configure(CACHE_TIERS="memory", MAX_REQUEST_BYTES="1000")
    error = _assert_envelope(client.chat("x" * 2000), 413)
    assert "MAX_REQUEST_BYTES" in error["message"]


def test_given_an_unreadable_upstream_answer_when_asked_then_502_and_nothing_stored(configure, client, provider):
    configure(CACHE_TIERS="memory")
    _assert_envelope(client.chat("garbage please", model="fake-garbage"), 502)
    _assert_envelope(client.chat("garbage please", model="fake-garbage"), 502)
    assert provider.count() == 2


def test_given_a_slow_upstream_when_asked_then_504(configure, client):
    configure(CACHE_TIERS="memory", UPSTREAM_READ_TIMEOUT="0.3")
    _assert_envelope(client.chat("slow", model="fake-slow-1500"), 504)


def test_given_an_unreachable_upstream_when_asked_then_502(configure, client):
    configure(CACHE_TIERS="memory", UPSTREAM_BASE_URL="http://127.0.0.1:9/v1")
    _assert_envelope(client.chat("nobody home"), 502)


@pytest.mark.parametrize(
    ("headers", "cache", "param"),
    [
        ({"X-Cache-TTL": "soon"}, None, "X-Cache-TTL"),
        ({"Cache-Control": "max-age=-1"}, None, "Cache-Control: max-age"),
        ({"X-Cache-Namespace": "bad namespace!"}, None, "X-Cache-Namespace"),
        ({"X-Cache-Custom-Key": "k" * 5000}, None, "X-Cache-Custom-Key"),
        ({}, {"ttl": "x"}, "cache.ttl"),
        ({}, {"ttl": "\u00b2"}, "cache.ttl"),  # a superscript two: str.isdigit() says yes, int() says no
        ({"X-Cache-TTL": "9" * 5000}, None, "X-Cache-TTL"),  # beyond int()'s 4300-digit limit
        ({}, {"ttl": 10**400}, "cache.ttl"),  # a whole number no clock can add
        ({}, {"no-cache": "yes"}, "cache.no-cache"),
        ({}, {"bogus": 1}, "cache"),
        ({}, "on", "cache"),
    ],
)
def test_given_a_bad_cache_control_when_posted_then_400_names_the_control(configure, client, headers, cache, param):
    configure(CACHE_TIERS="memory")
    extra = {"cache": cache} if cache is not None else None
    error = _assert_envelope(client.chat("controls", headers=headers, extra=extra), 400)
    assert error["param"] == param


def test_given_an_oversized_header_when_posted_then_400_names_it(configure, client):
    configure(CACHE_TIERS="memory")
    answer = client.chat("big header", headers={"X-Cache-Namespace": "n" * 9000})
    error = _assert_envelope(answer, 400)
    assert error["param"] == "x-cache-namespace"


def test_given_a_lone_surrogate_in_the_prompt_when_asked_twice_then_it_is_cached_like_any_text(configure, client):
    configure(CACHE_TIERS="memory")
    raw = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "broken \\ud800 pair"}]}'
    first = client.call("POST", "/v1/chat/completions", raw=raw, headers={"Content-Type": "application/json"})
    second = client.call("POST", "/v1/chat/completions", raw=raw, headers={"Content-Type": "application/json"})
    assert (first.status, first.cache, second.cache) == (200, "MISS", "HIT")


def test_given_a_body_nested_just_under_the_limit_when_posted_then_it_is_answered(configure, client):
    configure(CACHE_TIERS="memory")
    answer = client.chat("deep but fine", extra={"metadata": {"x": [[[[[[[[[[1]]]]]]]]]]}})
    assert answer.status == 200


@pytest.mark.parametrize(
    ("model", "settings"),
    [
        ("fake-garbage", {}),
        ("fake-drop", {}),
        ("fake-slow-1500", {"UPSTREAM_READ_TIMEOUT": "0.3"}),
    ],
)
def test_given_an_unreachable_or_unreadable_upstream_when_asked_then_upstream_error_is_counted(
    configure, client, model, settings
):
    from llmcache.constants import Metric
    from llmcache.observability import counters

    configure(CACHE_TIERS="memory", **settings)
    before = counters.snapshot().get(Metric.UPSTREAM_ERROR, 0)
    assert client.chat("outage", model=model).status in (502, 504)
    assert counters.snapshot().get(Metric.UPSTREAM_ERROR, 0) == before + 1


@pytest.mark.parametrize("depth", [600, 800, 5000])
def test_given_a_body_nested_hundreds_of_levels_deep_when_posted_then_400_not_500(configure, client, depth):
    configure(CACHE_TIERS="memory")
    raw = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "x": ' + b"[" * depth + b"]" * depth + b"}"
    error = _assert_envelope(client.call("POST", "/v1/chat/completions", raw=raw), 400)
    assert "nested too deeply" in error["message"] or "not valid JSON" in error["message"]


def test_given_a_request_deadline_shorter_than_a_slow_answer_when_asked_then_504_within_it(configure, client):
    # the read timeout alone (60 s) would wait for the 20 s answer; the request's deadline (0.4 s) does not
    configure(CACHE_TIERS="memory", UPSTREAM_READ_TIMEOUT="60", REQUEST_DEADLINE_SECONDS="0.4")
    started = time.monotonic()
    _assert_envelope(client.chat("slow answer", model="fake-slow-20000"), 504)
    # given up at the deadline, not after the provider answered (the margin is for a loaded machine)
    assert time.monotonic() - started < 10.0


def test_given_a_stream_trickling_past_the_deadline_when_asked_then_504_and_nothing_stored(configure, client):
    # every pause (1 s) is under the read timeout; the stream as a whole outlasts the 3 s deadline. The deadline
    # is wide enough that the plain call below answers within it on a loaded machine too.
    configure(CACHE_TIERS="memory", UPSTREAM_READ_TIMEOUT="10", REQUEST_DEADLINE_SECONDS="3")
    cut = client.chat("trickle", model="fake-slowstream-1000", extra={"stream": True})
    assert "ran out of time" in broken_stream_error(client, cut, 504)["message"]
    plain = client.chat("trickle", model="fake-slowstream-1000")  # the fake pauses only in streams
    assert (plain.status, plain.cache) == (200, "MISS")  # the cut stream was not stored
