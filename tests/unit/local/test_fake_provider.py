"""The offline provider speaks OpenAI's wire format: checked with the official SDK and raw HTTP."""

from __future__ import annotations

import base64
import json
import math
import struct
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from llmcache.local.fake_provider import FakeProvider, embedding_vector, start_fake_provider

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}},
        },
    }
]


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with start_fake_provider() as running:
        yield running


@pytest.fixture
def client(provider: FakeProvider) -> OpenAI:
    provider.reset()
    return OpenAI(base_url=provider.base_url, api_key="sk-test-abcd", max_retries=0, timeout=10)


def test_given_a_chat_request_when_answered_then_it_is_a_chat_completion_with_usage(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=QUESTION)  # type: ignore[arg-type]
    body = json.loads(raw.http_response.content)

    completion = raw.parse()
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.content == "offline answer to: What is the capital of France?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert body["choices"][0]["message"]["refusal"] is None and body["choices"][0]["logprobs"] is None
    assert body["system_fingerprint"]


def test_given_the_same_request_twice_when_answered_then_content_is_equal_but_ids_differ(client: OpenAI) -> None:
    first = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)  # type: ignore[arg-type]
    second = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)  # type: ignore[arg-type]

    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.id != second.id


def test_given_n_3_when_answered_then_three_indexed_choices(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, n=3)  # type: ignore[arg-type]

    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert len({c.message.content for c in completion.choices}) == 3


def test_given_max_tokens_when_the_answer_is_longer_then_it_is_cut_with_finish_reason_length(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, max_tokens=2)  # type: ignore[arg-type]

    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 2


def test_given_stream_with_include_usage_when_answered_then_role_content_finish_and_usage_chunks_then_done(
    provider: FakeProvider,
) -> None:
    body = {"model": "gpt-4o-mini", "messages": QUESTION, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream(
        "POST", f"{provider.base_url}/chat/completions", json=body, headers={"Authorization": "Bearer sk-x"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]

    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == "offline answer to: What is the capital of France?"
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) > 2
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])


def test_given_stream_without_include_usage_when_answered_then_no_usage_chunk(client: OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, stream=True))  # type: ignore[arg-type]

    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_given_tools_and_a_question_naming_one_when_answered_then_a_tool_call(client: OpenAI) -> None:
    messages = [{"role": "user", "content": "Use get_weather for Paris"}]

    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)  # type: ignore[arg-type]

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Use get_weather for Paris", "days": 1}  # type: ignore[union-attr]


def test_given_tools_when_streamed_then_tool_call_deltas_by_index_assemble_in_the_sdk(client: OpenAI) -> None:
    messages = [{"role": "user", "content": "Use get_weather for Paris"}]

    with client.chat.completions.stream(model="gpt-4o-mini", messages=messages, tools=TOOLS) as stream:  # type: ignore[arg-type]
        for _ in stream:
            pass
        final = stream.get_final_completion()

    call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"] == "Use get_weather for Paris"
    assert final.choices[0].finish_reason == "tool_calls"


def test_given_tools_but_a_plain_question_when_answered_then_text(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, tools=TOOLS)  # type: ignore[arg-type]

    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"


def test_given_a_completions_request_when_answered_plain_and_streamed_then_same_text(client: OpenAI) -> None:
    plain = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    chunks = list(
        client.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="Say hi", stream=True, stream_options={"include_usage": True}
        )
    )

    assert plain.object == "text_completion"
    assert plain.choices[0].text.strip() == "offline answer to: Say hi"
    assert "".join(c.choices[0].text for c in chunks if c.choices) == plain.choices[0].text
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == plain.usage.total_tokens  # type: ignore[union-attr]


def test_given_a_batch_of_inputs_when_embedded_then_unit_vectors_in_order_with_usage(client: OpenAI) -> None:
    result = client.embeddings.create(
        model="text-embedding-3-small", input=["a cat", "a dog"], dimensions=64, encoding_format="float"
    )

    assert [d.index for d in result.data] == [0, 1]
    assert all(len(d.embedding) == 64 for d in result.data)
    assert all(math.isclose(sum(x * x for x in d.embedding), 1.0, rel_tol=1e-6) for d in result.data)
    assert result.data[0].embedding == embedding_vector("a cat", 64)
    assert result.usage.prompt_tokens == result.usage.total_tokens == 4


def test_given_base64_encoding_when_embedded_then_little_endian_float32_of_the_same_vector(
    provider: FakeProvider,
) -> None:
    body = {"model": "text-embedding-3-small", "input": "a cat", "dimensions": 8, "encoding_format": "base64"}

    response = httpx.post(f"{provider.base_url}/embeddings", json=body, headers={"Authorization": "Bearer k"})

    raw = base64.b64decode(response.json()["data"][0]["embedding"])
    decoded = struct.unpack("<8f", raw)
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(decoded, embedding_vector("a cat", 8), strict=True))


def test_given_no_dimensions_when_embedded_then_the_models_default_size(client: OpenAI) -> None:
    small = client.embeddings.create(model="text-embedding-3-small", input="x", encoding_format="float")
    large = client.embeddings.create(model="text-embedding-3-large", input="x", encoding_format="float")

    assert (len(small.data[0].embedding), len(large.data[0].embedding)) == (1536, 3072)


def test_given_paraphrases_and_unrelated_text_when_embedded_then_paraphrases_are_nearer() -> None:
    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    base = embedding_vector("What is the capital of France?", 256)
    paraphrase = embedding_vector("what is the capital city of France", 256)
    unrelated = embedding_vector("Bake bread at 220 degrees", 256)

    assert cosine(base, base) == pytest.approx(1.0)
    assert cosine(base, paraphrase) > 0.6 > cosine(base, unrelated)


def test_given_the_models_route_when_listed_then_an_openai_model_list(client: OpenAI) -> None:
    models = client.models.list()

    assert "gpt-4o-mini" in [m.id for m in models.data]


def test_given_no_bearer_credential_when_called_then_401_in_the_openai_envelope(provider: FakeProvider) -> None:
    response = httpx.post(f"{provider.base_url}/chat/completions", json={"model": "gpt-4o-mini", "messages": QUESTION})

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_given_an_invalid_key_when_called_then_401_invalid_api_key(provider: FakeProvider) -> None:
    client = OpenAI(base_url=provider.base_url, api_key="sk-invalid-1", max_retries=0)

    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)  # type: ignore[arg-type]

    assert raised.value.code == "invalid_api_key"


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("fake-error-500", openai.InternalServerError),
        ("fake-error-429", openai.RateLimitError),
        ("fake-error-400", openai.BadRequestError),
        ("fake-drop", openai.APIConnectionError),
        ("fake-broken-stream", openai.APIConnectionError),
    ],
)
def test_given_a_fault_model_when_called_then_the_sdk_sees_that_failure(
    client: OpenAI, model: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.chat.completions.create(model=model, messages=QUESTION)  # type: ignore[arg-type]


def test_given_fake_garbage_when_called_then_200_with_a_body_that_is_not_json(provider: FakeProvider) -> None:
    response = httpx.post(
        f"{provider.base_url}/chat/completions",
        json={"model": "fake-garbage", "messages": QUESTION},
        headers={"Authorization": "Bearer k"},
    )

    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_given_fake_no_choices_when_called_then_200_with_empty_choices(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="fake-no-choices", messages=QUESTION)  # type: ignore[arg-type]

    assert completion.choices == []


def test_given_fake_slow_when_called_then_the_answer_waits(client: OpenAI) -> None:
    started = time.monotonic()
    client.chat.completions.create(model="fake-slow-300", messages=QUESTION)  # type: ignore[arg-type]

    assert time.monotonic() - started >= 0.3


def test_given_a_broken_stream_when_read_then_the_connection_drops_before_done(client: OpenAI) -> None:
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="fake-broken-stream", messages=QUESTION, stream=True):  # type: ignore[arg-type]
            seen.append(chunk)

    assert seen and all(c.choices[0].finish_reason is None for c in seen if c.choices)


def test_given_stream_no_finish_when_read_then_done_arrives_without_a_finish_reason(client: OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="fake-stream-no-finish", messages=QUESTION, stream=True))  # type: ignore[arg-type]

    assert chunks and all(c.choices[0].finish_reason is None for c in chunks)


def test_given_a_forced_fault_when_the_next_requests_come_then_only_that_many_fail(
    client: OpenAI, provider: FakeProvider
) -> None:
    provider.set_fault("error-503", times=1)

    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)  # type: ignore[arg-type]
    assert client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION).choices  # type: ignore[arg-type]


def test_given_requests_when_stats_are_read_then_counts_and_bodies_with_the_key_redacted(
    client: OpenAI, provider: FakeProvider
) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)  # type: ignore[arg-type]
    client.embeddings.create(model="text-embedding-3-small", input="x")

    stats = httpx.get(f"{provider.url}/_fake/stats").json()

    assert stats["counts"] == {"POST /v1/chat/completions": 1, "POST /v1/embeddings": 1}
    assert stats["requests"][0]["body"]["messages"] == QUESTION
    assert stats["requests"][0]["headers"]["authorization"] == "***abcd"
    assert "sk-test-abcd" not in json.dumps(stats)
    assert httpx.post(f"{provider.url}/_fake/reset").status_code == 200
    assert provider.stats()["total"] == 0


def test_given_a_fault_ordered_over_http_when_the_next_request_comes_then_it_fails(
    client: OpenAI, provider: FakeProvider
) -> None:
    assert httpx.post(f"{provider.url}/_fake/fault", json={"fault": "error-500", "times": 1}).status_code == 200

    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)  # type: ignore[arg-type]


def test_given_the_lambda_handler_module_when_imported_then_it_does_not_load_the_fake_provider() -> None:
    import subprocess
    import sys

    code = "import sys, llmcache.handler; print('llmcache.local.fake_provider' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)

    assert result.stdout.strip() == "False"


def test_given_a_stored_response_when_retrieved_by_id_then_the_sdk_gets_the_same_response(client: OpenAI) -> None:
    created = client.responses.create(model="gpt-4.1-mini", input="Where is Paris?")

    fetched = client.responses.retrieve(created.id)

    assert fetched.id == created.id and fetched.output_text == created.output_text
    assert fetched.status == "completed"


def test_given_an_unknown_or_unstored_response_when_retrieved_then_404_in_openais_envelope(client: OpenAI) -> None:
    unstored = client.responses.create(model="gpt-4.1-mini", input="Do not keep this", store=False)

    for response_id in ("resp_missing", unstored.id):
        with pytest.raises(openai.NotFoundError) as error:
            client.responses.retrieve(response_id)
        assert error.value.body["message"] == f"Response with id '{response_id}' not found."  # type: ignore[index]
