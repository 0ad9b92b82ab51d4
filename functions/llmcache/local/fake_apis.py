"""The offline provider's answers for OpenAI's Responses API, Anthropic's Messages API, and the routes the
gateway only passes on (moderations, files): the same shapes, event sequences, usage fields and error
envelopes as the real APIs. Pure builders; fake_provider.py serves them. Standard library only.

Deterministic text ("offline answer to: <the last user text>"), a fresh random id per call.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import json
import re
import secrets
import string
import time
from collections.abc import Iterator
from typing import Any

ANSWER_PREFIX = "offline answer to: "
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_OBFUSCATION = string.ascii_letters + string.digits

# (event name, payload): named events are what Anthropic's SDK dispatches on; OpenAI sends them too.
Event = tuple[str, dict[str, Any]]


def _token(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _hex_id(prefix: str) -> str:
    return prefix + secrets.token_hex(24)


def _tokens(text: str) -> int:
    return len(_WORD.findall(text))


def _words(text: str) -> list[str]:
    """Stream deltas (a word with its leading space) that join back to exactly `text`."""
    return re.findall(r"\s*\S+", text) or [text]


def _cut(text: str, max_tokens: Any) -> tuple[str, bool]:
    """`text` cut to `max_tokens` tokens, and whether it was cut."""
    if not isinstance(max_tokens, int) or _tokens(text) <= max_tokens:
        return text, False
    return " ".join(m.group(0) for m in list(_WORD.finditer(text))[: max(0, max_tokens)]), True


def _text(content: Any, part_types: tuple[str, ...]) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") in part_types)
    return ""


def _last_user_text(items: Any, part_types: tuple[str, ...]) -> str:
    if isinstance(items, str):
        return items
    for item in reversed(items if isinstance(items, list) else []):
        if isinstance(item, dict) and item.get("role") == "user":
            return _text(item.get("content"), part_types)
    return ""


def _arguments(schema: Any, question: str) -> dict[str, Any]:
    """Arguments that fit a JSON schema's properties: 1 for numbers, the question for strings."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    kinds: dict[Any, Any] = {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}
    return {
        name: kinds.get(spec.get("type") if isinstance(spec, dict) else None, question[:40] or name)
        for name, spec in (props if isinstance(props, dict) else {}).items()
    }


def _named_tool(
    tools: list[dict[str, Any]], forced: str | None, question: str, required: bool
) -> dict[str, Any] | None:
    """The tool to call: the forced one, else one the question names (or any when a call is required)."""
    if not tools:
        return None
    if forced is not None:
        return next((t for t in tools if t.get("name") == forced), tools[0])
    lowered = question.lower()
    named = next((t for t in tools if str(t.get("name", "")).lower() in lowered), None)
    if named is None and (required or "use a tool" in lowered or "call a tool" in lowered):
        return tools[0]
    return named


# ------------------------------------------------------------------------------------------ Responses API
class ResponsesAnswer:
    """The answer to `POST /v1/responses`: a Response object, plain or as its typed event stream."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.id = _hex_id("resp_")
        self.created_at = int(time.time())
        self.question = _last_user_text(body.get("input"), ("input_text",))
        instructions = str(body.get("instructions") or "")
        self.input_tokens = _tokens(self.question) + _tokens(instructions) + 7
        self.output: list[dict[str, Any]] = []
        reasoning = body.get("reasoning")
        if isinstance(reasoning, dict) and reasoning.get("summary"):
            summary = [
                {"type": "summary_text", "text": f"**Thinking**\n\nOffline reasoning about: {self.question[:40]}"}
            ]
            self.output.append({"id": _hex_id("rs_"), "type": "reasoning", "summary": summary})
        tool = self._tool()
        self.truncated = False
        if tool is not None:
            arguments = json.dumps(_arguments(tool.get("parameters"), self.question))
            call = {"arguments": arguments, "call_id": _token(_OBFUSCATION, 24), "name": tool.get("name")}
            self.output.append({"id": _hex_id("fc_"), "type": "function_call", "status": "completed", **call})
        else:
            text, self.truncated = _cut(ANSWER_PREFIX + self.question[:80], body.get("max_output_tokens"))
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
            message = {"id": _hex_id("msg_"), "type": "message", "status": "completed", "content": [part]}
            self.output.append({**message, "role": "assistant"})

    def _tool(self) -> dict[str, Any] | None:
        tools = [t for t in self.body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
        choice = self.body.get("tool_choice")
        if choice == "none":
            return None
        forced = choice.get("name") if isinstance(choice, dict) else None
        return _named_tool(tools, forced, self.question, choice == "required")

    def usage(self) -> dict[str, Any]:
        output = sum(_tokens(json.dumps(item)) // 4 + 1 for item in self.output)
        reasoning = sum(8 for item in self.output if item["type"] == "reasoning")
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": self.input_tokens + output,
        }

    def plain(self, *, status: str | None = None) -> dict[str, Any]:
        body = self.body
        done = status or ("incomplete" if self.truncated else "completed")
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": done,
            "background": bool(body.get("background")),
            "completed_at": int(time.time()) if done == "completed" else None,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if done == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": body.get("model"),
            "output": self.output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": {"effort": None, "summary": None, **(body.get("reasoning") or {})},
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": "default",
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_logprobs": body.get("top_logprobs", 0),
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": self.usage(),
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    def events(self, *, finish: bool = True) -> Iterator[Event]:
        """As OpenAI streams it: created, in_progress, each item word by word (deltas padded with an
        `obfuscation` field), completed (or incomplete); every event numbered by `sequence_number`."""
        final = self.plain()
        opening = {**final, "status": "in_progress", "completed_at": None, "output": [], "usage": None}
        numbered = (
            ("response.created", {"response": opening}),
            ("response.in_progress", {"response": opening}),
            *(event for index, item in enumerate(self.output) for event in self._item_events(index, item)),
        )
        for number, (name, payload) in enumerate(numbered):
            yield name, {"type": name, "sequence_number": number, **payload}
        if finish:
            last = f"response.{final['status']}"
            yield last, {"type": last, "sequence_number": len(numbered), "response": final}

    def _item_events(self, index: int, item: dict[str, Any]) -> Iterator[Event]:
        at = {"item_id": item["id"], "output_index": index}
        kind = item["type"]
        if kind == "message":
            yield (
                "response.output_item.added",
                {"output_index": index, "item": {**item, "status": "in_progress", "content": []}},
            )
            part = item["content"][0]
            where = {**at, "content_index": 0}
            yield "response.content_part.added", {**where, "part": {**part, "text": ""}}
            for word in _words(part["text"]):
                obfuscation = _token(_OBFUSCATION, max(1, 16 - len(word)))
                yield "response.output_text.delta", {**where, "delta": word, "logprobs": [], "obfuscation": obfuscation}
            yield "response.output_text.done", {**where, "text": part["text"], "logprobs": []}
            yield "response.content_part.done", {**where, "part": part}
        elif kind == "function_call":
            yield (
                "response.output_item.added",
                {"output_index": index, "item": {**item, "status": "in_progress", "arguments": ""}},
            )
            for word in _words(item["arguments"]):
                yield "response.function_call_arguments.delta", {**at, "delta": word, "obfuscation": "x"}
            yield "response.function_call_arguments.done", {**at, "arguments": item["arguments"]}
        else:  # reasoning
            yield "response.output_item.added", {"output_index": index, "item": {**item, "summary": []}}
            part = item["summary"][0]
            where = {**at, "summary_index": 0}
            yield "response.reasoning_summary_part.added", {**where, "part": {**part, "text": ""}}
            for word in _words(part["text"]):
                yield "response.reasoning_summary_text.delta", {**where, "delta": word, "obfuscation": "x"}
            yield "response.reasoning_summary_text.done", {**where, "text": part["text"]}
            yield "response.reasoning_summary_part.done", {**where, "part": part}
        yield "response.output_item.done", {"output_index": index, "item": item}


# ----------------------------------------------------------------------------------------- Messages API
ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request (injected by the fake provider)."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def anthropic_error(status: int, message: str | None = None) -> dict[str, Any]:
    kind, default = ANTHROPIC_ERRORS.get(status, ("api_error" if status >= 500 else "invalid_request_error", "Error"))
    return {
        "type": "error",
        "error": {"type": kind, "message": message or default},
        "request_id": "req_" + _token(_OBFUSCATION, 24),
    }


class MessagesAnswer:
    """The answer to `POST /v1/messages`: a Message, plain or as Anthropic's named event stream."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.id = "msg_01" + _token(_OBFUSCATION, 22)
        self.question = _last_user_text(body.get("messages"), ("text",))
        system = _text(body.get("system"), ("text",))
        self.input_tokens = _tokens(self.question) + _tokens(system) + 8
        self.content: list[dict[str, Any]] = []
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") == "enabled":
            thought = f"Offline thinking about: {self.question[:40]}"
            signature = base64.b64encode(hashlib.sha256(thought.encode()).digest() * 3).decode()
            self.content.append({"type": "thinking", "thinking": thought, "signature": signature})
        tool = self._tool()
        self.stop_reason = "end_turn"
        if tool is not None:
            tool_input = _arguments(tool.get("input_schema"), self.question)
            self.content.append(
                {
                    "type": "tool_use",
                    "id": "toolu_01" + _token(_OBFUSCATION, 22),
                    "name": tool.get("name"),
                    "input": tool_input,
                }
            )
            self.stop_reason = "tool_use"
        else:
            text, cut = _cut(ANSWER_PREFIX + self.question[:80], body.get("max_tokens"))
            self.content.append({"type": "text", "text": text})
            self.stop_reason = "max_tokens" if cut else "end_turn"

    def _tool(self) -> dict[str, Any] | None:
        tools = [t for t in self.body.get("tools") or [] if isinstance(t, dict) and "input_schema" in t]
        raw = self.body.get("tool_choice")
        choice: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if choice.get("type") == "none":
            return None
        forced = choice.get("name") if choice.get("type") == "tool" else None
        return _named_tool(tools, forced, self.question, choice.get("type") == "any")

    def usage(self) -> dict[str, Any]:
        output = sum(_tokens(json.dumps(block)) // 4 + 1 for block in self.content)
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output,
            "service_tier": "standard",
        }

    def plain(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.body.get("model"),
            "content": self.content,
            "stop_reason": self.stop_reason,
            "stop_sequence": None,
            "usage": self.usage(),
        }

    def events(self, *, finish: bool = True) -> Iterator[Event]:
        """As Anthropic streams it: message_start, a ping, each block (start, deltas, stop), message_delta
        with the stop reason and the output tokens, message_stop."""
        usage = self.usage()
        start = {**self.plain(), "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        yield "message_start", {"type": "message_start", "message": start}
        for index, block in enumerate(self.content):
            for number, event in enumerate(self._block_events(index, block)):
                yield event
                if index == 0 and number == 0:  # Anthropic pings right after the first block starts
                    yield "ping", {"type": "ping"}
        if finish:
            delta = {"stop_reason": self.stop_reason, "stop_sequence": None}
            yield (
                "message_delta",
                {"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage["output_tokens"]}},
            )
            yield "message_stop", {"type": "message_stop"}

    @staticmethod
    def _block_events(index: int, block: dict[str, Any]) -> Iterator[Event]:
        def delta(payload: dict[str, Any]) -> Event:
            return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": payload}

        kind = block["type"]
        if kind == "thinking":
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {**block, "thinking": "", "signature": ""},
                },
            )
            for word in _words(block["thinking"]):
                yield delta({"type": "thinking_delta", "thinking": word})
            yield delta({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "tool_use":
            yield (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
            )
            arguments = json.dumps(block["input"])
            third = max(1, len(arguments) // 3)
            for piece in ["", *(arguments[i : i + third] for i in range(0, len(arguments), third))]:
                yield delta({"type": "input_json_delta", "partial_json": piece})
        else:
            yield (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            )
            for word in _words(block["text"]):
                yield delta({"type": "text_delta", "text": word})
        yield "content_block_stop", {"type": "content_block_stop", "index": index}


def anthropic_models() -> dict[str, Any]:
    """Anthropic's `GET /v1/models`: its own list shape (not OpenAI's), newest first."""
    models = [
        {"type": "model", "id": name, "display_name": name, "created_at": "2025-09-29T00:00:00Z"}
        for name in ("claude-sonnet-4-5", "claude-haiku-4-5")
    ]
    return {"data": models, "has_more": False, "first_id": models[0]["id"], "last_id": models[-1]["id"]}


def count_message_tokens(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/messages/count_tokens`."""
    system = _text(body.get("system"), ("text",))
    raw = body.get("messages")
    messages: list[Any] = raw if isinstance(raw, list) else []
    text = " ".join(_text(m.get("content"), ("text",)) for m in messages if isinstance(m, dict))
    return {"input_tokens": _tokens(text) + _tokens(system) + 8}


# ---------------------------------------------------------------------------------- passed-on OpenAI routes
_MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


def moderation(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/moderations`: nothing is flagged, one result per input."""
    raw = body.get("input")
    inputs = raw if isinstance(raw, list) else [raw]
    result = {
        "flagged": False,
        "categories": dict.fromkeys(_MODERATION_CATEGORIES, False),
        "category_scores": dict.fromkeys(_MODERATION_CATEGORIES, 0.0001),
        "category_applied_input_types": {name: ["text"] for name in _MODERATION_CATEGORIES},
    }
    return {
        "id": "modr-" + _token(_OBFUSCATION, 24),
        "model": body.get("model") or "omni-moderation-latest",
        "results": [result for _ in inputs],
    }


def uploaded_file(content_type: str, raw: bytes) -> dict[str, Any] | None:
    """`POST /v1/files` (multipart: `purpose` and `file`) as the File object; None when it is not that form."""
    if not content_type.startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in form.iter_parts() if form.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (part.get_filename(), payload)
    if "file" not in fields or "purpose" not in fields:
        return None
    filename, content = fields["file"]
    return {
        "id": "file-" + _token(_OBFUSCATION, 22),
        "object": "file",
        "bytes": len(content),
        "created_at": int(time.time()),
        "filename": filename or "upload",
        "purpose": fields["purpose"][1].decode("utf-8", "replace"),
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }
