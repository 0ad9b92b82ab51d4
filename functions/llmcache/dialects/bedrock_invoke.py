"""Amazon Bedrock's InvokeModel API: `POST /model/{modelId}/invoke` and `/invoke-with-response-stream`.

The body is the model's own JSON (Anthropic's Messages shape, Nova's, Llama's, Titan's, ...): the key is that
body, canonical (keys sorted, `1.0` = `1`), with the model id and the headers that select the answer. The two
operations keep separate entries: a plain answer is the model's JSON, a streamed one its chunks (each a piece
of the model's own streaming format, which the gateway stores and replays as they came, without assembling
them into a model-specific whole).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from llmcache import keys
from llmcache.dialects import eventstream
from llmcache.dialects.bedrock import BedrockDialect
from llmcache.dialects.wire import int_field
from llmcache.savings import TokenCounts

INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"  # Bedrock adds it to a stream's last chunk

# Request headers in the key: they select what the model answers and how it is returned.
ANSWER_HEADERS = (
    "content-type",
    "accept",
    "x-amzn-bedrock-accept",  # the stream's `accept`
    "x-amzn-bedrock-guardrailidentifier",
    "x-amzn-bedrock-guardrailversion",
    "x-amzn-bedrock-trace",
    "x-amzn-bedrock-performanceconfig-latency",
    "x-amzn-bedrock-service-tier",
    "x-amzn-bedrock-projectidentifier",
)
# Passed on to Bedrock but out of the key: tags that filter invocation logs, never seen by the model.
FORWARDED_ONLY_HEADERS = ("x-amzn-bedrock-request-metadata",)
# Bedrock's answer headers passed back on a miss: its request id, token counts, the stream's media type, ...
RETURNED_HEADERS = (
    "x-amzn-requestid",
    "x-amzn-errortype",  # on an error: botocore reads the error code from it
    "x-amzn-bedrock-input-token-count",
    "x-amzn-bedrock-output-token-count",
    "x-amzn-bedrock-invocation-latency",
    "x-amzn-bedrock-content-type",
    "x-amzn-bedrock-performanceconfig-latency",
    "x-amzn-bedrock-service-tier",
    "retry-after",
)

# Stop reasons of the model families' own formats (Anthropic, Nova, Llama, Mistral, Titan, Cohere, OpenAI-shaped).
FINISHED_REASONS = frozenset(
    {"end_turn", "stop_sequence", "tool_use", "stop", "tool_calls", "FINISH", "STOP_CRITERIA_MET", "COMPLETE"}
)


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    """`{"model": <the path's model id>, "body": <the model's JSON>, "stream": bool}`, canonical: every field of
    the model's body is the model's own, so every one counts; a streamed and a plain call keep separate entries
    (a stream is stored as its chunks, a plain answer as the model's JSON)."""
    normalized: dict[str, Any] = keys.normalize_numbers(body)
    normalized["stream"] = body.get("stream") is True
    return normalized


# ----- plain answers -------------------------------------------------------------------------------------------
def stop_reasons(answer: Any) -> list[Any]:
    """Every stop reason a model family's answer (or stream chunk) states, wherever its format puts it."""
    if not isinstance(answer, dict):
        return []
    found: list[Any] = []
    for name in ("stop_reason", "stopReason", "finish_reason", "completionReason"):
        if name in answer:
            found.append(answer[name])
    for nested in ("delta", "messageStop"):  # Anthropic's message_delta chunk, Nova's messageStop chunk
        found.extend(stop_reasons(answer.get(nested)))
    for listed in ("results", "outputs", "choices", "generations"):
        items = answer.get(listed)
        if isinstance(items, list):
            found.extend(reason for item in items for reason in stop_reasons(item))
    return found


def is_finished(answer: Any) -> bool:
    """Kept when every stop reason it states is one of a finished answer (an embedding states none).

    A cut (`max_tokens`, `length`, `LENGTH`), filtered (`content_filtered`, `CONTENT_FILTERED`) or unknown
    reason is not kept; a `null` reason (Anthropic's opening chunk) is not a reason."""
    reasons = [reason for reason in stop_reasons(answer) if reason is not None]
    return isinstance(answer, dict) and all(reason in FINISHED_REASONS for reason in reasons)


def usage_counts(answer: Any) -> tuple[int, int, int, int]:
    """(total, input, cached input, output) tokens from a model family's own usage fields."""
    if not isinstance(answer, dict):
        return 0, 0, 0, 0
    metrics = answer.get(INVOCATION_METRICS)
    if isinstance(metrics, dict):  # what Bedrock itself counted (a stream's last chunk)
        cached = int_field(metrics, "cacheReadInputTokenCount")
        inputs = int_field(metrics, "inputTokenCount") + cached + int_field(metrics, "cacheWriteInputTokenCount")
        output = int_field(metrics, "outputTokenCount")
        return inputs + output, inputs, cached, output
    usage = answer.get("usage")
    if isinstance(usage, dict) and ("input_tokens" in usage or "inputTokens" in usage):  # Anthropic, Nova
        cached = int_field(usage, "cache_read_input_tokens") + int_field(usage, "cacheReadInputTokenCount")
        written = int_field(usage, "cache_creation_input_tokens") + int_field(usage, "cacheWriteInputTokenCount")
        inputs = int_field(usage, "input_tokens") + int_field(usage, "inputTokens") + cached + written
        output = int_field(usage, "output_tokens") + int_field(usage, "outputTokens")
        return inputs + output, inputs, cached, output
    inputs = int_field(answer, "prompt_token_count") + int_field(answer, "inputTextTokenCount")  # Llama, Titan
    output = int_field(answer, "generation_token_count") + sum(
        int_field(result, "tokenCount") for result in answer.get("results") or [] if isinstance(result, dict)
    )
    return inputs + output, inputs, 0, output


# ----- streamed answers: kept as their chunks ------------------------------------------------------------------
def chunk_json(encoded: str) -> Any:
    """The model's JSON in one chunk's `bytes` (base64 in the event's JSON payload, as Bedrock sends it)."""
    return json.loads(base64.b64decode(encoded, validate=True))


class ChunkRecorder:
    """Keeps a response stream's chunks as they came (base64, untouched), and checks the stream finished.

    Finished at the chunk that carries Bedrock's invocation metrics (the last one), or at an exception event.
    The result is `{"chunks": [...], "usage": {...}}` when the stream ended well and its stop reasons are those
    of a finished answer; None otherwise."""

    def __init__(self) -> None:
        self._chunks: list[str] = []
        self._reasons: list[Any] = []
        self._metrics: dict[str, Any] | None = None
        self.broken = False

    @property
    def finished(self) -> bool:
        return self._metrics is not None or self.broken

    def feed(self, message: eventstream.Message) -> None:
        if self.finished:
            return
        if message.message_type != "event" or message.kind != "chunk":
            self.broken = True  # modelStreamErrorException, throttlingException, ...: never kept
            return
        try:
            encoded = message.json()["bytes"]
            payload = chunk_json(encoded)
        except (ValueError, TypeError, KeyError, binascii.Error):
            self.broken = True
            return
        self._chunks.append(encoded)
        self._reasons.extend(stop_reasons(payload))
        if isinstance(payload, dict) and isinstance(payload.get(INVOCATION_METRICS), dict):
            self._metrics = payload[INVOCATION_METRICS]

    def result(self) -> dict[str, Any] | None:
        if self.broken or self._metrics is None:
            return None
        if not all(reason in FINISHED_REASONS for reason in self._reasons if reason is not None):
            return None
        return {"chunks": self._chunks, INVOCATION_METRICS: self._metrics}


def is_complete_stream(answer: Any) -> bool:
    return (
        isinstance(answer, dict)
        and isinstance(answer.get("chunks"), list)
        and bool(answer["chunks"])
        and all(isinstance(chunk, str) for chunk in answer["chunks"])
        and isinstance(answer.get(INVOCATION_METRICS), dict)
    )


def replay(answer: dict[str, Any]) -> bytes:
    """Stored chunks as InvokeModelWithResponseStream's `chunk` events, byte for byte as they came."""
    return b"".join(eventstream.event_frame("chunk", {"bytes": chunk}) for chunk in answer["chunks"])


class Invoke(BedrockDialect):
    route = "bedrock/invoke"
    answer_headers = ANSWER_HEADERS
    invoke = True

    def operation(self, stream: bool) -> str:
        return "invoke-with-response-stream" if stream else "invoke"

    def canonical(self, body: dict[str, Any]) -> dict[str, Any]:
        return canonical(body)

    def storable(self, status: int, answer: Any) -> bool:
        if not 200 <= status < 300:
            return False
        if isinstance(answer, dict) and "chunks" in answer:
            return is_complete_stream(answer)
        return is_finished(answer)

    def usage(self, answer: dict[str, Any]) -> TokenCounts:
        return TokenCounts(*usage_counts(answer))

    def assembler(self) -> ChunkRecorder:
        return ChunkRecorder()

    def replay(self, answer: dict[str, Any], body: dict[str, Any]) -> bytes:
        return replay(answer)
