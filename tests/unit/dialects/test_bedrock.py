"""Bedrock's dialects: the key, the stream assembly and replay (read back by botocore), what is kept, the paths
and who the client is."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.credentials import Credentials
from tests.unit.dialects.test_eventstream import bedrock_stream

from llmcache.dialects import bedrock, bedrock_converse, bedrock_invoke, eventstream
from llmcache.errors import BadRequest, Unauthorized
from llmcache.local.fake_bedrock import ConverseAnswer
from llmcache.upstream import SigV4Signer

QUESTION = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
TOOLS = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
            }
        },
        {"cachePoint": {"type": "default"}},
    ],
    "toolChoice": {"tool": {"name": "get_weather"}},
}


def _frames(events: list[tuple[str, dict[str, Any]]]) -> list[eventstream.Message]:
    return eventstream.decode_all(b"".join(eventstream.event_frame(kind, payload) for kind, payload in events))


def _assemble(messages: list[eventstream.Message]) -> bedrock_converse.ConverseAssembler:
    assembler = bedrock_converse.ConverseAssembler()
    for message in messages:
        assembler.feed(message)
    return assembler


# ----- key -----------------------------------------------------------------------------------------------------
def test_given_cache_points_and_request_metadata_when_keyed_then_they_do_not_change_the_key() -> None:
    plain = {
        "modelId": "m",
        "messages": QUESTION,
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"temperature": 1},
    }
    marked = {
        "modelId": "m",
        "messages": [{"role": "user", "content": [*QUESTION[0]["content"], {"cachePoint": {"type": "default"}}]}],
        "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
        "inferenceConfig": {"temperature": 1.0},
        "requestMetadata": {"team": "search"},
    }

    assert bedrock_converse.canonical(plain) == bedrock_converse.canonical(marked)


@pytest.mark.parametrize(
    "change",
    [
        {"modelId": "other"},
        {"inferenceConfig": {"temperature": 0.5}},
        {"system": [{"text": "Be long."}]},
        {"guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1"}},
        {"additionalModelRequestFields": {"top_k": 5}},
        {"outputConfig": {"textFormat": {"type": "json_schema"}}},
        {"serviceTier": {"type": "flex"}},
        {"someNewField": 1},
    ],
)
def test_given_a_field_that_can_change_the_answer_when_keyed_then_the_key_differs(change: dict[str, Any]) -> None:
    base = {
        "modelId": "m",
        "messages": QUESTION,
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"temperature": 1},
    }

    assert bedrock_converse.canonical(base) != bedrock_converse.canonical({**base, **change})


def test_given_a_tool_schema_property_named_cache_point_when_keyed_then_it_stays_in_the_key() -> None:
    schema = {"type": "object", "properties": {"cachePoint": {"type": "string"}}}
    tool = {"toolSpec": {"name": "t", "inputSchema": {"json": schema}}}
    without = {"toolSpec": {"name": "t", "inputSchema": {"json": {"type": "object", "properties": {}}}}}

    assert bedrock_converse.canonical({"toolConfig": {"tools": [tool]}}) != bedrock_converse.canonical(
        {"toolConfig": {"tools": [without]}}
    )
    assert bedrock_converse.canonical({"toolConfig": TOOLS})["toolConfig"]["tools"] == TOOLS["tools"][:1]


def test_given_stream_processing_mode_when_keyed_then_streamed_and_plain_guardrail_requests_share_a_key() -> None:
    guard = {"guardrailIdentifier": "g", "guardrailVersion": "1", "trace": "enabled"}
    streamed = {"modelId": "m", "messages": QUESTION, "guardrailConfig": {**guard, "streamProcessingMode": "async"}}

    assert bedrock_converse.canonical(streamed) == bedrock_converse.canonical({**streamed, "guardrailConfig": guard})


def test_given_a_user_text_turn_when_split_for_semantic_matching_then_only_its_text_is_compared() -> None:
    text, rest = bedrock_converse.semantic_split(
        bedrock_converse.canonical({"modelId": "m", "messages": QUESTION})
    ) or ("", {})

    assert text == "What is the capital of France?"
    assert rest["messages"][-1] == {"role": "user", "content": None} and rest["modelId"] == "m"
    image = [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "AA=="}}}]}]
    assert bedrock_converse.semantic_split({"messages": image}) is None


# ----- stream assembly and replay ------------------------------------------------------------------------------
@pytest.mark.parametrize("tools", [None, TOOLS])
def test_given_bedrocks_stream_when_assembled_then_it_is_the_plain_converse_answer(
    tools: dict[str, Any] | None,
) -> None:
    answer = ConverseAnswer({"messages": QUESTION, **({"toolConfig": tools} if tools else {})})

    assembler = _assemble(_frames(list(answer.events())))

    assert assembler.finished
    assert assembler.result() == answer.plain() | {"metrics": {"latencyMs": 321}}


def test_given_a_stored_answer_when_replayed_then_botocore_reads_the_same_answer_back() -> None:
    answer = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "Thinking " * 20, "signature": "sig=="}}},
                    {"text": "Paris " * 30},
                    {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris", "days": 3}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 30},
        "metrics": {"latencyMs": 5},
    }

    data = bedrock_converse.replay(answer)

    events = list(bedrock_stream("ConverseStream", data))
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    assert (
        "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)
        == "Paris " * 30
    )
    assert _assemble(eventstream.decode_all(data)).result() == answer


@pytest.mark.parametrize(
    "tail",
    [
        [("messageStop", {"stopReason": "end_turn"})],  # no metadata: the stream ended early
        [("metadata", {"usage": {}, "metrics": {}})],  # metadata without messageStop
        [("messageStop", {"stopReason": "max_tokens"}), ("metadata", {"usage": {"totalTokens": 1}, "metrics": {}})],
        [("messageStop", {"stopReason": "guardrail_intervened"}), ("metadata", {"usage": {}, "metrics": {}})],
        [("messageStop", {"stopReason": "content_filtered"}), ("metadata", {"usage": {}, "metrics": {}})],
        [("messageStop", {"stopReason": "a_new_reason"}), ("metadata", {"usage": {}, "metrics": {}})],
    ],
)
def test_given_a_stream_that_is_unfinished_or_cut_when_assembled_then_nothing_is_kept(
    tail: list[tuple[str, dict[str, Any]]],
) -> None:
    head = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
    ]

    assert _assemble(_frames(head + tail)).result() is None


def test_given_an_exception_event_mid_stream_when_assembled_then_it_is_finished_and_never_kept() -> None:
    data = b"".join(eventstream.event_frame(k, p) for k, p in list(ConverseAnswer({"messages": QUESTION}).events())[:3])
    data += eventstream.exception_frame("modelStreamErrorException", "boom")

    assembler = _assemble(eventstream.decode_all(data))

    assert assembler.finished and assembler.result() is None


def test_given_storable_and_unstorable_reasons_when_listed_then_every_converse_stop_reason_is_decided() -> None:
    from botocore.session import get_session

    model = get_session().get_component("data_loader").load_service_model("bedrock-runtime", "service-2")
    reasons = set(model["shapes"]["StopReason"]["enum"])

    assert reasons == set(bedrock.STORABLE_STOP_REASONS) | set(bedrock.UNSTORABLE_STOP_REASONS)


# ----- invoke --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        ({"type": "message", "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn"}, True),
        ({"type": "message", "content": [], "stop_reason": "max_tokens"}, False),
        ({"output": {"message": {}}, "stopReason": "content_filtered"}, False),
        ({"generation": "Hi", "stop_reason": "stop", "prompt_token_count": 3}, True),
        ({"generation": "Hi", "stop_reason": "length"}, False),
        ({"results": [{"outputText": "Hi", "completionReason": "FINISH"}]}, True),
        ({"results": [{"outputText": "Hi", "completionReason": "LENGTH"}]}, False),
        ({"outputs": [{"text": "Hi", "stop_reason": "stop"}]}, True),
        ({"embedding": [0.1, 0.2], "inputTextTokenCount": 2}, True),
    ],
)
def test_given_a_model_familys_answer_when_checked_then_only_finished_answers_are_kept(
    answer: dict[str, Any], kept: bool
) -> None:
    assert bedrock_invoke.is_finished(answer) is kept


def _chunk(payload: dict[str, Any]) -> eventstream.Message:
    encoded = base64.b64encode(json.dumps(payload).encode()).decode()
    [message] = eventstream.decode_all(eventstream.event_frame("chunk", {"bytes": encoded, "p": "abc"}))
    return message


def test_given_an_invoke_stream_when_recorded_then_its_chunks_replay_byte_for_byte_with_bedrocks_usage() -> None:
    payloads = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 3}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3, "outputTokenCount": 1}},
    ]
    recorder = bedrock_invoke.ChunkRecorder()
    for payload in payloads:
        recorder.feed(_chunk(payload))

    stored = recorder.result()

    assert recorder.finished and stored is not None and bedrock_invoke.is_complete_stream(stored)
    assert bedrock_invoke.usage_counts(stored) == (4, 3, 0, 1)
    replayed = [
        json.loads(e["chunk"]["bytes"])
        for e in bedrock_stream("InvokeModelWithResponseStream", bedrock_invoke.replay(stored))
    ]
    assert replayed == payloads


@pytest.mark.parametrize("cut", ["max_tokens", "exception", "no-metrics"])
def test_given_an_invoke_stream_that_was_cut_when_recorded_then_nothing_is_kept(cut: str) -> None:
    recorder = bedrock_invoke.ChunkRecorder()
    recorder.feed(
        _chunk({"type": "message_delta", "delta": {"stop_reason": "max_tokens" if cut == "max_tokens" else "end_turn"}})
    )
    if cut == "exception":
        [exception] = eventstream.decode_all(eventstream.exception_frame("modelStreamErrorException", "boom"))
        recorder.feed(exception)
    elif cut != "no-metrics":
        recorder.feed(_chunk({"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 1}}))

    assert recorder.result() is None


# ----- paths and clients ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse", "anthropic.claude-3-5-haiku-20241022-v1:0"),
        ("/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse", "anthropic.claude-3-5-haiku-20241022-v1:0"),
        (
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.amazon.nova-lite-v1%3A0/converse",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0",
        ),
        (
            "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0/converse",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0",
        ),
    ],
)
def test_given_a_model_path_as_botocore_or_a_door_spells_it_when_parsed_then_the_model_id_is_decoded(
    path: str, model: str
) -> None:
    parsed = bedrock.parse_model_path(path)

    assert parsed is not None and (parsed.model_id, parsed.operation) == (model, "converse")
    assert bedrock.model_path(parsed.model_id, "converse-stream").endswith("%3A0/converse-stream")


@pytest.mark.parametrize(
    "model", ["..%2F..%2Fguardrail", "a%2F..%2Fb", "a%3Fb", "a%0Ab", "a%20b", "arn:aws:bedrock:x:1:p/..%2F"]
)
def test_given_a_model_id_that_would_change_the_signed_path_when_parsed_then_it_is_a_400(model: str) -> None:
    with pytest.raises(BadRequest):
        bedrock.parse_model_path(f"/model/{model}/converse")


def test_given_the_client_credentials_when_read_then_sigv4_names_its_access_key_and_bearer_its_key() -> None:
    signed = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/us-east-1/bedrock/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
    )

    assert bedrock.bedrock_credential({"authorization": signed}) == (None, "AKIDEXAMPLE")
    assert bedrock.bedrock_credential({"authorization": "Bearer ABSKbedrockkey"}) == ("ABSKbedrockkey", None)
    assert bedrock.bedrock_credential({}) == (None, None)
    with pytest.raises(Unauthorized):
        bedrock.bedrock_credential({"authorization": "AWS4-HMAC-SHA256 garbage"})


def test_given_an_error_when_enveloped_then_botocore_would_read_bedrocks_code() -> None:
    body, headers = bedrock.bedrock_error(429, "slow down")

    assert body == {"message": "slow down"} and headers == {"x-amzn-ErrorType": "ThrottlingException"}
    [frame] = eventstream.decode_all(bedrock.stream_exception(504, "late", invoke=False))
    assert (frame.message_type, frame.kind) == ("exception", "modelStreamErrorException")


def test_given_role_credentials_when_signing_then_the_call_carries_a_bedrock_sigv4_signature_and_token() -> None:
    signer = SigV4Signer("eu-west-1", credentials=Credentials("AKIDEXAMPLE", "secret", "session-token"))

    headers = signer.sign(
        "POST",
        "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m%3A0/converse",
        {"content-type": "application/json"},
        b"{}",
    )

    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/bedrock/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == "session-token" and headers["content-type"] == "application/json"


def test_given_two_converse_questions_when_queried_semantically_then_only_the_last_user_text_differs() -> None:
    from llmcache.dialects.registry import dialect_for
    from llmcache.engine.semantic import semantic_query

    def query(text: str, model: str = "m", stream: bool = False) -> Any:
        body = {"model": model, "messages": [{"role": "user", "content": [{"text": text}]}], "stream": stream}
        converse = dialect_for("bedrock/converse")
        return semantic_query(converse, converse.canonical(body), "tenant", "default", "g1", 1000)

    first, reworded, other_model = query("What is the capital of France?"), query("France's capital?"), query("x", "n")

    assert first.text == "What is the capital of France?" and reworded.text == "France's capital?"
    assert first.partition == reworded.partition == query("France's capital?", stream=True).partition
    assert other_model.partition != first.partition


def test_given_the_provider_table_when_asked_then_bedrock_owns_its_paths_and_keys_and_nothing_else() -> None:
    from llmcache.api.providers import Signals, build_table
    from llmcache.settings import Settings

    providers = build_table(Settings(bedrock_auth="passthrough"))
    bedrock_entry = providers.named("bedrock")

    assert providers.for_request(Signals("/model/m%3A0/converse", {}, None)).name == "bedrock"
    assert providers.for_request(Signals("/v1/models", {}, "ABSKQmVkcm9ja0FQSUtleS1abc")).name == "openai"
    assert providers.owner_of("ABSKQmVkcm9ja0FQSUtleS1abc") is bedrock_entry
    with pytest.raises(Unauthorized):
        providers.check_credential(bedrock_entry, "sk-ant-api03-secret")
    with pytest.raises(Unauthorized):
        providers.check_credential(providers.named("openai"), "ABSKQmVkcm9ja0FQSUtleS1abc")
    assert build_table(Settings()).named("bedrock").managed  # iam: the gateway's own signature goes up
