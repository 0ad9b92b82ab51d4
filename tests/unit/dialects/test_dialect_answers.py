"""Each dialect judges its own API's answers: which are storable, and what one cost (its usage, read in the
API's own shape)."""

from __future__ import annotations

import pytest

from llmcache.dialects.registry import dialect_for


@pytest.mark.parametrize(
    ("route", "usage", "expected"),
    [
        # chat and completions: prompt_tokens includes the cached ones
        (
            "chat/completions",
            {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
             "prompt_tokens_details": {"cached_tokens": 64}},
            (120, 100, 64, 20),
        ),
        # Responses API
        (
            "responses",
            {"input_tokens": 50, "output_tokens": 10, "total_tokens": 60, "input_tokens_details": {"cached_tokens": 0}},
            (60, 50, 0, 10),
        ),
        # Anthropic Messages: input_tokens leaves out the cache reads and writes
        (
            "messages",
            {"input_tokens": 10, "cache_read_input_tokens": 90, "cache_creation_input_tokens": 5, "output_tokens": 7},
            (112, 105, 90, 7),
        ),
        # embeddings: input only
        ("embeddings", {"prompt_tokens": 8, "total_tokens": 8}, (8, 8, 0, 0)),
        # nonsense is zero, never an exception
        ("chat/completions", {"prompt_tokens": "many", "completion_tokens": True}, (0, 0, 0, 0)),
        ("responses", {"input_tokens": "many", "output_tokens": True}, (0, 0, 0, 0)),
        ("messages", {"input_tokens": -3, "cache_read_input_tokens": "x"}, (0, 0, 0, 0)),
    ],
)  # fmt: skip
def test_given_each_apis_usage_shape_when_its_dialect_splits_it_then_input_cached_and_output_are_counted(
    route, usage, expected
):
    counts = dialect_for(route).usage({"usage": usage})
    assert (counts.total, counts.input, counts.cached_input, counts.output) == expected


@pytest.mark.parametrize("route", ["chat/completions", "completions", "embeddings", "responses", "messages"])
def test_given_an_answer_without_usage_when_its_dialect_splits_it_then_nothing_is_counted(route):
    assert dialect_for(route).usage({"choices": []}).total == 0
    assert dialect_for(route).usage({"usage": None}).input == 0


def _chat(finish_reason: str | None) -> dict:
    return {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": finish_reason}


_TOOL_MESSAGE = {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function"}]}


@pytest.mark.parametrize(
    ("route", "status", "answer", "storable"),
    [
        ("chat/completions", 200, {"choices": [_chat("stop")]}, True),
        ("chat/completions", 200, {"choices": [_chat("length")]}, True),
        ("chat/completions", 200, {"choices": [{**_chat("tool_calls"), "message": _TOOL_MESSAGE}]}, True),
        ("chat/completions", 200, {"choices": []}, False),
        ("chat/completions", 200, {"choices": [_chat(None)]}, False),
        ("chat/completions", 500, {"choices": [_chat("stop")]}, False),
        ("chat/completions", 200, {"error": {"message": "x"}, "choices": [_chat("stop")]}, False),
        # not replayable as a stream later: no integer index, or a message that is not an object
        ("chat/completions", 200, {"choices": [{"finish_reason": "stop", "message": {"content": "hi"}}]}, False),
        ("chat/completions", 200, {"choices": [{**_chat("stop"), "index": "0"}]}, False),
        ("chat/completions", 200, {"choices": [{**_chat("stop"), "index": True}]}, False),
        ("chat/completions", 200, {"choices": [{**_chat("stop"), "message": "hi"}]}, False),
        ("chat/completions", 200, {"choices": [{**_chat("stop"), "message": {"content": ["x"]}}]}, False),
        ("chat/completions", 200, {"choices": [{**_chat("stop"), "message": {"tool_calls": ["x"]}}]}, False),
        ("completions", 200, {"choices": [{"index": 0, "text": "hi", "finish_reason": "stop"}]}, True),
        ("completions", 200, {"choices": [{"index": 0, "text": None, "finish_reason": "stop"}]}, False),
        ("chat/completions", 200, [1, 2], False),
        ("embeddings", 200, {"data": [{"embedding": [0.1]}]}, True),
        ("embeddings", 200, {"data": []}, False),
    ],
)
def test_given_an_answer_when_judged_then_only_complete_successes_are_storable(route, status, answer, storable):
    assert dialect_for(route).storable(status, answer) is storable
