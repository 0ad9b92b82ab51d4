"""Amazon Bedrock's Converse API: `POST /model/{modelId}/converse` and `/converse-stream`, one entry for both.

The key holds the model id and every request field that can change the answer. A streamed miss (AWS
event-stream frames) is relayed frame by frame and folded into the Converse answer a plain request gets; a hit
on `/converse-stream` replays a stored answer as the frames Bedrock sends (`messageStart` .. `metadata`).
"""

from __future__ import annotations

import json
from typing import Any

from llmcache import keys
from llmcache.dialects import eventstream
from llmcache.dialects.bedrock import BedrockDialect, stop_reason_storable
from llmcache.dialects.wire import int_field, pieces
from llmcache.errors import BadRequest
from llmcache.savings import TokenCounts

REPLAY_PIECE_CHARS = 64

# In the key, with the reason (docs/apis.md renders this table; the unit tests check it). Unknown (new) fields
# are in the key too: a field wrongly left in costs a miss, one wrongly left out serves a wrong answer.
KEYED_FIELDS: dict[str, str] = {
    "modelId": "the model, inference profile or prompt that answers (from the path)",
    "messages": "the conversation, with images, documents, tool uses and results",
    "system": "the system prompt",
    "inferenceConfig": "`maxTokens`, `temperature`, `topP`, `stopSequences`",
    "toolConfig": "the tools the model may call, and `toolChoice`",
    "guardrailConfig": "the guardrail, its version and trace setting: they decide what may be answered",
    "additionalModelRequestFields": "the model's own parameters (`top_k`, thinking, ...)",
    "additionalModelResponseFieldPaths": "extra model fields returned in the answer",
    "promptVariables": "the values filled into a Prompt management prompt",
    "outputConfig": "structured output (a JSON schema) and effort",
    "performanceConfig": "latency-optimized inference: another deployment of the model, reported in the answer",
    "serviceTier": "the processing tier, reported in the answer",
    "projectIdentifier": "the project the call is authorized and billed under",
}
IGNORED_FIELDS: dict[str, str] = {
    "requestMetadata": "tags that filter invocation logs, never seen by the model",
    "stream": "transport only: `/converse` and `/converse-stream` share one entry",
}
CACHE_POINT_REASON = (
    "`cachePoint` blocks (in `system`, in message content, in `toolConfig.tools`) mark where Bedrock's prompt "
    "cache ends: they change cost, latency and the `cacheReadInputTokens`/`cacheWriteInputTokens` counts, not "
    "the answer. They are forwarded byte for byte, so the provider's prompt cache keeps working"
)
STREAM_MODE_REASON = (
    "`guardrailConfig.streamProcessingMode` (`sync`/`async`) only decides when a streamed answer's chunks are "
    "released relative to the guardrail's check; a kept answer passed the guardrail either way"
)


# ----- key ---------------------------------------------------------------------------------------------------
def canonical(body: dict[str, Any]) -> dict[str, Any]:
    """The request as the key sees it: the model and the fields that can change the answer, cache points out."""
    kept = {k: v for k, v in body.items() if k not in IGNORED_FIELDS}
    for name in ("system", "messages"):
        if isinstance(kept.get(name), list):
            kept[name] = (
                _without_cache_points(kept[name])
                if name == "system"
                else [_message_without_cache_points(m) for m in kept[name]]
            )
    tool_config = kept.get("toolConfig")
    if isinstance(tool_config, dict) and isinstance(tool_config.get("tools"), list):
        kept["toolConfig"] = {**tool_config, "tools": _without_cache_points(tool_config["tools"])}
    guardrail = kept.get("guardrailConfig")
    if isinstance(guardrail, dict) and "streamProcessingMode" in guardrail:
        kept["guardrailConfig"] = {k: v for k, v in guardrail.items() if k != "streamProcessingMode"}
    normalized: dict[str, Any] = keys.normalize_numbers(kept)
    return normalized


def _is_cache_point(block: Any) -> bool:
    return isinstance(block, dict) and block.keys() == {"cachePoint"}


def _without_cache_points(blocks: list[Any]) -> list[Any]:
    return [block for block in blocks if not _is_cache_point(block)]


def _message_without_cache_points(message: Any) -> Any:
    if isinstance(message, dict) and isinstance(message.get("content"), list):
        return {**message, "content": _without_cache_points(message["content"])}
    return message


def semantic_split(canonical_body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """For semantic matching: the last message's text when it is a user turn made only of text blocks, and the
    request with that text blanked (what must match exactly); None otherwise (images, documents, tool results)."""
    messages = canonical_body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    last = messages[-1]
    content = last.get("content")
    if last.get("role") != "user" or not isinstance(content, list) or not content:
        return None
    if not all(isinstance(b, dict) and b.keys() == {"text"} and isinstance(b["text"], str) for b in content):
        return None
    text = "\n".join(block["text"] for block in content)
    return text, {**canonical_body, "messages": [*messages[:-1], {**last, "content": None}]}


# ----- the answer ----------------------------------------------------------------------------------------------
def is_complete(answer: Any) -> bool:
    """A finished Converse answer: a message with content, a stop reason that says it is whole, and usage."""
    if not isinstance(answer, dict):
        return False
    output = answer.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    return (
        isinstance(message, dict)
        and isinstance(message.get("content"), list)
        and all(_replayable(block) for block in message["content"])
        and stop_reason_storable(answer.get("stopReason"))
        and isinstance(answer.get("usage"), dict)
    )


def _replayable(block: Any) -> bool:
    """Text, tool use and reasoning: the blocks ConverseStream's deltas can carry back on a streamed hit. An
    answer with others (citations, images, documents) is passed on and not kept."""
    return isinstance(block, dict) and len(block) == 1 and next(iter(block)) in ("text", "toolUse", "reasoningContent")


def usage_counts(answer: dict[str, Any]) -> tuple[int, int, int, int]:
    """(total, input, cached input, output) tokens: Converse's `inputTokens` leaves out the prompt-cache reads
    and writes, which `totalTokens` counts."""
    usage = answer.get("usage")
    cached = int_field(usage, "cacheReadInputTokens")
    inputs = int_field(usage, "inputTokens") + cached + int_field(usage, "cacheWriteInputTokens")
    output = int_field(usage, "outputTokens")
    return int_field(usage, "totalTokens") or inputs + output, inputs, cached, output


class ConverseAssembler:
    """Folds ConverseStream's events into the Converse answer, as the SDKs' stream accumulators do.

    Finished at the `metadata` event (usage and metrics: the stream's last event) or at an exception event; the
    result is None unless `messageStop` and `metadata` came and every delta was one this gateway can fold."""

    def __init__(self) -> None:
        self._message: dict[str, Any] = {"role": "assistant", "content": []}
        self._answer: dict[str, Any] = {}
        self._tool_input: dict[int, str] = {}
        self._started = self._stopped = self.done = self.broken = False

    @property
    def finished(self) -> bool:
        return self.done or self.broken

    def feed(self, message: eventstream.Message) -> None:
        if self.finished:
            return
        if message.message_type != "event":
            self.broken = True  # throttlingException, modelStreamErrorException, ...: never kept
            return
        try:
            self._apply(message.kind, message.json())
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
            self.broken = True  # out of order, or not understood: relayed, not kept

    def _apply(self, kind: str, event: dict[str, Any]) -> None:
        if kind == "messageStart" and not self._started:
            self._started = True
            self._message["role"] = str(event["role"])
            return
        if not self._started:
            raise ValueError(kind)
        content: list[dict[str, Any]] = self._message["content"]
        if kind in ("contentBlockStart", "contentBlockDelta", "contentBlockStop"):
            index = int(event["contentBlockIndex"])
            if index == len(content):  # a text block has no start event: its first delta opens it
                content.append({})
            block = content[index]
            if kind == "contentBlockStart":
                self._start(index, block, event["start"])
            elif kind == "contentBlockDelta":
                self._delta(index, block, event["delta"])
            else:
                self._stop(index, block)
        elif kind == "messageStop" and not self._stopped:
            self._stopped = True
            self._answer["stopReason"] = event["stopReason"]
            if "additionalModelResponseFields" in event:
                self._answer["additionalModelResponseFields"] = event["additionalModelResponseFields"]
        elif kind == "metadata" and self._stopped:
            for name in ("usage", "metrics", "trace", "performanceConfig", "serviceTier"):
                if name in event:
                    self._answer[name] = event[name]
            self.done = True
        else:
            raise ValueError(kind)

    def _start(self, index: int, block: dict[str, Any], start: dict[str, Any]) -> None:
        if block or "toolUse" not in start:
            raise ValueError("contentBlockStart")  # tool results and images mid-answer are not folded here
        block["toolUse"] = {**start["toolUse"], "input": {}}
        self._tool_input[index] = ""

    def _delta(self, index: int, block: dict[str, Any], delta: dict[str, Any]) -> None:
        if delta.keys() == {"text"} and (not block or "text" in block):
            block["text"] = block.get("text", "") + delta["text"]
        elif delta.keys() == {"toolUse"} and index in self._tool_input:
            self._tool_input[index] += delta["toolUse"]["input"]
        elif delta.keys() == {"reasoningContent"} and (not block or "reasoningContent" in block):
            self._reasoning(block.setdefault("reasoningContent", {}), delta["reasoningContent"])
        else:
            raise ValueError("contentBlockDelta")  # citations, images, tool results: relayed, not kept

    @staticmethod
    def _reasoning(block: dict[str, Any], delta: dict[str, Any]) -> None:
        if "redactedContent" in delta:  # bytes: base64 in the JSON, as the plain answer carries them
            block["redactedContent"] = delta["redactedContent"]
            return
        text = block.setdefault("reasoningText", {"text": ""})
        text["text"] += delta.get("text", "")
        if "signature" in delta:
            text["signature"] = delta["signature"]

    def _stop(self, index: int, block: dict[str, Any]) -> None:
        if not block:
            raise ValueError("contentBlockStop")
        if index in self._tool_input:
            raw = self._tool_input.pop(index)
            block["toolUse"]["input"] = json.loads(raw) if raw else {}

    def result(self) -> dict[str, Any] | None:
        if not self.done or self.broken or self._tool_input:
            return None
        answer = {"output": {"message": self._message}, **self._answer}
        return answer if is_complete(answer) else None


# ----- replay --------------------------------------------------------------------------------------------------
def replay_events(answer: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The events ConverseStream sends for `answer`, in Bedrock's order: messageStart; per content block its
    start (tool use only: a text block opens with its first delta), deltas and stop; messageStop; metadata."""
    message = answer["output"]["message"]
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": message.get("role", "assistant")})]
    for index, block in enumerate(message.get("content") or []):
        events.extend(_block_events(index, block))
    stop: dict[str, Any] = {"stopReason": answer["stopReason"]}
    if "additionalModelResponseFields" in answer:
        stop["additionalModelResponseFields"] = answer["additionalModelResponseFields"]
    events.append(("messageStop", stop))
    metadata: dict[str, Any] = {
        name: answer[name]
        for name in ("usage", "metrics", "trace", "performanceConfig", "serviceTier")
        if name in answer
    }
    metadata.setdefault("metrics", {"latencyMs": 0})
    events.append(("metadata", metadata))
    return events


def replay(answer: dict[str, Any]) -> bytes:
    """A stored Converse answer as ConverseStream's event-stream frames."""
    return b"".join(eventstream.event_frame(kind, payload) for kind, payload in replay_events(answer))


def _block_events(index: int, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    def delta(value: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "contentBlockDelta", {"contentBlockIndex": index, "delta": value}

    events: list[tuple[str, dict[str, Any]]] = []
    if "toolUse" in block:
        tool = block["toolUse"]
        start = {k: v for k, v in tool.items() if k in ("toolUseId", "name", "type")}
        events.append(("contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": start}}))
        text = json.dumps(tool.get("input", {}), separators=(",", ":"), ensure_ascii=False)
        events.extend(delta({"toolUse": {"input": piece}}) for piece in pieces(text, REPLAY_PIECE_CHARS))
    elif "reasoningContent" in block:
        reasoning = block["reasoningContent"]
        if "redactedContent" in reasoning:
            events.append(delta({"reasoningContent": {"redactedContent": reasoning["redactedContent"]}}))
        else:
            thought = reasoning.get("reasoningText") or {}
            events.extend(
                delta({"reasoningContent": {"text": piece}})
                for piece in pieces(str(thought.get("text", "")), REPLAY_PIECE_CHARS)
            )
            if "signature" in thought:
                events.append(delta({"reasoningContent": {"signature": thought["signature"]}}))
    else:
        events.extend(delta({"text": piece}) for piece in pieces(str(block.get("text", "")), REPLAY_PIECE_CHARS))
    events.append(("contentBlockStop", {"contentBlockIndex": index}))
    return events


class Converse(BedrockDialect):
    route = "bedrock/converse"

    def operation(self, stream: bool) -> str:
        return "converse-stream" if stream else "converse"

    def validate(self, body: dict[str, Any]) -> None:
        if "messages" in body and not isinstance(body["messages"], list):
            raise BadRequest("`messages` must be a list of messages", param="messages")

    def canonical(self, body: dict[str, Any]) -> dict[str, Any]:
        return canonical(body)

    def semantic_split(self, canonical: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return semantic_split(canonical)

    def storable(self, status: int, answer: Any) -> bool:
        return 200 <= status < 300 and is_complete(answer)

    def usage(self, answer: dict[str, Any]) -> TokenCounts:
        return TokenCounts(*usage_counts(answer))

    def assembler(self) -> ConverseAssembler:
        return ConverseAssembler()

    def replay(self, answer: dict[str, Any], body: dict[str, Any]) -> bytes:
        return replay(answer)
