"""The offline provider speaks the Responses API, Anthropic's Messages API, moderations and file uploads as
the real ones do: checked with the official openai and anthropic SDKs and raw HTTP."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import anthropic
import httpx
import httpx2
import openai
import pytest

from llmcache.dialects.registry import dialect_for
from llmcache.dialects.sse import iter_sse_events
from llmcache.local.fake_provider import FakeProvider, start_fake_provider

QUESTION = "What is the capital of France?"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
ASK: dict = {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": [{"role": "user", "content": QUESTION}]}


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with start_fake_provider() as running:
        yield running


@pytest.fixture
def oai(provider: FakeProvider) -> openai.OpenAI:
    provider.reset()
    return openai.OpenAI(base_url=provider.base_url, api_key="sk-test-abcd", max_retries=0, timeout=10)


@pytest.fixture
def claude(provider: FakeProvider) -> anthropic.Anthropic:
    provider.reset()
    return anthropic.Anthropic(base_url=provider.url, api_key="sk-ant-test-wxyz", max_retries=0, timeout=10)


# ----- Responses API ------------------------------------------------------------------------------------------------
def test_given_a_responses_request_when_answered_then_a_completed_response_with_usage(oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="gpt-4.1-mini", input=QUESTION, instructions="Be brief.")

    assert response.id.startswith("resp_") and response.object == "response" and response.status == "completed"
    assert response.output_text == f"offline answer to: {QUESTION}"
    assert response.instructions == "Be brief."
    assert response.usage is not None
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens > 0


def test_given_a_streamed_responses_request_when_read_then_numbered_typed_events_end_in_completed(
    oai: openai.OpenAI,
) -> None:
    events = list(oai.responses.create(model="gpt-4.1-mini", input=QUESTION, stream=True))

    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1].type == "response.completed"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 3 and "".join(deltas) == events[-1].response.output_text


def test_given_a_streamed_response_when_assembled_by_the_dialect_then_it_is_the_completed_response(
    provider: FakeProvider,
) -> None:
    body = {"model": "gpt-4.1-mini", "input": QUESTION, "stream": True, "reasoning": {"summary": "auto"}}
    raw = httpx.post(f"{provider.base_url}/responses", json=body, headers={"Authorization": "Bearer sk-1"}).content
    dialect = dialect_for("responses")
    assert dialect is not None
    assembler = dialect.assembler()
    for event in iter_sse_events([raw]):
        assembler.feed(event)

    answer = assembler.result()
    assert answer is not None and [item["type"] for item in answer["output"]] == ["reasoning", "message"]


def test_given_function_tools_and_a_question_naming_one_when_answered_then_a_function_call(
    oai: openai.OpenAI,
) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER}]
    with oai.responses.stream(model="gpt-4.1-mini", input="Use get_weather for Paris", tools=tools) as stream:  # type: ignore[arg-type]
        final = stream.get_final_response()

    call = final.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Use get_weather for Paris", "days": 1}


def test_given_a_max_output_tokens_below_the_answer_when_answered_then_the_response_is_incomplete(
    oai: openai.OpenAI,
) -> None:
    response = oai.responses.create(model="gpt-4.1-mini", input=QUESTION, max_output_tokens=2)
    events = list(oai.responses.create(model="gpt-4.1-mini", input=QUESTION, max_output_tokens=2, stream=True))

    assert response.status == "incomplete" and response.incomplete_details is not None
    assert events[-1].type == "response.incomplete"


def test_given_a_fault_model_on_responses_when_called_then_openais_error_envelope(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as raised:
        oai.responses.create(model="fake-error-429", input=QUESTION)

    assert raised.value.body["type"] == "requests"  # type: ignore[index]


# ----- Messages API -------------------------------------------------------------------------------------------------
def test_given_a_messages_request_when_answered_then_a_message_with_stop_reason_and_usage(
    claude: anthropic.Anthropic,
) -> None:
    message = claude.messages.create(**ASK)

    assert message.id.startswith("msg_01") and message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text == f"offline answer to: {QUESTION}"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_given_thinking_and_a_forced_tool_when_streamed_then_the_sdk_builds_thinking_and_tool_use(
    claude: anthropic.Anthropic,
) -> None:
    tools = [{"name": "get_weather", "input_schema": WEATHER}]
    with claude.messages.stream(
        **ASK, thinking={"type": "enabled", "budget_tokens": 1024}, tools=tools, tool_choice={"type": "any"}
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()

    assert [block.type for block in final.content] == ["thinking", "tool_use"]
    assert final.content[0].signature and final.content[1].input == {"city": QUESTION, "days": 1}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"


def test_given_a_streamed_message_when_read_raw_then_named_events_with_a_ping_and_no_done(
    provider: FakeProvider,
) -> None:
    headers = {"x-api-key": "sk-ant-1", "anthropic-version": "2023-06-01"}
    raw = httpx.post(f"{provider.url}/v1/messages", json={**ASK, "stream": True}, headers=headers).content
    names = [event.name for event in iter_sse_events([raw])]

    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"] and b"[DONE]" not in raw


def test_given_an_overloaded_fault_when_called_then_the_sdk_raises_anthropics_overloaded_error(
    claude: anthropic.Anthropic,
) -> None:
    with pytest.raises(anthropic.APIStatusError) as raised:
        claude.messages.create(**{**ASK, "model": "fake-error-529"})

    assert raised.value.status_code == 529
    assert raised.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}  # type: ignore[index]


@pytest.mark.parametrize(
    ("headers", "status", "kind"),
    [
        ({"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": "sk-invalid-1", "anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": "sk-ant-1"}, 400, "invalid_request_error"),
    ],
)
def test_given_a_bad_credential_or_no_version_when_called_then_anthropics_error_envelope(
    provider: FakeProvider, headers: dict[str, str], status: int, kind: str
) -> None:
    response = httpx.post(f"{provider.url}/v1/messages", json=ASK, headers=headers)

    assert response.status_code == status
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind and body["request_id"].startswith("req_")


def test_given_a_broken_stream_fault_when_messages_are_streamed_then_the_sdk_sees_no_final_message(
    claude: anthropic.Anthropic,
) -> None:
    stream = claude.messages.stream(**{**ASK, "model": "fake-broken-stream"})
    with pytest.raises((anthropic.APIConnectionError, httpx2.HTTPError)), stream as events:
        events.get_final_message()


def test_given_a_count_tokens_request_when_answered_then_input_tokens(claude: anthropic.Anthropic) -> None:
    assert claude.messages.count_tokens(model="claude-sonnet-4-5", messages=ASK["messages"]).input_tokens > 0


def test_given_an_x_api_key_or_the_sdks_bearer_key_when_stats_are_read_then_both_are_redacted(
    claude: anthropic.Anthropic, provider: FakeProvider
) -> None:
    claude.messages.create(**ASK)  # this SDK sends its api_key as `Authorization: Bearer`
    headers = {"x-api-key": "sk-ant-other-1234", "anthropic-version": "2023-06-01"}
    assert httpx.post(f"{provider.url}/v1/messages", json=ASK, headers=headers).status_code == 200

    sdk_call, raw_call = provider.requests("POST /v1/messages")[-2:]
    assert sdk_call["headers"]["authorization"] == "***wxyz" and sdk_call["body"]["max_tokens"] == 256
    assert raw_call["headers"]["x-api-key"] == "***1234"


# ----- passed-on routes ---------------------------------------------------------------------------------------------
def test_given_a_moderation_request_when_answered_then_one_unflagged_result_per_input(oai: openai.OpenAI) -> None:
    moderation = oai.moderations.create(input=["hello", "world"])

    assert len(moderation.results) == 2 and not moderation.results[0].flagged
    assert moderation.results[0].categories.violence is False


def test_given_a_multipart_file_upload_when_answered_then_a_file_object_of_its_size_and_name(
    oai: openai.OpenAI, provider: FakeProvider
) -> None:
    content = b'{"custom_id": "1", "body": {}}\n' * 3

    uploaded = oai.files.create(file=("batch.jsonl", io.BytesIO(content)), purpose="batch")

    assert uploaded.id.startswith("file-") and uploaded.bytes == len(content)
    assert uploaded.filename == "batch.jsonl" and uploaded.purpose == "batch"
    assert provider.requests("POST /v1/files")[-1]["headers"]["content-type"].startswith("multipart/form-data")


def test_given_a_file_upload_that_is_not_a_form_when_answered_then_400(provider: FakeProvider) -> None:
    response = httpx.post(
        f"{provider.base_url}/files", json={"purpose": "batch"}, headers={"Authorization": "Bearer k"}
    )

    assert response.status_code == 400 and "multipart" in response.json()["error"]["message"]
