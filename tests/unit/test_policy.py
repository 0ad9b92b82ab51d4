"""Request controls and what may be stored."""

from __future__ import annotations

import pytest

from llmcache import policy
from llmcache.errors import BadRequest


def test_given_cache_control_directives_when_parsed_then_each_is_honoured():
    c = policy.parse_controls({"cache-control": "no-cache, no-store, max-age=60, private"}, None)
    assert (c.no_cache, c.no_store, c.max_age) == (True, True, 60)


def test_given_header_and_body_controls_when_both_set_then_the_header_wins():
    c = policy.parse_controls({"x-cache-ttl": "10", "x-cache-namespace": "h"}, {"ttl": 99, "namespace": "b"})
    assert (c.ttl, c.namespace) == (10, "h")


def test_given_the_body_object_when_parsed_then_litellm_names_map_to_controls():
    c = policy.parse_controls(
        {}, {"no-cache": True, "no-store": False, "s-maxage": 5, "ttl": 7, "namespace": "n", "cache_key": "k"}
    )
    assert (c.no_cache, c.no_store, c.max_age, c.ttl, c.namespace, c.custom_key) == (True, False, 5, 7, "n", "k")


@pytest.mark.parametrize(
    ("headers", "body", "param"),
    [
        ({"x-cache-ttl": "-3"}, None, "X-Cache-TTL"),
        ({"x-cache-ttl": "0"}, None, "ttl"),
        ({"cache-control": "max-age=abc"}, None, "Cache-Control: max-age"),
        ({"x-cache-namespace": ""}, None, "X-Cache-Namespace"),
        ({"x-cache-namespace": "x" * 200}, None, "X-Cache-Namespace"),
        ({"x-cache-semantic": "maybe"}, None, "X-Cache-Semantic"),
        ({"x-cache-semantic-threshold": "2"}, None, "X-Cache-Semantic-Threshold"),
        ({}, {"ttl": True}, "cache.ttl"),
        ({}, {"ttl": 1.5}, "cache.ttl"),
        ({}, {"cache_key": ""}, "cache.cache_key"),
        ({}, [], "cache"),
    ],
)
def test_given_a_bad_control_when_parsed_then_400_names_it(headers, body, param):
    with pytest.raises(BadRequest) as raised:
        policy.parse_controls(headers, body)
    assert raised.value.param == param


def test_given_a_ttl_above_the_maximum_when_applied_then_it_is_capped():
    assert policy.effective_ttl(policy.Controls(ttl=10**9), 100, 1000) == 1000
    assert policy.effective_ttl(policy.Controls(), 100, 1000) == 100


def test_given_a_lower_request_threshold_when_applied_then_the_deployment_threshold_stands():
    assert policy.effective_semantic_threshold(policy.Controls(semantic_threshold=0.5), 0.9) == 0.9
    assert policy.effective_semantic_threshold(policy.Controls(semantic_threshold=0.95), 0.9) == 0.95
