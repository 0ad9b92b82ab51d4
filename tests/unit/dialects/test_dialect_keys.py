"""Key tables of the Responses and Messages dialects: fields that must split the key, fields that must not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmcache import keys
from llmcache.dialects.base import Dialect
from llmcache.dialects.messages import IGNORED_FIELDS as MESSAGES_IGNORED
from llmcache.dialects.messages import KEYED_FIELDS as MESSAGES_KEYED
from llmcache.dialects.registry import dialect_for
from llmcache.dialects.responses import IGNORED_FIELDS as RESPONSES_IGNORED
from llmcache.dialects.responses import KEYED_FIELDS as RESPONSES_KEYED
from llmcache.errors import Unauthorized

RESPONSES = dialect_for("responses")
MESSAGES = dialect_for("messages")

R_BASE: dict[str, Any] = {"model": "gpt-4.1-mini", "input": "What is the capital of France?"}
M_BASE: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
}
# Two values of each keyed field that the provider answers differently (the first differs from the base).
R_VALUES: dict[str, tuple[Any, Any]] = {
    "model": ("gpt-4.1", "o4-mini"),
    "input": ("What is the capital of Italy?", [{"role": "user", "content": "What is the capital of Spain?"}]),
    "instructions": ("Answer in French.", "Answer in German."),
    "previous_response_id": ("resp_a", "resp_b"),
    "conversation": ("conv_a", "conv_b"),
    "prompt": ({"id": "pmpt_a", "version": "1"}, {"id": "pmpt_a", "version": "2"}),
    "tools": ([{"type": "function", "name": "f", "parameters": {}}], [{"type": "web_search"}]),
    "tool_choice": ("required", "none"),
    "parallel_tool_calls": (False, True),
    "max_tool_calls": (1, 2),
    "reasoning": ({"effort": "low"}, {"effort": "high"}),
    "text": ({"format": {"type": "json_object"}}, {"verbosity": "low"}),
    "temperature": (0, 0.7),
    "top_p": (0.1, 0.9),
    "top_logprobs": (1, 2),
    "max_output_tokens": (16, 32),
    "include": (["reasoning.encrypted_content"], ["message.output_text.logprobs"]),
    "truncation": ("auto", "disabled"),
    "service_tier": ("flex", "priority"),
    "store": (False, False),
}
M_VALUES: dict[str, tuple[Any, Any]] = {
    "model": ("claude-haiku-4-5", "claude-opus-4-1"),
    "messages": ([{"role": "user", "content": "What is the capital of Italy?"}], [{"role": "user", "content": "x"}]),
    "system": ("Answer in French.", [{"type": "text", "text": "Answer in German."}]),
    "max_tokens": (16, 32),
    "thinking": ({"type": "enabled", "budget_tokens": 1024}, {"type": "enabled", "budget_tokens": 2048}),
    "tools": ([{"name": "f", "input_schema": {"type": "object"}}], [{"name": "g", "input_schema": {"type": "object"}}]),
    "tool_choice": ({"type": "any"}, {"type": "tool", "name": "f"}),
    "temperature": (0, 0.7),
    "top_p": (0.1, 0.9),
    "top_k": (1, 5),
    "stop_sequences": (["\n"], ["END"]),
    "service_tier": ("auto", "standard_only"),
    "container": ("container_a", "container_b"),
    "mcp_servers": (
        [{"type": "url", "url": "https://a", "name": "a"}],
        [{"type": "url", "url": "https://b", "name": "b"}],
    ),
    "context_management": ({"edits": []}, {"edits": [{"type": "clear_tool_uses_20250919"}]}),
    "output_format": ({"type": "json_schema", "schema": {}}, {"type": "json_schema", "schema": {"type": "object"}}),
}
# A value of each left-out field, which must not move the key.
R_IGNORED_VALUES: dict[str, Any] = {
    "stream": True,
    "stream_options": {"include_obfuscation": False},
    "background": False,
    "metadata": {"trace": "abc"},
    "user": "alice",
    "safety_identifier": "user-42",
    "prompt_cache_key": "tenant-7",
    "cache": {"ttl": 60},
}
M_IGNORED_VALUES: dict[str, Any] = {"stream": True, "metadata": {"user_id": "u-1"}, "cache": {"ttl": 60}}


def key_of(dialect: Dialect, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
    return keys.request_key(
        tenant="t1",
        namespace="default",
        generation="0.0",
        route=dialect.route,
        canonical=dialect.canonical(body),
        custom_key=None,
        context=keys.header_context(headers or {}, dialect.answer_headers),
    )


def test_given_the_key_tables_when_compared_with_the_test_values_then_every_documented_field_is_tested() -> None:
    assert set(R_VALUES) == set(RESPONSES_KEYED) and set(R_IGNORED_VALUES) == set(RESPONSES_IGNORED)
    assert set(M_VALUES) == set(MESSAGES_KEYED) and set(M_IGNORED_VALUES) == set(MESSAGES_IGNORED)
    assert not set(RESPONSES_KEYED) & set(RESPONSES_IGNORED) and not set(MESSAGES_KEYED) & set(MESSAGES_IGNORED)
    assert all(reason.strip() for reason in [*RESPONSES_KEYED.values(), *MESSAGES_IGNORED.values()])


@pytest.mark.parametrize(
    ("dialect", "base", "field", "values"),
    [(RESPONSES, R_BASE, f, v) for f, v in R_VALUES.items()] + [(MESSAGES, M_BASE, f, v) for f, v in M_VALUES.items()],
    ids=[f"responses-{f}" for f in R_VALUES] + [f"messages-{f}" for f in M_VALUES],
)
def test_given_a_field_that_changes_the_answer_when_it_differs_then_the_key_differs(
    dialect: Dialect, base: dict[str, Any], field: str, values: tuple[Any, Any]
) -> None:
    first, second = ({**base, field: value} for value in values)
    assert key_of(dialect, first) != key_of(dialect, base)
    if values[0] != values[1]:
        assert key_of(dialect, first) != key_of(dialect, second)


@pytest.mark.parametrize(
    ("dialect", "base", "field", "value"),
    [(RESPONSES, R_BASE, f, v) for f, v in R_IGNORED_VALUES.items()]
    + [(MESSAGES, M_BASE, f, v) for f, v in M_IGNORED_VALUES.items()],
    ids=[f"responses-{f}" for f in R_IGNORED_VALUES] + [f"messages-{f}" for f in M_IGNORED_VALUES],
)
def test_given_a_field_that_cannot_change_the_answer_when_it_is_added_then_the_key_is_the_same(
    dialect: Dialect, base: dict[str, Any], field: str, value: Any
) -> None:
    assert key_of(dialect, {**base, field: value}) == key_of(dialect, base)


@pytest.mark.parametrize(
    "spelling",
    [
        [{"role": "user", "content": "What is the capital of France?"}],
        [{"type": "message", "role": "user", "content": "What is the capital of France?"}],
        [{"role": "user", "content": [{"type": "input_text", "text": "What is the capital of France?"}]}],
        [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "What is the capital of France?"}],
            }
        ],
    ],
)
def test_given_a_responses_input_spelled_another_way_when_keyed_then_the_key_is_the_same(spelling: Any) -> None:
    assert key_of(RESPONSES, {**R_BASE, "input": spelling, "temperature": 1.0}) == key_of(
        RESPONSES, {**R_BASE, "temperature": 1}
    )


def test_given_store_absent_or_true_when_keyed_then_one_key_and_store_false_another() -> None:
    assert key_of(RESPONSES, {**R_BASE, "store": True}) == key_of(RESPONSES, R_BASE)
    assert key_of(RESPONSES, {**R_BASE, "store": False}) != key_of(RESPONSES, R_BASE)


def test_given_two_input_text_parts_when_keyed_then_not_the_same_as_their_joined_text() -> None:
    parts = [{"type": "input_text", "text": "What is the capital"}, {"type": "input_text", "text": " of France?"}]
    assert key_of(RESPONSES, {**R_BASE, "input": [{"role": "user", "content": parts}]}) != key_of(RESPONSES, R_BASE)


def test_given_background_true_when_asked_then_the_request_is_bypassed_and_false_is_not() -> None:
    assert RESPONSES.bypass_reason({**R_BASE, "background": True}) == "background"
    assert RESPONSES.bypass_reason({**R_BASE, "background": False}) is None
    assert MESSAGES.bypass_reason(M_BASE) is None


@pytest.mark.parametrize(
    ("header", "values"), [("openai-organization", ("org-a", "org-b")), ("openai-beta", ("x", "y"))]
)
def test_given_an_openai_answer_header_when_it_differs_then_the_responses_key_differs(
    header: str, values: tuple[str, str]
) -> None:
    keyed = {key_of(RESPONSES, R_BASE, {header: value}) for value in values}
    assert len(keyed) == 2 and key_of(RESPONSES, R_BASE) not in keyed


@pytest.mark.parametrize(
    ("header", "values"),
    [("anthropic-version", ("2023-06-01", "2023-01-01")), ("anthropic-beta", ("a-2025", "b-2025"))],
)
def test_given_an_anthropic_header_when_it_differs_then_the_messages_key_differs(
    header: str, values: tuple[str, str]
) -> None:
    keyed = {key_of(MESSAGES, M_BASE, {header: value}) for value in values}
    assert len(keyed) == 2 and key_of(MESSAGES, M_BASE) not in keyed


def test_given_headers_of_another_api_when_keyed_then_they_do_not_split_the_key() -> None:
    assert key_of(MESSAGES, M_BASE, {"openai-organization": "org-a", "x-stainless-os": "Linux"}) == key_of(
        MESSAGES, M_BASE
    )
    assert key_of(RESPONSES, R_BASE, {"anthropic-version": "2023-06-01"}) == key_of(RESPONSES, R_BASE)


MARKER = {"type": "ephemeral", "ttl": "1h"}
TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def test_given_cache_control_markers_wherever_the_api_takes_them_when_keyed_then_the_key_is_the_same() -> None:
    plain = {
        **M_BASE,
        "system": "Be brief.",
        "tools": [TOOL],
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "sun"}]}],
            },
            {"role": "user", "content": "And tomorrow?"},
        ],
    }
    marked = {
        **plain,
        "cache_control": MARKER,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": MARKER}],
        "tools": [{**TOOL, "cache_control": MARKER}],
        "messages": [
            plain["messages"][0],
            plain["messages"][1],
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "sun", "cache_control": MARKER}],
                        "cache_control": MARKER,
                    }
                ],
            },
            {"role": "user", "content": [{"type": "text", "text": "And tomorrow?", "cache_control": MARKER}]},
        ],
    }
    assert key_of(MESSAGES, marked) == key_of(MESSAGES, plain)


def test_given_a_tool_schema_property_named_cache_control_when_keyed_then_it_splits_the_key() -> None:
    schema = {"type": "object", "properties": {"cache_control": {"type": "string"}}}
    with_property = {**M_BASE, "tools": [{"name": "f", "input_schema": schema}]}
    without = {**M_BASE, "tools": [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]}
    assert key_of(MESSAGES, with_property) != key_of(MESSAGES, without)


def test_given_a_text_block_or_a_string_when_keyed_then_messages_and_system_share_the_key() -> None:
    blocks = {
        **M_BASE,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}],
    }
    assert key_of(MESSAGES, blocks) == key_of(MESSAGES, {**M_BASE, "system": "Be brief."})


# ----- credential ---------------------------------------------------------------------------------------------------
def test_given_x_api_key_or_bearer_when_read_by_the_messages_dialect_then_the_same_key_and_tenant() -> None:
    by_header = MESSAGES.credential({"x-api-key": "sk-ant-123"})
    by_bearer = MESSAGES.credential({"authorization": "Bearer sk-ant-123"})
    assert by_header == by_bearer == "sk-ant-123"
    assert keys.tenant_id(by_header) == keys.tenant_id(by_bearer)
    assert MESSAGES.credential({"x-api-key": "sk-ant-123", "authorization": "Bearer other"}) == "sk-ant-123"
    assert MESSAGES.credential({}) is None


@pytest.mark.parametrize("headers", [{"x-api-key": ""}, {"x-api-key": "a b"}, {"authorization": "Basic abc"}])
def test_given_a_malformed_credential_when_read_by_the_messages_dialect_then_unauthorized(
    headers: dict[str, str],
) -> None:
    with pytest.raises(Unauthorized):
        MESSAGES.credential(headers)


def test_given_an_x_api_key_when_read_by_the_responses_dialect_then_only_bearer_counts() -> None:
    assert RESPONSES.credential({"x-api-key": "sk-1"}) is None
    assert RESPONSES.credential({"authorization": "Bearer sk-1"}) == "sk-1"


def test_given_the_key_tables_when_docs_apis_is_read_then_it_names_every_field_of_both_apis() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "apis.md").read_text()
    responses, messages = docs.split("## Anthropic Messages API")
    for section, fields in (
        (responses, {**RESPONSES_KEYED, **RESPONSES_IGNORED}),
        (messages, {**MESSAGES_KEYED, **MESSAGES_IGNORED}),
    ):
        missing = [name for name in fields if f"`{name}`" not in section]
        assert not missing, f"docs/apis.md does not explain {missing}"
