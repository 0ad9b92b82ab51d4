"""OpenAI's Responses API, `POST /v1/responses`: its key, stream assembly and replay.

The key holds every field that can change the answer. Unknown (new) fields are in the key by default: a
field wrongly left in costs a miss, one wrongly left out serves a wrong answer. What is left out, and why:
"""

from __future__ import annotations

import json
from typing import Any

from llmcache import keys
from llmcache.dialects.echo import EchoFields
from llmcache.dialects.openai import ANSWER_HEADERS, usage_counts
from llmcache.dialects.sse import SseEvent
from llmcache.dialects.typed import TypedEventDialect, stateful_reason
from llmcache.dialects.wire import pieces, single_text_part, split_last_user_text, sse_bytes
from llmcache.errors import GatewayError
from llmcache.savings import TokenCounts

REPLAY_PIECE_CHARS = 64

# Left out of the key, with the reason (docs/apis.md renders this table; the unit tests check it).
IGNORED_FIELDS: dict[str, str] = {
    "stream": "transport only: plain and streamed requests share one entry",
    "stream_options": "transport only (`include_obfuscation` pads stream deltas, the answer is the same)",
    "background": "never served from nor stored in the cache when set (see BYPASSED_FIELDS); `false` is the default",
    "metadata": "tags for the caller's own records, never seen by the model (echoed: a hit carries the current "
    "request's tags)",
    "user": "end-user id for abuse monitoring, never seen by the model (deprecated for safety_identifier)",
    "safety_identifier": "end-user id for abuse monitoring, never seen by the model",
    "prompt_cache_key": "a routing hint for OpenAI's prompt cache: changes cost and latency, not the answer",
    "cache": "this gateway's own controls, never sent to the provider",
}
# In the key, with the reason. Any field not named in either table is in the key too.
KEYED_FIELDS: dict[str, str] = {
    "model": "the model that answers",
    "input": "the conversation: text, images, files, earlier items and tool outputs",
    "instructions": "the system/developer message",
    "previous_response_id": "the stored conversation the answer continues",
    "conversation": "the stored conversation the answer continues",
    "prompt": "a stored prompt template, its version and variables",
    "tools": "what the model may call",
    "tool_choice": "whether and which tool it must call",
    "parallel_tool_calls": "one call or several",
    "max_tool_calls": "how many built-in tool calls it may make",
    "reasoning": "reasoning effort and summary",
    "text": "output format (JSON schema) and verbosity",
    "temperature": "sampling",
    "top_p": "sampling",
    "top_logprobs": "the logprobs returned",
    "max_output_tokens": "where the answer is cut",
    "include": "extra output returned (encrypted reasoning, sources, logprobs)",
    "truncation": "whether a long context is cut or refused",
    "service_tier": "the processing tier, reported in the answer",
    "store": "whether OpenAI keeps the response: a kept one can be continued (`previous_response_id`) and "
    "fetched by id, an unkept one cannot; absent is true",
}


# Never served from nor stored in the cache, with the reason (docs/apis.md renders this table; `X-Cache-Bypass-Reason`
# names the field). Each answer is a job rather than an answer, or depends on state the provider holds.
BYPASSED_FIELDS: dict[str, str] = {
    "background": 'any truthy value (`true`, `"true"`, `1`): a queued job the caller polls by id, not an answer '
    "to copy",
    "conversation": "the answer continues a conversation the provider keeps and appends to: the id is keyed, the "
    "history behind it is not, and a hit would leave the turn out of it",
    "prompt": "without `version`: the stored prompt's latest version, which its owner may change at any time (a "
    "pinned `version` is cached)",
}
# Echoed in every Response: made the current request's on a hit (the defaults are what OpenAI echoes when unset).
ECHO = EchoFields({"metadata": {}, "user": None, "safety_identifier": None, "prompt_cache_key": None})


class Responses(TypedEventDialect):
    route = "responses"
    answer_headers = ANSWER_HEADERS
    echo = ECHO
    required = ("model",)  # `input` may be absent when `prompt` or `previous_response_id` carries it

    def canonical(self, body: dict[str, Any]) -> dict[str, Any]:
        canonical: dict[str, Any] = keys.normalize_numbers({k: v for k, v in body.items() if k not in IGNORED_FIELDS})
        canonical["store"] = canonical.get("store", True) is not False
        if "input" in canonical:
            canonical["input"] = _canonical_input(canonical["input"])
        return canonical

    def bypass_reason(self, body: dict[str, Any]) -> str | None:
        prompt = body.get("prompt")
        if prompt is not None and not (isinstance(prompt, dict) and prompt.get("version")):
            return "prompt"  # a pinned version is a fixed template: keyed, and cached
        return stateful_reason(body, ("background", "conversation"))

    def variant(self, body: dict[str, Any]) -> str:
        # Coalesced callers share one answer's bytes: only those that sent the same echoed values.
        sent = ECHO.sent(body)
        return super().variant(body) + ("" if sent is None else json.dumps(sent, sort_keys=True))

    # ----- answer -------------------------------------------------------------------------------------------
    def assembler(self) -> ResponsesAssembler:
        return ResponsesAssembler()

    def is_complete(self, answer: Any) -> bool:
        return is_complete(answer)

    def replay_events(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        return replay_events(answer)

    def usage(self, answer: dict[str, Any]) -> TokenCounts:
        """`input_tokens` (the cached ones included, in `input_tokens_details`) and `output_tokens`."""
        return usage_counts(answer, "input", "output_tokens")

    # ----- errors -------------------------------------------------------------------------------------------
    def error_event(self, error: GatewayError) -> bytes:
        # The Responses `error` event, plus the `error` object that makes the openai SDK raise APIError.
        fields = {"code": error.code, "message": error.message, "param": error.param}
        payload = {"type": "error", **fields, "error": {"type": error.type, **fields}}
        return sse_bytes("error", payload)

    # ----- semantic matching --------------------------------------------------------------------------------
    def semantic_split(self, canonical: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return split_last_user_text(canonical, "input", frozenset({"input_text"}))


def is_complete(answer: Any) -> bool:
    """A finished Response: only that is stored (`status` completed, no error, well-formed output items)."""
    return (
        isinstance(answer, dict)
        and answer.get("object") == "response"
        and answer.get("status") == "completed"
        and answer.get("error") is None
        and isinstance(answer.get("output"), list)
        and all(isinstance(item, dict) and isinstance(item.get("type"), str) for item in answer["output"])
    )


def _canonical_input(value: Any) -> Any:
    """`"hi"`, `[{"role": "user", "content": "hi"}]`, the same with `"type": "message"` and with content
    `[{"type": "input_text", "text": "hi"}]` are one request for the provider."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        return value
    return [_canonical_item(item) for item in value]


def _canonical_item(item: Any) -> Any:
    if not isinstance(item, dict) or "role" not in item or item.get("type", "message") != "message":
        return item
    item = {k: v for k, v in item.items() if k != "type"}
    text = single_text_part(item.get("content"), "input_text")
    return {**item, "content": text} if text is not None else item


class ResponsesAssembler:
    """The `response` of `response.completed` is the whole answer; its output items are taken from the
    `response.output_item.done` events when a provider leaves them out there."""

    def __init__(self) -> None:
        self._final: dict[str, Any] | None = None
        self._items: dict[int, dict[str, Any]] = {}
        self.broken = False

    @property
    def finished(self) -> bool:
        """`response.completed` came, or the stream failed: nothing after it belongs to the answer."""
        return self._final is not None or self.broken

    def feed(self, event: SseEvent) -> None:
        if self.finished:
            return
        try:
            payload = json.loads(event.data)
        except (ValueError, RecursionError):
            self.broken = True
            return
        kind = payload.get("type") if isinstance(payload, dict) else None
        if not isinstance(payload, dict) or kind in ("error", "response.failed", "response.incomplete"):
            self.broken = True
        elif kind == "response.output_item.done":
            index, item = payload.get("output_index"), payload.get("item")
            if isinstance(index, int) and isinstance(item, dict):
                self._items[index] = item
        elif kind == "response.completed":
            response = payload.get("response")
            if not isinstance(response, dict):
                self.broken = True
            elif response.get("output") is None:
                self._final = {**response, "output": [self._items[i] for i in sorted(self._items)]}
            else:
                self._final = response

    def result(self) -> dict[str, Any] | None:
        if self.broken or self._final is None or not is_complete(self._final):
            return None
        return self._final


# ----- replay ---------------------------------------------------------------------------------------------------
def replay_events(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The typed events OpenAI streams for `answer`, numbered by `sequence_number` from 0."""
    opening = {**answer, "status": "in_progress", "output": [], "usage": None}
    if "completed_at" in answer:
        opening["completed_at"] = None
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": opening},
        {"type": "response.in_progress", "response": opening},
    ]
    for index, item in enumerate(answer.get("output") or []):
        events.extend(_item_events(index, item))
    events.append({"type": "response.completed", "response": answer})
    return [{**event, "sequence_number": number} for number, event in enumerate(events)]


def _item_events(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    kind = item.get("type")
    where = {"item_id": item.get("id"), "output_index": index}
    events: list[dict[str, Any]] = []
    if kind == "message":
        added = {**item, "status": "in_progress", "content": []}
        events.append({"type": "response.output_item.added", "output_index": index, "item": added})
        for content_index, part in enumerate(item.get("content") or []):
            events.extend(_part_events({**where, "content_index": content_index}, part))
    elif kind == "function_call":
        added = {**item, "status": "in_progress", "arguments": ""}
        events.append({"type": "response.output_item.added", "output_index": index, "item": added})
        arguments = str(item.get("arguments") or "")
        for piece in pieces(arguments, REPLAY_PIECE_CHARS):
            events.append({"type": "response.function_call_arguments.delta", **where, "delta": piece})
        events.append({"type": "response.function_call_arguments.done", **where, "arguments": arguments})
    elif kind == "reasoning":
        added = {**item, "summary": []}
        events.append({"type": "response.output_item.added", "output_index": index, "item": added})
        for summary_index, part in enumerate(item.get("summary") or []):
            events.extend(_summary_events({**where, "summary_index": summary_index}, part))
    else:  # built-in tool calls and other items: announced whole, as they are not streamed piecewise
        events.append({"type": "response.output_item.added", "output_index": index, "item": item})
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events


def _part_events(where: dict[str, Any], part: dict[str, Any]) -> list[dict[str, Any]]:
    kind = part.get("type")
    if kind == "output_text":
        text = str(part.get("text") or "")
        logprobs = part.get("logprobs") or []
        events = [{"type": "response.content_part.added", **where, "part": {**part, "text": "", "annotations": []}}]
        events += [
            {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
            for piece in pieces(text, REPLAY_PIECE_CHARS)
        ]
        events += [
            {"type": "response.output_text.annotation.added", **where, "annotation_index": i, "annotation": note}
            for i, note in enumerate(part.get("annotations") or [])
        ]
        events.append({"type": "response.output_text.done", **where, "text": text, "logprobs": logprobs})
    elif kind == "refusal":
        refusal = str(part.get("refusal") or "")
        events = [{"type": "response.content_part.added", **where, "part": {**part, "refusal": ""}}]
        events += [
            {"type": "response.refusal.delta", **where, "delta": piece} for piece in pieces(refusal, REPLAY_PIECE_CHARS)
        ]
        events.append({"type": "response.refusal.done", **where, "refusal": refusal})
    else:
        events = [{"type": "response.content_part.added", **where, "part": part}]
    events.append({"type": "response.content_part.done", **where, "part": part})
    return events


def _summary_events(where: dict[str, Any], part: dict[str, Any]) -> list[dict[str, Any]]:
    text = str(part.get("text") or "")
    return [
        {"type": "response.reasoning_summary_part.added", **where, "part": {**part, "text": ""}},
        *(
            {"type": "response.reasoning_summary_text.delta", **where, "delta": piece}
            for piece in pieces(text, REPLAY_PIECE_CHARS)
        ),
        {"type": "response.reasoning_summary_text.done", **where, "text": text},
        {"type": "response.reasoning_summary_part.done", **where, "part": part},
    ]
