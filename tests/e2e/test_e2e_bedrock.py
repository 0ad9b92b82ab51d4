"""E2E: exactly `make run` (no upstream, no AWS account: the offline provider answers Bedrock Runtime too),
driven by boto3's `bedrock-runtime` client with `endpoint_url` set to the local gateway."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
from botocore.config import Config
from tests.servers import GatewayProcess

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
NOVA = "us.amazon.nova-lite-v1:0"


def _bedrock(gw: GatewayProcess) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=gw.url,
        region_name="us-east-1",
        aws_access_key_id="AKIALOCALUSER",
        aws_secret_access_key="local-secret",
        config=Config(retries={"total_max_attempts": 1}),
    )


def _cache(response: dict[str, Any]) -> str:
    return str(response["ResponseMetadata"]["HTTPHeaders"]["x-cache"])


def test_given_make_run_when_boto3_converses_plainly_and_streamed_then_both_share_one_entry(
    make_run_gateway: GatewayProcess,
) -> None:
    bedrock = _bedrock(make_run_gateway)
    messages = [{"role": "user", "content": [{"text": f"Hello from boto3 [{uuid.uuid4().hex[:8]}]"}]}]

    miss = bedrock.converse(modelId=MODEL, messages=messages)
    hit = bedrock.converse(modelId=MODEL, messages=messages)
    streamed = bedrock.converse_stream(modelId=MODEL, messages=messages)
    events = list(streamed["stream"])

    assert (_cache(miss), _cache(hit), _cache(streamed)) == ("MISS", "HIT", "HIT")
    text = miss["output"]["message"]["content"][0]["text"]
    assert text.startswith("offline answer to: Hello from boto3") and hit["output"] == miss["output"]
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == text
    assert [next(iter(e)) for e in events][-2:] == ["messageStop", "metadata"]


def test_given_make_run_when_boto3_invokes_a_nova_stream_twice_then_the_chunks_come_back_from_the_cache(
    make_run_gateway: GatewayProcess,
) -> None:
    bedrock = _bedrock(make_run_gateway)
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": f"Nova [{uuid.uuid4().hex[:8]}]"}]}]})

    first = bedrock.invoke_model_with_response_stream(modelId=NOVA, body=body)
    missed = [json.loads(e["chunk"]["bytes"]) for e in first["body"]]
    second = bedrock.invoke_model_with_response_stream(modelId=NOVA, body=body)
    replayed = [json.loads(e["chunk"]["bytes"]) for e in second["body"]]

    assert (_cache(first), _cache(second)) == ("MISS", "HIT") and replayed == missed
    assert "messageStop" in replayed[-2] and "amazon-bedrock-invocationMetrics" in replayed[-1]
