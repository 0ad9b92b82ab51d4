"""OpenAI's chat completions and (legacy) completions: `data:` chunks ending in `data: [DONE]`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from llmcache.dialects import Assembler, Dialect
from llmcache.dialects.wire import split_last_user_text
from llmcache.errors import BadRequest
from llmcache.streaming import StreamAssembler, replay_sse

if TYPE_CHECKING:
    from llmcache.errors import GatewayError
    from llmcache.streaming import SseEvent


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _is_usage_only_chunk(data: str) -> bool:
    if '"usage"' not in data:
        return False
    try:
        chunk = json.loads(data)
    except ValueError:
        return False
    return isinstance(chunk, dict) and chunk.get("choices") == [] and bool(chunk.get("usage"))


class ChatCompletions(Dialect):
    route = "chat/completions"
    required = ("model", "messages")

    def validate(self, body: dict[str, Any]) -> None:
        if not isinstance(body["messages"], list) or not body["messages"]:
            raise BadRequest("`messages` must be a non-empty list of messages", param="messages")

    def assembler(self) -> Assembler:
        return StreamAssembler()

    def stream_overrides(self, body: dict[str, Any]) -> dict[str, Any]:
        # Always ask for usage, so the stored answer has it even when this client did not want it.
        options = body.get("stream_options")
        return {"stream_options": {**(options if isinstance(options, dict) else {}), "include_usage": True}}

    def relay(self, event: SseEvent, body: dict[str, Any]) -> bytes | None:
        # The usage chunk was asked for on the gateway's behalf: only a client that asked for it gets it.
        if not _include_usage(body) and _is_usage_only_chunk(event.data):
            return None
        return "".join(f"data: {line}\n" for line in event.data.split("\n")).encode() + b"\n"

    def variant(self, body: dict[str, Any]) -> str:
        return super().variant(body) + ("+usage" if _include_usage(body) else "")

    def replay(self, answer: dict[str, Any], body: dict[str, Any]) -> bytes:
        return replay_sse(answer, include_usage=body.get("stream") is True and _include_usage(body))

    def error_event(self, error: GatewayError) -> bytes:
        # The openai SDKs raise APIError on a `data:` event whose JSON has an `error` object.
        return b"data: " + json.dumps(error.envelope(), separators=(",", ":")).encode() + b"\n\n"

    def semantic_split(self, canonical: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return split_last_user_text(canonical, "messages", frozenset({"text"}))


class Completions(ChatCompletions):
    route = "completions"
    required = ("model", "prompt")

    def validate(self, body: dict[str, Any]) -> None:
        return None

    def semantic_split(self, canonical: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        prompt = canonical.get("prompt")
        return (prompt, {**canonical, "prompt": None}) if isinstance(prompt, str) else None
