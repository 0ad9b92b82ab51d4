"""Stream assembly and replay of the Responses and Messages dialects, checked against the official SDKs.

The `streams/*.sse` files are event sequences as the real APIs send them (the shapes of OpenAI's and
Anthropic's documented examples). The SDKs are the oracle: what our assembler stores from a stream must be
what the SDK builds from it, and what we replay must parse in the SDK back to the stored answer.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcache.dialects.base import Dialect
from llmcache.dialects.registry import dialect_for
from llmcache.dialects.sse import iter_sse_events
from llmcache.errors import UpstreamTimeout, UpstreamUnavailable
from llmcache.local.fake_apis import MessagesAnswer, ResponsesAnswer

STREAMS = Path(__file__).parent / "streams"
RESPONSES = dialect_for("responses")
MESSAGES = dialect_for("messages")
ASK_MESSAGES: dict[str, Any] = {"model": "claude-x", "max_tokens": 1024, "messages": [{"role": "user", "content": "x"}]}


def stream_of(name: str) -> bytes:
    return (STREAMS / name).read_bytes()


def assemble(dialect: Dialect, chunks: list[bytes]) -> dict[str, Any] | None:
    assembler = dialect.assembler()
    for event in iter_sse_events(chunks):
        assembler.feed(event)
    return assembler.result()


def openai_client(body: bytes, status: int = 200, content_type: str = "text/event-stream") -> openai.OpenAI:
    """The openai SDK answered `body` by a mock transport (no network)."""
    answer = httpx.Response(status, headers={"content-type": content_type}, content=body)
    http = httpx.Client(transport=httpx.MockTransport(lambda _: answer))
    return openai.OpenAI(base_url="http://test/v1", api_key="k", http_client=http, max_retries=0)


def anthropic_client(body: bytes, status: int = 200, content_type: str = "text/event-stream") -> anthropic.Anthropic:
    """The anthropic SDK (which runs on httpx2) answered `body` by a mock transport."""
    answer = httpx2.Response(status, headers={"content-type": content_type}, content=body)
    http = httpx2.Client(transport=httpx2.MockTransport(lambda _: answer))
    return anthropic.Anthropic(base_url="http://test", api_key="k", http_client=http, max_retries=0)


# Set to None by the SDKs whether or not the wire carried them: structured-output helpers, and `stop_details`
# (the anthropic SDK copies it from every message_delta).
SDK_ADDED = ("parsed", "parsed_arguments", "parsed_output", "stop_details")


def wire(value: Any) -> Any:
    """An SDK object's dict without the fields the SDK adds for structured outputs: what was on the wire."""
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items() if not (k in SDK_ADDED and v is None)}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def sdk_response(body: bytes) -> dict[str, Any]:
    """What the openai SDK's `responses.stream` builds from these bytes."""
    with openai_client(body).responses.stream(model="m", input="x") as stream:
        final = stream.get_final_response()
    return wire(final.to_dict())


def sdk_message(body: bytes) -> dict[str, Any]:
    """What the anthropic SDK's `messages.stream` builds from these bytes."""
    with anthropic_client(body).messages.stream(**ASK_MESSAGES) as stream:
        final = stream.get_final_message()
    return wire(final.to_dict())


RESPONSE_STREAMS = ["responses_text.sse", "responses_reasoning_tool.sse"]
MESSAGE_STREAMS = ["messages_text.sse", "messages_tool_use.sse", "messages_thinking.sse"]


# ----- assembly -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", RESPONSE_STREAMS)
def test_given_a_real_responses_stream_when_assembled_then_it_is_the_answer_the_sdk_builds(name: str) -> None:
    answer = assemble(RESPONSES, [stream_of(name)])

    assert answer is not None and answer["status"] == "completed"
    assert answer == sdk_response(stream_of(name))
    assert RESPONSES.usage(answer).total == answer["usage"]["total_tokens"] > 0


def test_given_the_responses_text_stream_when_assembled_then_the_text_is_the_deltas_joined() -> None:
    raw = stream_of("responses_text.sse")
    deltas = [json.loads(e.data)["delta"] for e in iter_sse_events([raw]) if e.name == "response.output_text.delta"]

    answer = assemble(RESPONSES, [raw])

    assert answer is not None
    assert (
        answer["output"][0]["content"][0]["text"] == "".join(deltas) == "Hi there! Paris is the capital of France 🇫🇷."
    )


def test_given_a_completed_event_without_output_when_assembled_then_the_output_comes_from_the_done_items() -> None:
    events = [e for e in iter_sse_events([stream_of("responses_reasoning_tool.sse")])]
    last = json.loads(events[-1].data)
    expected = copy.deepcopy(last["response"])
    last["response"]["output"] = None
    raw = b"".join(f"event: {e.name}\ndata: {e.data}\n\n".encode() for e in events[:-1])
    raw += f"event: response.completed\ndata: {json.dumps(last)}\n\n".encode()

    assert assemble(RESPONSES, [raw]) == expected


@pytest.mark.parametrize("name", MESSAGE_STREAMS)
def test_given_a_real_messages_stream_when_assembled_then_it_is_the_message_the_sdk_builds(name: str) -> None:
    answer = assemble(MESSAGES, [stream_of(name)])

    assert answer is not None and answer["stop_reason"]
    assert answer == sdk_message(stream_of(name))


def test_given_the_tool_use_stream_when_assembled_then_the_input_is_the_parsed_json_and_usage_the_final_one() -> None:
    answer = assemble(MESSAGES, [stream_of("messages_tool_use.sse")])

    assert answer is not None
    assert answer["content"][1] == {
        "type": "tool_use",
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "name": "get_weather",
        "input": {"location": "San Francisco, CA", "unit": "fahrenheit"},
    }
    assert answer["stop_reason"] == "tool_use" and answer["usage"] == {"input_tokens": 472, "output_tokens": 89}
    assert MESSAGES.usage(answer).total == 472 + 89


def test_given_the_thinking_stream_when_assembled_then_thinking_and_signature_are_kept() -> None:
    answer = assemble(MESSAGES, [stream_of("messages_thinking.sse")])

    assert answer is not None
    thinking = answer["content"][0]
    assert thinking["thinking"].endswith("453 = 400 + 50 + 3") and thinking["signature"].startswith("EqQBCgIYAhIM")
    assert answer["content"][1] == {"type": "text", "text": "27 * 453 = 12,231"}


@given(st.lists(st.integers(min_value=0, max_value=20000), max_size=12))
@settings(max_examples=60, deadline=None)
def test_given_any_chunk_boundaries_when_assembled_then_the_answer_is_the_same(cuts: list[int]) -> None:
    for dialect, name in ((MESSAGES, "messages_tool_use.sse"), (RESPONSES, "responses_reasoning_tool.sse")):
        raw = stream_of(name)
        points = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
        chunks = [raw[a:b] for a, b in itertools.pairwise(points)]
        assert assemble(dialect, chunks) == assemble(dialect, [raw])


def test_given_an_error_event_mid_stream_when_assembled_then_nothing_is_stored() -> None:
    assert assemble(MESSAGES, [stream_of("messages_overloaded.sse")]) is None


@pytest.mark.parametrize(
    ("dialect", "name"), [(MESSAGES, n) for n in MESSAGE_STREAMS] + [(RESPONSES, n) for n in RESPONSE_STREAMS]
)
def test_given_a_stream_cut_before_its_last_event_when_assembled_then_nothing_is_stored(
    dialect: Dialect, name: str
) -> None:
    raw = stream_of(name)
    cut = raw.rstrip(b"\n").rsplit(b"\n\n", 1)[0] + b"\n\n"  # everything but the final event

    assert assemble(dialect, [cut]) is None
    assert assemble(dialect, [raw[: len(raw) // 2]]) is None


@pytest.mark.parametrize("kind", ["response.incomplete", "response.failed", "error"])
def test_given_a_responses_stream_that_ends_unfinished_when_assembled_then_nothing_is_stored(kind: str) -> None:
    raw = stream_of("responses_text.sse")
    head = raw.rstrip(b"\n").rsplit(b"\n\n", 1)[0] + b"\n\n"
    status = {"response.incomplete": "incomplete", "response.failed": "failed"}.get(kind, "failed")
    payload = {"type": kind, "sequence_number": 99, "response": {"status": status, "output": []}}
    if kind == "error":
        payload = {"type": "error", "code": "server_error", "message": "boom", "param": None, "sequence_number": 99}

    assert assemble(RESPONSES, [head + f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()]) is None


def test_given_a_delta_type_the_gateway_does_not_know_when_assembled_then_nothing_is_stored() -> None:
    raw = stream_of("messages_text.sse").replace(b'"text_delta", "text": "Hello"', b'"future_delta", "text": "Hello"')

    assert assemble(MESSAGES, [raw]) is None


@pytest.mark.parametrize(
    ("dialect", "answer", "complete"),
    [
        (RESPONSES, {"object": "response", "status": "completed", "error": None, "output": []}, True),
        (RESPONSES, {"object": "response", "status": "incomplete", "error": None, "output": []}, False),
        (RESPONSES, {"object": "response", "status": "queued", "error": None, "output": []}, False),
        (RESPONSES, {"object": "response", "status": "completed", "output": [{"no": "type"}]}, False),
        (MESSAGES, {"type": "message", "content": [], "stop_reason": "end_turn"}, True),
        (MESSAGES, {"type": "message", "content": [], "stop_reason": None}, False),
        (MESSAGES, {"type": "error", "error": {"type": "api_error", "message": "x"}}, False),
        (MESSAGES, ["not", "an", "object"], False),
    ],
)
def test_given_an_answer_when_its_completeness_is_asked_then_only_a_finished_one_counts(
    dialect: Dialect, answer: Any, complete: bool
) -> None:
    assert dialect.storable(200, answer) is complete


# ----- replay -------------------------------------------------------------------------------------------------------
def stored_responses() -> list[dict[str, Any]]:
    answers = [assemble(RESPONSES, [stream_of(name)]) for name in RESPONSE_STREAMS]
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
    answers.append(ResponsesAnswer({"model": "m", "input": "Call get_weather", "tools": tools}).plain())
    answers.append(ResponsesAnswer({"model": "m", "input": "long " * 60, "reasoning": {"summary": "auto"}}).plain())
    return [a for a in answers if a is not None]


def stored_messages() -> list[dict[str, Any]]:
    answers = [assemble(MESSAGES, [stream_of(name)]) for name in MESSAGE_STREAMS]
    tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    body = {**ASK_MESSAGES, "thinking": {"type": "enabled", "budget_tokens": 1024}, "tools": tools}
    answers.append(MessagesAnswer({**body, "tool_choice": {"type": "any"}}).plain())
    cited = {
        "type": "char_location",
        "cited_text": "Paris",
        "document_index": 0,
        "start_char_index": 0,
        "end_char_index": 5,
    }
    answers.append(
        {
            "id": "msg_cite",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [
                {"type": "text", "text": "Paris " * 40, "citations": [cited]},
                {"type": "redacted_thinking", "data": "abc"},
            ],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 20},
        }
    )
    return [a for a in answers if a is not None]


@pytest.mark.parametrize("answer", stored_responses(), ids=lambda a: a["output"][-1]["type"])
def test_given_a_stored_response_when_replayed_then_the_openai_sdk_builds_the_same_response(
    answer: dict[str, Any],
) -> None:
    replayed = RESPONSES.replay(answer, {"stream": True})

    assert sdk_response(replayed) == answer
    assert assemble(RESPONSES, [replayed]) == answer


@pytest.mark.parametrize("answer", stored_responses(), ids=lambda a: a["output"][-1]["type"])
def test_given_a_stored_response_when_replayed_to_create_stream_then_numbered_typed_events_carry_the_text(
    answer: dict[str, Any],
) -> None:
    events = list(openai_client(RESPONSES.replay(answer, {})).responses.create(model="m", input="x", stream=True))

    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    expected = "".join(
        part["text"] for item in answer["output"] if item["type"] == "message" for part in item["content"]
    )
    assert text == expected
    assert wire(events[-1].response.to_dict()) == answer


@pytest.mark.parametrize("answer", stored_messages(), ids=lambda a: a["id"])
def test_given_a_stored_message_when_replayed_then_the_anthropic_sdk_builds_the_same_message(
    answer: dict[str, Any],
) -> None:
    replayed = MESSAGES.replay(answer, {"stream": True})

    assert sdk_message(replayed) == answer
    assert assemble(MESSAGES, [replayed]) == answer


def test_given_a_stored_message_when_replayed_then_the_sdk_text_stream_and_usage_are_the_answers() -> None:
    answer = assemble(MESSAGES, [stream_of("messages_text.sse")])
    assert answer is not None
    with anthropic_client(MESSAGES.replay(answer, {})).messages.stream(**ASK_MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == "Hello! Paris is the capital of France 🇫🇷."
    assert final.usage.input_tokens == 25 and final.usage.output_tokens == 15
    events = [e.name for e in iter_sse_events([MESSAGES.replay(answer, {})])]
    assert events[:3] == ["message_start", "content_block_start", "ping"] and events[-2:] == [
        "message_delta",
        "message_stop",
    ]


# ----- errors -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("error", [UpstreamUnavailable("the provider's stream broke"), UpstreamTimeout("too slow")])
def test_given_a_stream_broken_after_its_status_when_the_error_event_is_sent_then_each_sdk_raises(error: Any) -> None:
    head_r = stream_of("responses_text.sse").split(b"event: response.output_text.delta")[0]
    head_m = stream_of("messages_text.sse").split(b"event: content_block_stop")[0]

    with pytest.raises(openai.APIError, match=error.message):
        list(openai_client(head_r + RESPONSES.error_event(error)).responses.create(model="m", input="x", stream=True))
    stream = anthropic_client(head_m + MESSAGES.error_event(error)).messages.stream(**ASK_MESSAGES)
    with pytest.raises(anthropic.APIStatusError, match=error.message), stream as events:
        events.get_final_message()


@pytest.mark.parametrize(
    ("error", "sdk_error", "kind"),
    [
        (UpstreamUnavailable("the provider could not be reached"), anthropic.InternalServerError, "api_error"),
        (UpstreamTimeout("the provider did not answer in time"), anthropic.InternalServerError, "timeout_error"),
    ],
)
def test_given_a_gateway_error_on_messages_when_sent_then_anthropics_envelope_and_the_sdks_error(
    error: Any, sdk_error: type[Exception], kind: str
) -> None:
    body = MESSAGES.error_body(error)
    assert body == {"type": "error", "error": {"type": kind, "message": error.message}}
    client = anthropic_client(json.dumps(body).encode(), error.status, "application/json")

    with pytest.raises(sdk_error) as raised:
        client.messages.create(**ASK_MESSAGES)

    assert raised.value.body == body  # type: ignore[attr-defined]


def test_given_a_gateway_error_on_responses_when_sent_then_openais_envelope() -> None:
    error = UpstreamUnavailable("the provider could not be reached")
    assert RESPONSES.error_body(error) == error.envelope()


# ----- semantic matching --------------------------------------------------------------------------------------------
def test_given_a_responses_request_when_split_for_semantic_matching_then_the_last_user_text_is_compared() -> None:
    base = {
        "model": "m",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": "Hi"},
            {"role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]},
        ],
    }
    split = RESPONSES.semantic_split(RESPONSES.canonical(base))
    other = RESPONSES.semantic_split(
        RESPONSES.canonical({**base, "input": [base["input"][0], {"role": "user", "content": "France's capital?"}]})
    )

    assert split is not None and other is not None
    assert split[0] == "Capital of France?" and other[0] == "France's capital?"
    assert split[1] == other[1] and split[1]["instructions"] == "Be brief."


def test_given_a_messages_request_when_split_for_semantic_matching_then_the_last_user_text_is_compared() -> None:
    base = {
        **ASK_MESSAGES,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Capital"}, {"type": "text", "text": "of France?"}]}
        ],
    }
    split = MESSAGES.semantic_split(MESSAGES.canonical(base))

    assert split is not None and split[0] == "Capital\nof France?" and split[1]["messages"][-1]["content"] is None


@pytest.mark.parametrize(
    ("dialect", "body"),
    [
        (
            MESSAGES,
            {
                **ASK_MESSAGES,
                "messages": [
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "sun"}]}
                ],
            },
        ),
        (MESSAGES, {**ASK_MESSAGES, "messages": [{"role": "assistant", "content": "prefill"}]}),
        (RESPONSES, {"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": "sun"}]}),
        (RESPONSES, {"model": "m", "prompt": {"id": "pmpt_1"}}),
    ],
)
def test_given_a_request_whose_last_turn_is_not_user_text_when_split_then_no_semantic_matching(
    dialect: Dialect, body: dict[str, Any]
) -> None:
    assert dialect.semantic_split(dialect.canonical(body)) is None
