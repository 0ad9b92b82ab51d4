"""OpenAI streams: SSE parsing (dialects.sse), assembly and replay (dialects.openai), checked against the openai SDK."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcache.dialects.openai import StreamAssembler, replay_sse
from llmcache.dialects.sse import SseEvent, iter_sse_events

HEAD = {"id": "chatcmpl-9x", "object": "chat.completion.chunk", "created": 1718000000, "model": "gpt-4o-mini"}
TOP = {**HEAD, "service_tier": "default", "system_fingerprint": "fp_44709d6fcb"}
USAGE = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}


def sse(*payloads: dict[str, Any] | str) -> bytes:
    return b"".join(
        f"data: {p if isinstance(p, str) else json.dumps(p, ensure_ascii=False)}\n\n".encode() for p in payloads
    )


def chunk(index: int = 0, finish: str | None = None, logprobs: Any = None, **delta: Any) -> dict[str, Any]:
    """One chat.completion.chunk as OpenAI sends it with include_usage (usage null, obfuscation padding)."""
    choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
    return {**TOP, "choices": [choice], "usage": None, "obfuscation": "Xq3"}


def iter_sse_data(chunks: Any) -> Any:
    """The `data` payload of each event."""
    return (event.data for event in iter_sse_events(chunks))


def assemble(payloads: list[str]) -> dict[str, Any] | None:
    assembler = StreamAssembler()
    for data in payloads:
        assembler.feed(SseEvent(data))
    return assembler.result()


def assemble_bytes(raw: bytes) -> dict[str, Any] | None:
    return assemble(list(iter_sse_data([raw])))


def chat_answer(*messages: dict[str, Any], finish: str = "stop", usage: Any = USAGE) -> dict[str, Any]:
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "refusal": None, **m},
            "logprobs": None,
            "finish_reason": finish,
        }
        for i, m in enumerate(messages)
    ]
    answer = {**TOP, "object": "chat.completion", "choices": choices}
    if usage is not None:
        answer["usage"] = usage
    return answer


TOOL_ANSWER = chat_answer(
    {
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "call_b",
                "type": "function",
                "function": {"name": "get_time", "arguments": '{"tz":"東京 🕒"}'},
            },
        ],
    },
    finish="tool_calls",
)
TEXT_ANSWER = chat_answer({"content": "Bonjour 👋🏽, 你好世界! " * 9})
COMPLETION_ANSWER = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 1718000000,
    "model": "gpt-3.5-turbo-instruct",
    "choices": [
        {"text": "Once upon a time… 🐉" * 7, "index": 0, "logprobs": None, "finish_reason": "length"},
        {"text": "", "index": 1, "logprobs": None, "finish_reason": "stop"},
    ],
    "usage": USAGE,
}


# --- iter_sse_data

SAMPLE = (
    ": keep-alive comment\r\n"
    "event: message\r\n"
    "id: 7\r\n"
    'data: {"a": "caf\u00e9 \U0001f600"}\r\n'
    "\r\n"
    "data: first line\n"
    "data:second line\n"
    "retry: 100\n"
    "\n"
    ": only a comment, no event\n"
    "\n"
    "data\n"
    "\n"
    "data: [DONE]\r\n"
    "\r\n"
).encode()
SAMPLE_DATA = ['{"a": "caf\u00e9 \U0001f600"}', "first line\nsecond line", "", "[DONE]"]


def test_given_a_sample_stream_split_at_every_byte_when_parsed_then_every_payload_is_intact() -> None:
    # The cuts go through the 4-byte emoji, between each CR and its LF, and inside every field name.
    for cut in range(len(SAMPLE) + 1):
        assert list(iter_sse_data([SAMPLE[:cut], SAMPLE[cut:]])) == SAMPLE_DATA, f"split at byte {cut}"


def test_given_one_byte_chunks_and_a_split_multibyte_character_when_parsed_then_it_is_decoded_whole() -> None:
    assert list(iter_sse_data(SAMPLE[i : i + 1] for i in range(len(SAMPLE)))) == SAMPLE_DATA


def test_given_three_way_splits_around_a_crlf_when_parsed_then_cr_and_lf_count_as_one_line_end() -> None:
    raw = b"data: x\r\ndata: w\r\n\r\ndata: y\r\r"
    for a in range(len(raw)):
        for b in range(a, len(raw)):
            assert list(iter_sse_data([raw[:a], raw[a:b], raw[b:]])) == ["x\nw", "y"], (a, b)


def test_given_a_stream_cut_before_the_blank_line_when_parsed_then_the_last_event_is_dropped() -> None:
    assert list(iter_sse_data([b"data: one\n\ndata: [DONE]\n"])) == ["one"]


def test_given_a_leading_byte_order_mark_when_parsed_then_the_first_field_is_still_read() -> None:
    assert list(iter_sse_data(["\ufeffdata: hi\n\n".encode()])) == ["hi"]


# --- StreamAssembler over realistic upstream streams


def test_given_a_content_stream_with_a_usage_chunk_when_assembled_then_it_equals_the_plain_answer() -> None:
    stream = [
        chunk(role="assistant", content="", refusal=None),
        chunk(content="Hello"),
        chunk(content=", wörld 🌍"),
        chunk(finish="stop"),
        {**TOP, "choices": [], "usage": USAGE, "obfuscation": "p"},
        "[DONE]",
    ]
    assert assemble_bytes(sse(*stream)) == chat_answer({"content": "Hello, wörld 🌍"})


def test_given_a_stream_without_a_usage_chunk_when_assembled_then_usage_is_omitted() -> None:
    stream = [chunk(role="assistant", content="Hi"), chunk(finish="stop"), "[DONE]"]
    result = assemble_bytes(sse(*stream))
    assert result is not None
    assert "usage" not in result
    assert result == chat_answer({"content": "Hi"}, usage=None)


def test_given_tool_calls_split_across_many_deltas_when_assembled_then_they_are_merged_by_index() -> None:
    first = {
        "index": 0,
        "id": "call_a",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    second = {
        "index": 1,
        "id": "call_b",
        "type": "function",
        "function": {"name": "get_time", "arguments": ""},
    }
    args_a, args_b = '{"city":"Paris"}', '{"tz":"東京 🕒"}'
    stream = [chunk(role="assistant", content=None, tool_calls=[first], refusal=None)]
    stream += [chunk(tool_calls=[{"index": 0, "function": {"arguments": c}}]) for c in args_a[:9]]
    stream += [chunk(tool_calls=[second])]
    stream += [chunk(tool_calls=[{"index": 1, "function": {"arguments": c}}]) for c in args_b]
    stream += [chunk(tool_calls=[{"index": 0, "function": {"arguments": args_a[9:]}}])]
    stream += [chunk(finish="tool_calls"), {**TOP, "choices": [], "usage": USAGE}, "[DONE]"]
    assert assemble_bytes(sse(*stream)) == TOOL_ANSWER


def test_given_role_and_tool_call_id_repeated_in_every_delta_when_assembled_then_they_stay_whole() -> None:
    call = {"index": 0, "id": "call_a", "type": "function"}
    stream = [
        chunk(
            role="assistant",
            tool_calls=[{**call, "function": {"name": "get_weather", "arguments": '{"city":'}}],
        ),
        chunk(role="assistant", tool_calls=[{**call, "function": {"arguments": '"Paris"}'}}]),
        chunk(role="assistant", finish="tool_calls"),
        "[DONE]",
    ]
    result = assemble_bytes(sse(*stream))
    assert result is not None
    message = result["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert message["tool_calls"] == TOOL_ANSWER["choices"][0]["message"]["tool_calls"][:1]


def test_given_two_interleaved_choices_when_assembled_then_choices_are_separate_and_sorted() -> None:
    stream = [
        chunk(1, role="assistant", content=""),
        chunk(0, role="assistant", content=""),
        chunk(1, content="Beta "),
        chunk(0, content="Alpha "),
        chunk(1, content="two"),
        chunk(0, content="one"),
        chunk(1, finish="length"),
        chunk(0, finish="stop"),
        {**TOP, "choices": [], "usage": USAGE},
        "[DONE]",
    ]
    result = assemble_bytes(sse(*stream))
    assert result is not None
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in result["choices"]] == [
        (0, "Alpha one", "stop"),
        (1, "Beta two", "length"),
    ]


def test_given_logprobs_on_each_chunk_when_assembled_then_the_content_lists_are_concatenated() -> None:
    def lp(token: str) -> dict[str, Any]:
        entry = {"token": token, "logprob": -0.5, "bytes": list(token.encode()), "top_logprobs": []}
        return {"content": [entry], "refusal": None}

    stream = [
        chunk(role="assistant", content="", logprobs={"content": [], "refusal": None}),
        chunk(content="Hi", logprobs=lp("Hi")),
        chunk(content=" there", logprobs=lp(" there")),
        chunk(finish="stop"),
        "[DONE]",
    ]
    result = assemble_bytes(sse(*stream))
    assert result is not None
    assert result["choices"][0]["logprobs"] == {
        "content": lp("Hi")["content"] + lp(" there")["content"],
        "refusal": None,
    }


def test_given_a_refusal_stream_when_assembled_then_refusal_is_set_and_content_is_null() -> None:
    stream = [
        chunk(role="assistant", content=None, refusal=""),
        chunk(refusal="I can't "),
        chunk(refusal="help with that."),
        chunk(finish="stop"),
        "[DONE]",
    ]
    result = assemble_bytes(sse(*stream))
    assert result is not None
    assert result["choices"][0]["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": "I can't help with that.",
    }


def test_given_a_completions_stream_when_assembled_then_it_is_a_text_completion_with_merged_logprobs() -> None:
    head = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1718000000,
        "model": "gpt-3.5-turbo-instruct",
    }

    def piece(text: str, finish: str | None = None, logprobs: Any = None) -> dict[str, Any]:
        return {
            **head,
            "choices": [{"text": text, "index": 0, "logprobs": logprobs, "finish_reason": finish}],
        }

    stream = [
        piece(
            "Once",
            logprobs={"tokens": ["Once"], "token_logprobs": [-0.1], "top_logprobs": None, "text_offset": [0]},
        ),
        piece(
            " upon",
            logprobs={
                "tokens": [" upon"],
                "token_logprobs": [-0.2],
                "top_logprobs": None,
                "text_offset": [4],
            },
        ),
        piece("", finish="length"),
        {**head, "choices": [], "usage": USAGE},
        "[DONE]",
    ]
    assert assemble_bytes(sse(*stream)) == {
        **head,
        "choices": [
            {
                "text": "Once upon",
                "index": 0,
                "logprobs": {
                    "tokens": ["Once", " upon"],
                    "token_logprobs": [-0.1, -0.2],
                    "top_logprobs": None,
                    "text_offset": [0, 4],
                },
                "finish_reason": "length",
            }
        ],
        "usage": USAGE,
    }


COMPLETE = [chunk(role="assistant", content="Hi"), chunk(finish="stop")]


@pytest.mark.parametrize(
    "payloads",
    [
        pytest.param([*COMPLETE], id="no [DONE]"),
        pytest.param([chunk(role="assistant", content="Hi"), "[DONE]"], id="no finish_reason"),
        pytest.param(
            [chunk(0, content="a"), chunk(1, content="b"), chunk(0, finish="stop"), "[DONE]"],
            id="one of two choices unfinished",
        ),
        pytest.param(
            [
                COMPLETE[0],
                {"error": {"message": "overloaded", "type": "server_error"}},
                COMPLETE[1],
                "[DONE]",
            ],
            id="error event",
        ),
        pytest.param([COMPLETE[0], '{"id": "chatcmpl-9x", "choi', COMPLETE[1], "[DONE]"], id="garbage data line"),
        pytest.param([COMPLETE[0], "[1, 2]", COMPLETE[1], "[DONE]"], id="JSON that is not a chunk"),
        pytest.param([chunk(tool_calls=[1, 2], finish="tool_calls"), "[DONE]"], id="tool calls not objects"),
        pytest.param([chunk(tool_calls=[{"index": "a"}], finish="tool_calls"), "[DONE]"], id="tool call index"),
        pytest.param([{**TOP, "choices": [], "usage": USAGE}, "[DONE]"], id="no choices at all"),
        pytest.param(["[DONE]"], id="only [DONE]"),
    ],
)
def test_given_an_incomplete_or_broken_stream_when_assembled_then_result_is_none(payloads: list[Any]) -> None:
    assert assemble_bytes(sse(*payloads)) is None


KEYS = ["choices", "delta", "index", "tool_calls", "function", "arguments", "content", "role", "id", "type"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=20,
)
chunk_like = st.fixed_dictionaries(
    {
        "choices": st.lists(
            st.fixed_dictionaries(
                {"finish_reason": st.just("stop")},
                optional={"index": json_values, "delta": json_values, "logprobs": json_values, "text": json_values},
            ),
            max_size=2,
        )
    },
    optional={"usage": json_values, "object": st.sampled_from(["text_completion", "chat.completion.chunk"])},
)


@settings(max_examples=200, deadline=None)
@given(st.lists(chunk_like | json_values, min_size=1, max_size=4))
def test_given_arbitrary_json_chunks_when_assembled_then_result_is_none_or_a_json_answer_never_an_error(
    payloads: list[Any],
) -> None:
    result = assemble([json.dumps(p) for p in payloads] + ["[DONE]"])
    assert result is None or json.loads(json.dumps(result))["choices"]


def test_given_chunks_after_done_when_assembled_then_they_are_ignored() -> None:
    result = assemble_bytes(sse(*COMPLETE, "[DONE]", chunk(content=" more")))
    assert result is not None
    assert result["choices"][0]["message"]["content"] == "Hi"


# --- replay_sse


def events_of(raw: bytes) -> list[dict[str, Any]]:
    payloads = list(iter_sse_data([raw]))
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


def test_given_include_usage_when_replayed_then_every_chunk_has_null_usage_and_a_last_chunk_carries_it() -> None:
    events = events_of(replay_sse(TEXT_ANSWER, include_usage=True))
    assert all(e["usage"] is None and len(e["choices"]) == 1 for e in events[:-1])
    assert events[-1]["choices"] == []
    assert events[-1]["usage"] == USAGE
    assert {(e["id"], e["object"], e["model"], e["system_fingerprint"]) for e in events} == {
        (TOP["id"], "chat.completion.chunk", TOP["model"], TOP["system_fingerprint"])
    }


def test_given_no_include_usage_when_replayed_then_no_chunk_mentions_usage() -> None:
    events = events_of(replay_sse(TEXT_ANSWER, include_usage=False))
    assert all("usage" not in e and e["choices"] for e in events)


def test_given_a_chunk_size_when_replayed_then_content_comes_in_pieces_of_at_most_that_many_characters() -> None:
    events = events_of(replay_sse(TEXT_ANSWER, include_usage=False, chunk_chars=5))
    pieces = [e["choices"][0]["delta"].get("content") for e in events]
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert all(len(p) <= 5 for p in pieces if p)
    assert len([p for p in pieces if p]) == -(-len(TEXT_ANSWER["choices"][0]["message"]["content"]) // 5)


def test_given_tool_calls_when_replayed_then_each_starts_with_id_type_and_name_and_empty_arguments() -> None:
    events = events_of(replay_sse(TOOL_ANSWER, include_usage=False, chunk_chars=4))
    calls = [c for e in events for c in e["choices"][0]["delta"].get("tool_calls", [])]
    heads = [c for c in calls if "id" in c]
    assert heads == [
        {
            "index": 0,
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}},
    ]
    assert len(calls) > len(heads) + 4


# --- replay parsed by the official openai SDK


def sse_transport(body: bytes) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    )


def sync_client(body: bytes) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://test/v1", api_key="k", http_client=httpx.Client(transport=sse_transport(body))
    )


def collect_chat(chunks: list[Any]) -> dict[str, Any]:
    """What an app does with an SDK stream: join content, merge tool calls, keep finish reason and usage."""
    content, calls, finish, usage = "", {}, None, None
    for c in chunks:
        usage = c.usage or usage
        for choice in c.choices:
            content += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = call.id or entry["id"]
                entry["name"] += (call.function and call.function.name) or ""
                entry["arguments"] += (call.function and call.function.arguments) or ""
    return {"content": content, "calls": [calls[i] for i in sorted(calls)], "finish": finish, "usage": usage}


def expected_chat(answer: dict[str, Any]) -> dict[str, Any]:
    choice = answer["choices"][0]
    calls = choice["message"].get("tool_calls") or []
    return {
        "content": choice["message"]["content"] or "",
        "calls": [{"id": c["id"], **c["function"]} for c in calls],
        "finish": choice["finish_reason"],
        "usage": answer["usage"],
    }


def chat_request(client: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )


@pytest.mark.parametrize("answer", [TEXT_ANSWER, TOOL_ANSWER], ids=["content", "tool calls"])
def test_given_a_replayed_answer_when_streamed_by_the_openai_sdk_then_the_app_sees_the_stored_answer(
    answer: dict[str, Any],
) -> None:
    chunks = list(chat_request(sync_client(replay_sse(answer, include_usage=True, chunk_chars=3))))
    got = collect_chat(chunks)
    assert {**got, "usage": got["usage"].model_dump(exclude_unset=True)} == expected_chat(answer)
    assert chunks[-1].choices == []
    assert all(c.id == answer["id"] and c.model == answer["model"] for c in chunks)


def test_given_a_replay_without_usage_when_streamed_by_the_openai_sdk_then_no_chunk_has_usage() -> None:
    chunks = list(chat_request(sync_client(replay_sse(TEXT_ANSWER, include_usage=False))))
    assert all(c.usage is None and c.choices for c in chunks)
    assert collect_chat(chunks)["content"] == TEXT_ANSWER["choices"][0]["message"]["content"]


def test_given_a_replayed_answer_when_streamed_by_the_async_openai_sdk_then_the_app_sees_it() -> None:
    async def stream() -> list[Any]:
        body = replay_sse(TOOL_ANSWER, include_usage=True, chunk_chars=2)
        client = openai.AsyncOpenAI(
            base_url="http://test/v1",
            api_key="k",
            http_client=httpx.AsyncClient(transport=sse_transport(body)),
        )
        return [c async for c in await chat_request(client)]

    got = collect_chat(asyncio.run(stream()))
    assert {**got, "usage": got["usage"].model_dump(exclude_unset=True)} == expected_chat(TOOL_ANSWER)


def test_given_a_replayed_text_completion_when_streamed_by_the_openai_sdk_then_texts_and_usage_match() -> None:
    body = replay_sse(COMPLETION_ANSWER, include_usage=True, chunk_chars=5)
    stream = sync_client(body).completions.create(
        model="gpt-3.5-turbo-instruct",
        prompt="tell me",
        n=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts, finishes, usage = {0: "", 1: ""}, {}, None
    for c in stream:
        assert c.object == "text_completion"
        usage = c.usage or usage
        for choice in c.choices:
            texts[choice.index] += choice.text
            finishes[choice.index] = choice.finish_reason or finishes.get(choice.index)
    assert texts == {c["index"]: c["text"] for c in COMPLETION_ANSWER["choices"]}
    assert finishes == {0: "length", 1: "stop"}
    assert usage is not None
    assert usage.model_dump(exclude_unset=True) == USAGE


# --- round trip: replay then assemble gives the stored answer back

texts = st.text(max_size=120)
tool_calls = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.text(min_size=1, max_size=12),
            "type": st.just("function"),
            "function": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=20), "arguments": texts}),
        }
    ),
    min_size=1,
    max_size=4,
)
messages = st.one_of(
    st.fixed_dictionaries({"content": texts}),
    st.fixed_dictionaries({"content": st.none() | st.just(""), "tool_calls": tool_calls}),
    st.fixed_dictionaries({"content": st.none(), "refusal": texts}),
    st.fixed_dictionaries({"content": texts, "annotations": st.just([])}),
    st.fixed_dictionaries(
        {"content": st.none(), "function_call": st.fixed_dictionaries({"name": texts, "arguments": texts})}
    ),
    st.fixed_dictionaries(
        {
            "content": st.none(),
            "audio": st.fixed_dictionaries({"id": texts, "data": texts, "transcript": texts}),
        }
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(messages, min_size=1, max_size=3),
    st.sampled_from(["stop", "length", "tool_calls", "content_filter"]),
    st.booleans(),
    st.integers(min_value=1, max_value=80),
)
def test_given_any_chat_answer_when_replayed_and_reassembled_then_it_is_unchanged(
    msgs: list[dict[str, Any]], finish: str, include_usage: bool, chunk_chars: int
) -> None:
    answer = chat_answer(*msgs, finish=finish)
    original = copy.deepcopy(answer)
    result = assemble_bytes(replay_sse(answer, include_usage=include_usage, chunk_chars=chunk_chars))
    if not include_usage:
        del original["usage"]
    assert result == original


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(texts, st.sampled_from(["stop", "length"])), min_size=1, max_size=3),
    st.integers(min_value=1, max_value=80),
)
def test_given_any_text_completion_when_replayed_and_reassembled_then_it_is_unchanged(
    choices: list[tuple[str, str]], chunk_chars: int
) -> None:
    answer = {
        **COMPLETION_ANSWER,
        "choices": [{"text": t, "index": i, "logprobs": None, "finish_reason": f} for i, (t, f) in enumerate(choices)],
    }
    assert assemble_bytes(replay_sse(answer, include_usage=True, chunk_chars=chunk_chars)) == answer


def test_given_named_events_split_across_chunks_when_parsed_then_each_keeps_its_name_and_data() -> None:

    wire = [b"event: message_st", b'art\ndata: {"a":', b" 1}\n\nid: 7\ndata: x\ndata: y\n\n", b"data: cut"]
    events = list(iter_sse_events(wire))
    assert events == [SseEvent('{"a": 1}', "message_start"), SseEvent("x\ny")]  # the cut last one is dropped
    assert events[0].encode() == b'event: message_start\ndata: {"a": 1}\n\n'
    assert events[1].encode() == b"data: x\ndata: y\n\n"  # id lines are never passed on


def test_given_each_cached_route_when_its_dialect_is_looked_up_then_embeddings_are_cached_per_input() -> None:
    from llmcache.dialects.registry import dialect_for, routes
    from llmcache.errors import UpstreamUnavailable

    assert set(routes()) >= {"chat/completions", "completions", "embeddings"}
    chat = dialect_for("chat/completions")
    assert not chat.per_input and dialect_for("embeddings").per_input
    event = chat.error_event(UpstreamUnavailable("the provider's stream broke"))
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert json.loads(event[6:])["error"]["code"] == "upstream_unavailable"
    assert chat.variant({"stream": True, "stream_options": {"include_usage": True}}) != chat.variant({"stream": True})
