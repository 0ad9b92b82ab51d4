"""The cache key: which requests must share an entry, and which must never."""

from __future__ import annotations

import json

import pytest

from llmcache import keys
from llmcache.dialects.openai import canonical_request

BASE = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def key_of(
    body=BASE, *, tenant="t1", namespace="default", generation="0.0", route="chat/completions", custom_key=None
) -> str:
    if isinstance(body, (bytes, str)):
        body = json.loads(body)
    return keys.request_key(
        tenant=tenant,
        namespace=namespace,
        generation=generation,
        route=route,
        canonical=canonical_request(body),
        custom_key=custom_key,
    )


SAME = [
    ("key order", {"temperature": 0, "messages": [{"content": "hi", "role": "user"}], "model": "gpt-4o-mini"}),
    ("whitespace", '{ "model" : "gpt-4o-mini",\n "messages": [ {"role":"user","content":"hi"} ], "temperature": 0 }'),
    ("0 vs 0.0", {**BASE, "temperature": 0.0}),
    ("string vs text part", {**BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
    ("user", {**BASE, "user": "alice"}),
    ("stream", {**BASE, "stream": True}),
    ("stream_options", {**BASE, "stream": True, "stream_options": {"include_usage": True}}),
    ("metadata", {**BASE, "metadata": {"trace": "x"}}),
    ("cache object", {**BASE, "cache": {"ttl": 5}}),
    ("1e0 vs 1", None),
]
DIFFERENT = [
    ("temperature", {**BASE, "temperature": 0.7}),
    ("model", {**BASE, "model": "gpt-4o"}),
    ("content", {**BASE, "messages": [{"role": "user", "content": "hi!"}]}),
    ("role", {**BASE, "messages": [{"role": "system", "content": "hi"}]}),
    ("tools", {**BASE, "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}),
    ("max_tokens", {**BASE, "max_tokens": 5}),
    ("true is not 1", {**BASE, "logprobs": True, "top_logprobs": 1}),
    (
        "two text parts",
        {
            **BASE,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "h"}, {"type": "text", "text": "i"}]}],
        },
    ),
    ("seed", {**BASE, "seed": 1}),
]


@pytest.mark.parametrize(("case", "body"), [c for c in SAME if c[1] is not None])
def test_given_an_equivalent_spelling_when_keyed_then_the_key_is_the_same(case, body):
    assert key_of(body) == key_of(BASE), case


@pytest.mark.parametrize(("case", "body"), DIFFERENT)
def test_given_a_change_that_can_change_the_answer_when_keyed_then_the_key_differs(case, body):
    assert key_of(body) != key_of(BASE), case


def test_given_exponent_and_integer_spellings_when_keyed_then_they_are_equal():
    assert key_of('{"model":"m","messages":[],"top_p":1e0}') == key_of('{"model":"m","messages":[],"top_p":1}')


def test_given_a_boolean_and_its_integer_when_keyed_then_they_differ():
    assert key_of({**BASE, "n": True}) != key_of({**BASE, "n": 1})


@pytest.mark.parametrize(
    ("field", "a", "b"),
    [
        ("tenant", {"tenant": "t1"}, {"tenant": "t2"}),
        ("namespace", {"namespace": "a"}, {"namespace": "b"}),
        ("generation", {"generation": "0.0"}, {"generation": "0.1"}),
        ("route", {"route": "chat/completions"}, {"route": "completions"}),
        ("custom key", {"custom_key": "k1"}, {"custom_key": "k2"}),
    ],
)
def test_given_a_different_partition_when_keyed_then_the_key_differs(field, a, b):
    assert key_of(**a) != key_of(**b), field


def test_given_a_custom_key_when_keyed_then_the_request_body_does_not_matter_but_the_tenant_does():
    assert key_of(BASE, custom_key="k") == key_of({**BASE, "temperature": 1}, custom_key="k")
    assert key_of(BASE, custom_key="k", tenant="t2") != key_of(BASE, custom_key="k")


def test_given_parts_that_concatenate_alike_when_keyed_then_they_differ():
    assert keys.digest("ab", "c") != keys.digest("a", "bc")


def test_given_any_request_when_keyed_then_the_key_is_64_lowercase_hex():
    key = key_of()
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key)


def test_given_a_credential_when_the_tenant_is_derived_then_it_is_stable_and_does_not_contain_it():
    tenant = keys.tenant_id("sk-secret-123")
    assert tenant == keys.tenant_id("sk-secret-123")
    assert "sk-secret" not in tenant and len(tenant) == 32
    assert keys.tenant_id("sk-other") != tenant
    assert keys.tenant_id("sk-secret-123", api_key_id="abc") != tenant
