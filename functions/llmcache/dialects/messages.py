"""Anthropic's Messages API, `POST /v1/messages`: its key, credential, stream assembly, replay and errors.

The key holds every field that can change the answer, and the `anthropic-version` and `anthropic-beta`
headers (they select the API's behaviour and features). Unknown (new) fields are in the key by default.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from llmcache import keys
from llmcache.dialects.openai import positive
from llmcache.dialects.sse import SseEvent
from llmcache.dialects.typed import TypedEventDialect, stateful_reason
from llmcache.dialects.wire import (
    bearer_token,
    int_field,
    pieces,
    single_text_part,
    split_last_user_text,
    sse_bytes,
    valid_token,
)
from llmcache.errors import BadRequest, GatewayError, Unauthorized
from llmcache.savings import TokenCounts

REPLAY_PIECE_CHARS = 64
ANSWER_HEADERS = ("anthropic-version", "anthropic-beta")

# Left out of the key, with the reason (docs/apis.md renders this table; the unit tests check it).
IGNORED_FIELDS: dict[str, str] = {
    "stream": "transport only: plain and streamed requests share one entry",
    "metadata": "`user_id` for Anthropic's abuse monitoring, never seen by the model",
    "cache": "this gateway's own controls, never sent to the provider",
}
KEYED_FIELDS: dict[str, str] = {
    "model": "the model that answers",
    "messages": "the conversation, with images, documents, tool uses and results",
    "system": "the system prompt",
    "max_tokens": "where the answer is cut",
    "thinking": "extended thinking and its budget",
    "tools": "what the model may call",
    "tool_choice": "whether and which tool it must call",
    "temperature": "sampling",
    "top_p": "sampling",
    "top_k": "sampling",
    "stop_sequences": "where the answer stops",
    "service_tier": "the processing tier, reported in the answer",
    "container": "the code-execution container the answer runs in",
    "mcp_servers": "remote tools the model may call",
    "context_management": "which earlier context is cleared",
    "output_format": "structured output schema",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


# Never served from nor stored in the cache, with the reason (docs/apis.md renders this table).
BYPASSED_FIELDS: dict[str, str] = {
    "container": "the code-execution container the answer runs in keeps files and state between calls: a hit "
    "would skip the run the client expects to have changed it",
    "mcp_servers": "remote tools the model calls: their answers (and side effects) belong to each call",
}


class Messages(TypedEventDialect):
    route = "messages"
    provider = "anthropic"
    required = ("model", "messages", "max_tokens")
    answer_headers = ANSWER_HEADERS

    def bypass_reason(self, body: dict[str, Any]) -> str | None:
        return stateful_reason(body, BYPASSED_FIELDS)

    def credential(self, headers: dict[str, str]) -> str | None:
        """`x-api-key` (what Anthropic's SDKs send), else `Authorization: Bearer` (an auth token)."""
        key = headers.get("x-api-key")
        if key is not None:
            if not valid_token(key.strip()):
                raise Unauthorized("the x-api-key header must be your API key")
            return key.strip()
        value = headers.get("authorization")
        return bearer_token(value) if value is not None else None

    def validate(self, body: dict[str, Any]) -> None:
        if not isinstance(body["messages"], list) or not body["messages"]:
            raise BadRequest("`messages` must be a non-empty list of messages", param="messages")

    def canonical(self, body: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in _without_cache_control(body).items() if k not in IGNORED_FIELDS}
        canonical: dict[str, Any] = keys.normalize_numbers(kept)
        if isinstance(canonical.get("messages"), list):
            canonical["messages"] = [_plain_content(m) for m in canonical["messages"]]
        system = single_text_part(canonical.get("system"), "text")
        if system is not None:
            canonical["system"] = system
        return canonical

    # ----- answer -------------------------------------------------------------------------------------------
    def assembler(self) -> MessagesAssembler:
        return MessagesAssembler()

    def is_complete(self, answer: Any) -> bool:
        return is_complete(answer)

    def replay_events(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        return replay_events(answer)

    def usage(self, answer: dict[str, Any]) -> TokenCounts:
        """Anthropic's `input_tokens` leaves out `cache_read_input_tokens` and `cache_creation_input_tokens`:
        every input token is their sum (the cache reads billed as cached input)."""
        usage = answer.get("usage")
        if not isinstance(usage, dict):
            return TokenCounts()
        cached = positive(usage, "cache_read_input_tokens")
        input_tokens = positive(usage, "input_tokens") + cached + positive(usage, "cache_creation_input_tokens")
        output = positive(usage, "output_tokens")
        total = positive(usage, "total_tokens") or input_tokens + output
        return TokenCounts(total=total, input=input_tokens, cached_input=cached, output=output)

    # ----- errors -------------------------------------------------------------------------------------------
    def error_body(self, error: GatewayError) -> dict[str, Any]:
        return anthropic_error(error.status, error.message)

    def error_event(self, error: GatewayError) -> bytes:
        return sse_bytes("error", self.error_body(error))

    # ----- semantic matching --------------------------------------------------------------------------------
    def semantic_split(self, canonical: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return split_last_user_text(canonical, "messages", frozenset({"text"}))


def is_complete(answer: Any) -> bool:
    """A finished Message: only that is stored (a `stop_reason`, well-formed content blocks)."""
    return (
        isinstance(answer, dict)
        and answer.get("type") == "message"
        and isinstance(answer.get("stop_reason"), str)
        and bool(answer["stop_reason"])
        and isinstance(answer.get("content"), list)
        and all(isinstance(block, dict) and isinstance(block.get("type"), str) for block in answer["content"])
    )


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error envelope for `status`."""
    kind = _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def _without_cache_control(body: dict[str, Any]) -> dict[str, Any]:
    """The request without `cache_control` where the API takes it: the top level, system blocks, tools, and
    message content blocks (tool results' own content too). Nowhere else: a tool's JSON schema may have a
    property of that name, which does change the answer."""
    body = {k: v for k, v in body.items() if k != "cache_control"}
    if isinstance(body.get("system"), list):
        body["system"] = [_drop_marker(block) for block in body["system"]]
    if isinstance(body.get("tools"), list):
        body["tools"] = [_drop_marker(tool) for tool in body["tools"]]
    if isinstance(body.get("messages"), list):
        body["messages"] = [_message_without_markers(m) for m in body["messages"]]
    return body


def _drop_marker(block: Any) -> Any:
    return {k: v for k, v in block.items() if k != "cache_control"} if isinstance(block, dict) else block


def _message_without_markers(message: Any) -> Any:
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    blocks = []
    for block in message["content"]:
        block = _drop_marker(block)
        if isinstance(block, dict) and isinstance(block.get("content"), list):  # tool_result
            block = {**block, "content": [_drop_marker(inner) for inner in block["content"]]}
        blocks.append(block)
    return {**message, "content": blocks}


def _plain_content(message: Any) -> Any:
    """`"hi"` and `[{"type": "text", "text": "hi"}]` are the same message for the provider."""
    if not isinstance(message, dict):
        return message
    text = single_text_part(message.get("content"), "text")
    return {**message, "content": text} if text is not None else message


class MessagesAssembler:
    """Folds Anthropic's events into the Message, as the anthropic SDK's `accumulate_event` does."""

    def __init__(self) -> None:
        self._message: dict[str, Any] | None = None
        self._json: dict[int, str] = {}
        self.done = False
        self.broken = False

    @property
    def finished(self) -> bool:
        """`message_stop` came, or the stream failed: nothing after it belongs to the answer."""
        return self.done or self.broken

    def feed(self, event: SseEvent) -> None:
        if self.finished:
            return
        try:
            payload = json.loads(event.data)
            kind = str(payload["type"])
            if kind != "ping":
                self._apply(kind, payload)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
            self.broken = True  # not an event of this API, or out of order: the answer cannot be trusted

    def _apply(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "message_start" and self._message is None:
            self._message = copy.deepcopy(payload["message"])
            self._message["content"] = list(self._message.get("content") or [])
            return
        message = self._message
        if message is None or kind == "error":
            raise ValueError(kind)
        content: list[dict[str, Any]] = message["content"]
        if kind == "content_block_start":
            if payload["index"] != len(content):
                raise IndexError(payload["index"])
            content.append(dict(payload["content_block"]))
        elif kind == "content_block_delta":
            self._add_delta(payload["index"], content[payload["index"]], payload["delta"])
        elif kind == "content_block_stop":
            index = payload["index"]
            if index in self._json:
                text = self._json.pop(index)
                content[index]["input"] = json.loads(text) if text else {}
        elif kind == "message_delta":
            delta = payload["delta"]
            for name in ("stop_reason", "stop_sequence", "stop_details", "container"):
                if name in delta:
                    message[name] = delta[name]
            usage = message.setdefault("usage", {})
            usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            self.done = True
        else:
            raise ValueError(kind)

    def _add_delta(self, index: int, block: dict[str, Any], delta: dict[str, Any]) -> None:
        kind = delta["type"]
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta["text"]
        elif kind == "input_json_delta":
            self._json[index] = self._json.get(index, "") + delta["partial_json"]
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
        elif kind == "signature_delta":
            block["signature"] = delta["signature"]
        elif kind == "citations_delta":
            block["citations"] = [*(block.get("citations") or []), delta["citation"]]
        else:
            raise ValueError(kind)  # a delta this gateway cannot fold: relayed, not stored

    def result(self) -> dict[str, Any] | None:
        if not self.done or self.broken or self._json or not is_complete(self._message):
            return None
        return self._message


# ----- replay ---------------------------------------------------------------------------------------------------
_STOP_FIELDS = ("stop_reason", "stop_sequence", "stop_details", "container")


def replay_events(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The events Anthropic streams for `answer`: message_start, each block's start/deltas/stop (a ping
    after the first start), message_delta with the stop reason and usage, message_stop."""
    usage = dict(answer.get("usage") or {})
    opening = {k: v for k, v in answer.items() if k not in _STOP_FIELDS}
    opening.update(content=[], stop_reason=None, stop_sequence=None)
    opening["usage"] = {**usage, "output_tokens": min(1, int_field(usage, "output_tokens"))}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": opening}]
    for index, block in enumerate(answer.get("content") or []):
        events.extend(_block_events(index, block))
        if index == 0:
            events.insert(2, {"type": "ping"})
    stop = {k: answer.get(k) for k in _STOP_FIELDS if k in answer or k in ("stop_reason", "stop_sequence")}
    events.append({"type": "message_delta", "delta": stop, "usage": usage})
    events.append({"type": "message_stop"})
    return events


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    deltas: list[dict[str, Any]]
    if kind == "text":
        start = {k: v for k, v in block.items() if k != "citations"} | {"text": ""}
        deltas = [{"type": "citations_delta", "citation": c} for c in block.get("citations") or []]
        deltas += [{"type": "text_delta", "text": p} for p in pieces(str(block.get("text") or ""), REPLAY_PIECE_CHARS)]
    elif kind == "thinking":
        start = {**block, "thinking": "", "signature": ""}
        thinking = str(block.get("thinking") or "")
        deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(thinking, REPLAY_PIECE_CHARS)]
        deltas.append({"type": "signature_delta", "signature": block.get("signature") or ""})
    elif "input" in block:  # tool_use, server_tool_use, mcp_tool_use: the input streamed as JSON text
        start = {**block, "input": {}}
        text = json.dumps(block["input"], separators=(",", ":"), ensure_ascii=False)
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces(text, REPLAY_PIECE_CHARS)]
    else:  # redacted thinking, tool results of server tools: sent whole in the start event
        start, deltas = block, []
    return [
        {"type": "content_block_start", "index": index, "content_block": start},
        *({"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas),
        {"type": "content_block_stop", "index": index},
    ]
