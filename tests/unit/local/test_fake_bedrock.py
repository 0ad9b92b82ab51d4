"""The offline provider speaks Bedrock Runtime's wire format: checked with boto3's `bedrock-runtime` client (the
real botocore serializer, signer and event-stream parser) pointed straight at it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from llmcache.local import fake_bedrock
from llmcache.local.fake_provider import FakeProvider, start_fake_provider

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
NOVA = "us.amazon.nova-lite-v1:0"
QUESTION = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with start_fake_provider() as running:
        yield running


def _client(provider: FakeProvider, secret: str = "testing") -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=provider.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def bedrock(provider: FakeProvider) -> Any:
    provider.reset()
    return _client(provider)


def _auth_of(provider: FakeProvider) -> dict[str, Any]:
    [request] = provider.requests()
    return json.loads(request["headers"][fake_bedrock.AUTH_RECORD_HEADER])


def test_given_a_signed_converse_when_answered_then_boto3_reads_a_whole_answer_and_the_signature_checks(
    bedrock: Any, provider: FakeProvider
) -> None:
    answer = bedrock.converse(modelId=MODEL, messages=QUESTION, inferenceConfig={"maxTokens": 200})

    assert answer["output"]["message"]["content"] == [{"text": "offline answer to: What is the capital of France?"}]
    assert answer["stopReason"] == "end_turn" and answer["usage"]["totalTokens"] > 0
    auth = _auth_of(provider)
    assert auth | {"verified": auth["verified"]} == {
        "scheme": "sigv4",
        "service": "bedrock",
        "region": "us-east-1",
        "access_key": "testing",
        "verified": True,
    }
    assert provider.requests()[0]["route"] == f"POST /model/{MODEL.replace(':', '%3A')}/converse"


def test_given_a_converse_stream_when_boto3_reads_it_then_the_events_come_in_bedrocks_order(bedrock: Any) -> None:
    events = list(bedrock.converse_stream(modelId=MODEL, messages=QUESTION)["stream"])

    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "offline answer to: What is the capital of France?"
    assert events[-1]["metadata"]["usage"]["outputTokens"] > 0


def test_given_a_tool_choice_when_streamed_then_the_tool_input_arrives_as_json_pieces(bedrock: Any) -> None:
    tools = {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "get_weather"}},
    }
    events = list(bedrock.converse_stream(modelId=MODEL, messages=QUESTION, toolConfig=tools)["stream"])

    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    pieces = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e)
    assert start["start"]["toolUse"]["name"] == "get_weather"
    assert json.loads(pieces) == {"city": "What is the capital of France?"}
    assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}


def test_given_an_anthropic_invoke_stream_when_read_then_chunks_are_base64_json_and_the_last_has_metrics(
    bedrock: Any,
) -> None:
    body = json.dumps(
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]}
    )
    response = bedrock.invoke_model_with_response_stream(modelId=MODEL, body=body)

    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    assert response["contentType"] == "application/json"
    assert [c["type"] for c in chunks][:2] == ["message_start", "content_block_start"]
    assert chunks[-1]["type"] == "message_stop"
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] > 0


def test_given_a_nova_invoke_when_answered_then_the_body_is_novas_own_shape(bedrock: Any) -> None:
    body = json.dumps({"messages": QUESTION, "inferenceConfig": {"maxTokens": 100}})
    response = bedrock.invoke_model(modelId=NOVA, body=body)

    answer = json.loads(response["body"].read())
    assert answer["stopReason"] == "end_turn"
    assert answer["output"]["message"]["content"][0]["text"].startswith("offline answer to:")
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"] == str(
        answer["usage"]["inputTokens"]
    )


@pytest.mark.parametrize("exception", ["throttlingException", "modelStreamErrorException"])
def test_given_an_injected_exception_when_streamed_then_botocore_raises_it_mid_stream(
    bedrock: Any, provider: FakeProvider, exception: str
) -> None:
    provider.set_fault(f"exception-{exception}")
    stream = bedrock.converse_stream(modelId=MODEL, messages=QUESTION)["stream"]

    with pytest.raises(EventStreamError) as raised:
        list(stream)

    assert raised.value.response["Error"]["Code"] == exception


def test_given_an_injected_throttle_when_called_then_boto3_raises_bedrocks_error(
    bedrock: Any, provider: FakeProvider
) -> None:
    provider.set_fault("error-429")

    with pytest.raises(ClientError) as raised:
        bedrock.converse(modelId=MODEL, messages=QUESTION)

    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_given_a_bearer_api_key_when_called_then_it_is_recorded_as_bearer(provider: FakeProvider) -> None:
    import httpx

    provider.reset()
    response = httpx.post(
        f"{provider.url}/model/{MODEL.replace(':', '%3A')}/converse",
        json={"messages": QUESTION},
        headers={"Authorization": "Bearer bedrock-api-key-abcd"},
    )

    assert response.status_code == 200
    assert _auth_of(provider) == {"scheme": "bearer", "key": "***abcd"}


def test_given_a_signature_for_another_service_when_called_then_bedrock_refuses_it(provider: FakeProvider) -> None:
    client = _client(provider, secret="wrong-secret")

    with pytest.raises(ClientError) as raised:
        client.converse(modelId=MODEL, messages=QUESTION)

    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_given_a_cut_stream_when_read_then_the_client_does_not_get_a_finished_answer(
    bedrock: Any, provider: FakeProvider
) -> None:
    provider.set_fault("broken-stream")
    events: list[dict[str, Any]] = []

    with pytest.raises(Exception):  # noqa: B017 - urllib3's or botocore's error, whichever sees the cut first
        for event in bedrock.converse_stream(modelId=MODEL, messages=QUESTION)["stream"]:
            events.append(event)

    assert events and "metadata" not in events[-1]


def test_given_chunk_bytes_when_decoded_then_they_are_standard_base64() -> None:
    encoded = base64.b64encode(b'{"type":"message_stop"}').decode()
    assert json.loads(base64.b64decode(encoded)) == {"type": "message_stop"}
