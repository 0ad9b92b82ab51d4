"""OpenAI's chat completions and (legacy) completions: `data:` chunks ending in `data: [DONE]`.

On a MISS the provider's stream is parsed (`dialects.sse`) and its data fed to a `StreamAssembler`, whose
`result()` is the non-stream answer to store (or None: never store a stream that did not finish). On a HIT
`replay_sse` turns a stored answer back into the SSE bytes an OpenAI SDK expects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llmcache.dialects.base import SseDialect
from llmcache.dialects.sse import SseEvent
from llmcache.dialects.wire import int_field, single_text_part, split_last_user_text
from llmcache.errors import BadRequest
from llmcache.keys import normalize_numbers
from llmcache.savings import TokenCounts

if TYPE_CHECKING:
    from llmcache.errors import GatewayError

# Client headers passed on to the provider that select what answers: the account context (organization,
# project: model access, data controls) and beta behaviour. Requests that differ in them never share a key.
ANSWER_HEADERS = ("openai-organization", "openai-project", "openai-beta")
# Of those, the ones that choose the account's organization and project: beside a managed key (the operator's)
# they would let a caller pick among the operator's organizations and bill another one, so they stay here.
ACCOUNT_HEADERS = frozenset({"openai-organization", "openai-project"})
# Fields that do not change the answer (transport, attribution and our own controls).
IGNORED_FIELDS = frozenset({"stream", "stream_options", "user", "metadata", "cache"})

DONE = "[DONE]"

# Delta keys that identify or tag an entry rather than carry text, so they are replaced, never concatenated
# (some providers repeat `role` or a tool call's `id` in every delta).
_REPLACED_KEYS = frozenset({"index", "type", "role", "id"})
# Top-level fields copied between a stored answer and its chunks, when the source has them.
_OPTIONAL_TOP_KEYS = ("service_tier", "system_fingerprint")


def _is_indexed(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(e, dict) and "index" in e for e in value)


def _merge(acc: dict[str, Any], delta: dict[str, Any]) -> None:
    """Fold one delta into the accumulated object, as the OpenAI SDK's `accumulate_delta` does.

    Strings are concatenated, objects merged, lists of `index`ed objects (tool calls) merged by index, other
    lists (logprobs, annotations) extended; a null never erases a value already seen.
    """
    for key, value in delta.items():
        current = acc.get(key)
        if _is_indexed(value):
            entries = current if isinstance(current, list) else []
            for part in value:
                target = next((e for e in entries if e.get("index") == part["index"]), None)
                if target is None:
                    entries.append(target := {})
                _merge(target, part)
            acc[key] = entries
        elif value is None:
            acc.setdefault(key, None)
        elif isinstance(current, str) and isinstance(value, str) and key not in _REPLACED_KEYS:
            acc[key] = current + value
        elif isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(value)
        else:
            acc[key] = value


class StreamAssembler:
    """Accumulates the data payloads of one upstream stream into the equivalent non-stream answer."""

    def __init__(self) -> None:
        self._top: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: dict[str, Any] | None = None
        self._text_completion = False
        self.done = False
        self.broken = False

    @property
    def finished(self) -> bool:
        return self.done

    def feed(self, event: SseEvent) -> None:
        if self.done or self.broken:
            return
        data = event.data
        if data.strip() == DONE:
            self.done = True
            return
        try:
            chunk = json.loads(data)
            self._add(chunk)
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
            # Not JSON, or JSON that is not a chunk: the answer cannot be trusted.
            self.broken = True

    def _add(self, chunk: dict[str, Any]) -> None:
        if chunk.get("error") is not None:
            raise ValueError("error event")
        if chunk.get("object") == "text_completion":
            self._text_completion = True
        for key in ("id", "created", "model", *_OPTIONAL_TOP_KEYS):
            if key in chunk and (chunk[key] is not None or key not in self._top):
                self._top[key] = chunk[key]
        if chunk.get("usage") is not None:
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            acc = self._choices.setdefault(int(choice.get("index", 0)), {})
            if choice.get("finish_reason") is not None:
                acc["finish_reason"] = choice["finish_reason"]
            # Chat chunks carry a `delta` object; completions chunks carry `text` on the choice itself.
            delta = {"text": choice.get("text")} if "text" in choice else {}
            delta.update(choice.get("delta") or {})
            if choice.get("logprobs") is not None:
                delta["logprobs"] = choice["logprobs"]
            _merge(acc, delta)

    def result(self) -> dict[str, Any] | None:
        """The non-stream answer, or None unless the stream ended with [DONE] and every choice finished."""
        if not (self.done and not self.broken and self._choices):
            return None
        if any(c.get("finish_reason") is None for c in self._choices.values()):
            return None
        try:
            return self._answer()
        except (ValueError, TypeError, AttributeError, KeyError):
            return None  # deltas of a shape that does not fold into a message (e.g. tool calls not objects)

    def _answer(self) -> dict[str, Any]:
        build = self._completion_choice if self._text_completion else self._chat_choice
        answer: dict[str, Any] = {
            "id": self._top.get("id"),
            "object": "text_completion" if self._text_completion else "chat.completion",
            "created": self._top.get("created"),
            "model": self._top.get("model"),
            **{k: self._top[k] for k in _OPTIONAL_TOP_KEYS if k in self._top},
            "choices": [build(i, self._choices[i]) for i in sorted(self._choices)],
        }
        if self._usage is not None:
            answer["usage"] = self._usage
        return answer

    @staticmethod
    def _completion_choice(index: int, acc: dict[str, Any]) -> dict[str, Any]:
        return {
            "text": acc.get("text") or "",
            "index": index,
            "logprobs": acc.get("logprobs"),
            "finish_reason": acc["finish_reason"],
        }

    @staticmethod
    def _chat_choice(index: int, acc: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in acc.items() if k not in ("finish_reason", "logprobs") and v is not None}
        message = {"role": fields.pop("role", "assistant"), "content": fields.pop("content", None)}
        message["refusal"] = fields.pop("refusal", None)
        message.update(fields)  # tool_calls, function_call, audio, annotations, ...: only when streamed
        if "tool_calls" in message:
            message["tool_calls"] = [_finish_tool_call(t) for t in sorted(message["tool_calls"], key=_index)]
        return {
            "index": index,
            "message": message,
            "logprobs": acc.get("logprobs"),
            "finish_reason": acc["finish_reason"],
        }


def _index(entry: dict[str, Any]) -> int:
    return int(entry.get("index", 0))  # stable sort: entries without an index keep their order


def _finish_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """A merged tool-call delta as a non-stream tool call: no `index`, type and both function fields set."""
    call = {k: v for k, v in call.items() if k != "index"}
    call.setdefault("type", "function")
    if call["type"] == "function":
        call["function"] = {"name": "", "arguments": "", **(call.get("function") or {})}
    return call


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _chat_deltas(message: dict[str, Any], size: int) -> Iterator[dict[str, Any]]:
    """The deltas OpenAI would stream for one message, in its order: role, content, tool calls, refusal."""
    content = message.get("content")
    # `content: ""` in the role chunk, like OpenAI, keeps an empty answer a string; null keeps it null.
    role = message.get("role", "assistant")
    yield {"role": role, "content": "" if isinstance(content, str) else None, "refusal": None}
    for piece in _pieces(content or "", size):
        yield {"content": piece}
    for key in ("audio", "annotations"):
        if message.get(key) is not None:
            yield {key: message[key]}
    if message.get("function_call") is not None:
        call = message["function_call"]
        yield {"function_call": {"name": call.get("name", ""), "arguments": ""}}
        for piece in _pieces(call.get("arguments") or "", size):
            yield {"function_call": {"arguments": piece}}
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        head = {"index": index, "id": call.get("id"), "type": call.get("type", "function")}
        yield {"tool_calls": [{**head, "function": {"name": function.get("name", ""), "arguments": ""}}]}
        for piece in _pieces(function.get("arguments") or "", size):
            yield {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
    if message.get("refusal") is not None:
        for piece in _pieces(message["refusal"], size) or [""]:
            yield {"refusal": piece}


def _chat_choices(answer: dict[str, Any], size: int) -> Iterator[dict[str, Any]]:
    for choice in sorted(answer.get("choices") or [], key=_index):
        logprobs = choice.get("logprobs")
        for delta in _chat_deltas(choice.get("message") or {}, size):
            # The whole logprobs object rides on the first chunk: pieces are cut by characters, not tokens.
            yield {"index": choice["index"], "delta": delta, "logprobs": logprobs, "finish_reason": None}
            logprobs = None
        yield {
            "index": choice["index"],
            "delta": {},
            "logprobs": None,
            "finish_reason": choice.get("finish_reason"),
        }


def _completion_choices(answer: dict[str, Any], size: int) -> Iterator[dict[str, Any]]:
    for choice in sorted(answer.get("choices") or [], key=_index):
        logprobs = choice.get("logprobs")
        for piece in _pieces(choice.get("text") or "", size):
            yield {"text": piece, "index": choice["index"], "logprobs": logprobs, "finish_reason": None}
            logprobs = None
        finish = choice.get("finish_reason")
        yield {"text": "", "index": choice["index"], "logprobs": logprobs, "finish_reason": finish}


def _event(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def replay_sse(answer: dict[str, Any], *, include_usage: bool, chunk_chars: int = 64) -> bytes:
    """The SSE bytes an OpenAI stream would have carried for a stored non-stream answer, ending in [DONE].

    With `include_usage`, as OpenAI does: every chunk has `"usage": null` and a last chunk with no choices
    carries the usage.
    """
    text_completion = answer.get("object") == "text_completion"
    head: dict[str, Any] = {
        "id": answer.get("id"),
        "object": "text_completion" if text_completion else "chat.completion.chunk",
        "created": answer.get("created"),
        "model": answer.get("model"),
        **{k: answer[k] for k in _OPTIONAL_TOP_KEYS if k in answer},
    }
    tail = {"usage": None} if include_usage else {}
    size = max(1, chunk_chars)
    choices = _completion_choices(answer, size) if text_completion else _chat_choices(answer, size)
    events = [_event({**head, "choices": [choice], **tail}) for choice in choices]
    if include_usage:
        events.append(_event({**head, "choices": [], "usage": answer.get("usage")}))
    events.append(_event(DONE))
    return b"".join(events)


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


# ----- the request's canonical form, the answer's checks and usage ------------------------------------------------
def canonical_request(body: dict[str, Any]) -> dict[str, Any]:
    """The request with ignored fields dropped and equivalent spellings made equal: `"hi"` and
    `[{"type": "text", "text": "hi"}]` are the same message for the provider."""
    kept = {k: v for k, v in body.items() if k not in IGNORED_FIELDS}
    messages = kept.get("messages")
    if isinstance(messages, list):
        kept["messages"] = [_plain_content(m) for m in messages]
    normalized: dict[str, Any] = normalize_numbers(kept)
    return normalized


def _plain_content(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    text = single_text_part(message.get("content"), "text")
    return {**message, "content": text} if text is not None else message


def is_storable_answer(route: str, status: int, answer: Any) -> bool:
    """Only complete 2xx answers: never an error, never an answer without choices."""
    if not 200 <= status < 300 or not isinstance(answer, dict) or "error" in answer:
        return False
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    return all(_is_servable_choice(route, c) for c in choices)


def _is_servable_choice(route: str, choice: Any) -> bool:
    """A finished choice in OpenAI's shape: a stored answer is later replayed as a stream, which needs it.

    A choice cut off mid-generation by an error has no finish_reason; one without an integer index, or
    whose message is not an object, could not be replayed."""
    if not isinstance(choice, dict) or not choice.get("finish_reason"):
        return False
    index = choice.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        return False
    if route == "completions":
        return isinstance(choice.get("text"), str)
    message = choice.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("content"), (str, type(None))):
        return False
    tool_calls = message.get("tool_calls")
    function_call = message.get("function_call")
    return (tool_calls is None or (isinstance(tool_calls, list) and all(isinstance(t, dict) for t in tool_calls))) and (
        function_call is None or isinstance(function_call, dict)
    )


def usage_counts(answer: dict[str, Any], prefix: str = "prompt", output_name: str = "completion_tokens") -> TokenCounts:
    """OpenAI's usage: `prompt_tokens` (the cached ones included, in `prompt_tokens_details`) and
    `completion_tokens`; the Responses API spells them `input_*` and `output_tokens` (`prefix`, `output_name`)."""
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        return TokenCounts()
    input_tokens, output = positive(usage, f"{prefix}_tokens"), positive(usage, output_name)
    cached = positive(usage.get(f"{prefix}_tokens_details"), "cached_tokens")
    total = positive(usage, "total_tokens") or input_tokens + output
    return TokenCounts(total=total, input=input_tokens, cached_input=min(cached, input_tokens), output=output)


def positive(usage: Any, name: str) -> int:
    """A token count of a usage object, 0 unless it is a whole number above 0."""
    return max(0, int_field(usage, name))


# ----- the dialects ----------------------------------------------------------------------------------------------
class ChatCompletions(SseDialect):
    route = "chat/completions"
    required = ("model", "messages")
    answer_headers = ANSWER_HEADERS

    def canonical(self, body: dict[str, Any]) -> dict[str, Any]:
        return canonical_request(body)

    def storable(self, status: int, answer: Any) -> bool:
        return is_storable_answer(self.route, status, answer)

    def usage(self, answer: dict[str, Any]) -> TokenCounts:
        return usage_counts(answer)

    def validate(self, body: dict[str, Any]) -> None:
        if not isinstance(body["messages"], list) or not body["messages"]:
            raise BadRequest("`messages` must be a non-empty list of messages", param="messages")

    def assembler(self) -> StreamAssembler:
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
