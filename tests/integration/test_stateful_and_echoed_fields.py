"""Stateful calls bypass the cache, and echoed request fields on a hit are the current request's (issue #22,
findings 22.4 and 22.5). Through both entry points, against the fake provider (which echoes as OpenAI does)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from llmcache.dialects.sse import iter_sse_events

ANTHROPIC = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-tenant-a"}


def question() -> str:
    return f"What is the capital of France? [{uuid.uuid4().hex[:8]}]"


def completed_response(answer_body: bytes) -> dict[str, Any]:
    events = [json.loads(event.data) for event in iter_sse_events([answer_body])]
    return next(e["response"] for e in events if e["type"] == "response.completed")


# ----- 22.4: echoed fields -------------------------------------------------------------------------------------------
def test_given_two_end_users_ask_the_same_question_when_the_second_hits_then_it_gets_its_own_metadata_and_ids(
    configure, client, provider
):
    """finding 22.4: plain hit and replayed stream carry the current request's metadata, user, safety_identifier and
    prompt_cache_key, never the first caller's (its e-mail and order id)."""
    configure(CACHE_TIERS="memory")
    text = question()
    first_caller = {"metadata": {"email": "ann@example.com", "order": "A-1"}, "user": "ann", "safety_identifier": "s-a"}
    second_caller = {"metadata": {"order": "B-2"}, "user": "bob", "prompt_cache_key": "k-b"}

    first = client.call("POST", "/v1/responses", {"model": "gpt-4.1-mini", "input": text, **first_caller})
    plain = client.call("POST", "/v1/responses", {"model": "gpt-4.1-mini", "input": text, **second_caller})
    streamed = client.call(
        "POST", "/v1/responses", {"model": "gpt-4.1-mini", "input": text, "stream": True, **second_caller}
    )
    anonymous = client.call("POST", "/v1/responses", {"model": "gpt-4.1-mini", "input": text})

    assert (first.cache, plain.cache, streamed.cache, anonymous.cache) == ("MISS", "HIT", "HIT", "HIT")
    assert first.json()["metadata"] == first_caller["metadata"]  # the provider's answer to its own caller
    for answer in (plain.json(), completed_response(streamed.body)):
        assert answer["metadata"] == {"order": "B-2"} and answer["user"] == "bob"
        assert answer["safety_identifier"] is None and answer["prompt_cache_key"] == "k-b"
    assert anonymous.json()["metadata"] == {} and anonymous.json()["user"] is None
    for answer in (plain, streamed, anonymous):
        assert b"ann@example.com" not in answer.body and b"A-1" not in answer.body
    assert plain.json()["output"] == first.json()["output"]


def test_given_a_streamed_miss_with_metadata_when_a_plain_request_hits_then_the_entry_held_none_of_it(
    configure, client
):
    """finding 22.4: an entry never holds a caller's echoed values, whichever way it was filled."""
    configure(CACHE_TIERS="memory")
    text = question()

    client.call("POST", "/v1/responses", {"model": "m", "input": text, "stream": True, "metadata": {"email": "x@y"}})
    hit = client.call("POST", "/v1/responses", {"model": "m", "input": text})

    assert hit.cache == "HIT" and hit.json()["metadata"] == {} and b"x@y" not in hit.body


# ----- 22.5: stateful calls bypass ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"conversation": "conv_123"}, "conversation"),
        ({"prompt": {"id": "pmpt_123"}}, "prompt"),
        ({"prompt": {"id": "pmpt_123", "version": None}}, "prompt"),
        ({"background": True}, "background"),
        ({"background": "true"}, "background"),
        ({"background": 1}, "background"),
    ],
)
def test_given_a_stateful_responses_call_when_asked_twice_then_both_reach_the_provider_with_a_bypass_reason(
    configure, client, provider, extra, reason
):
    """finding 22.5: the provider holds the state the answer depends on; a hit would skip the turn."""
    configure(CACHE_TIERS="memory")
    body = {"model": "gpt-4.1-mini", "input": question(), **extra}

    answers = [client.call("POST", "/v1/responses", body) for _ in range(2)]

    assert [a.cache for a in answers] == ["BYPASS", "BYPASS"]
    assert {a.headers["x-cache-bypass-reason"] for a in answers} == {reason}
    assert provider.count("POST /v1/responses") == 2


def test_given_a_prompt_with_a_pinned_version_when_asked_twice_then_it_is_cached(configure, client, provider):
    configure(CACHE_TIERS="memory")
    body = {"model": "gpt-4.1-mini", "input": question(), "prompt": {"id": "pmpt_1", "version": "3"}}

    answers = [client.call("POST", "/v1/responses", body) for _ in range(2)]

    assert [a.cache for a in answers] == ["MISS", "HIT"]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"container": "container_011CQ"}, "container"),
        ({"mcp_servers": [{"type": "url", "url": "https://mcp.example/sse", "name": "tools"}]}, "mcp_servers"),
    ],
)
def test_given_a_stateful_messages_call_when_asked_twice_then_both_reach_anthropic(
    configure, client, provider, extra, reason
):
    """finding 22.5: Anthropic's `container` and `mcp_servers`."""
    configure(CACHE_TIERS="memory")
    body = {"model": "claude-x", "max_tokens": 64, "messages": [{"role": "user", "content": question()}], **extra}

    answers = [client.call("POST", "/v1/messages", body, headers=ANTHROPIC, api_key=None) for _ in range(2)]

    assert [a.cache for a in answers] == ["BYPASS", "BYPASS"], answers[0].body
    assert answers[0].headers["x-cache-bypass-reason"] == reason
    assert provider.count("POST /v1/messages") == 2
