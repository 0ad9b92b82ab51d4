"""What the engine asks of every cached API; each API's module answers it for its own wire format.

A dialect is stateless and pure (stdlib only, no I/O), so the Lambda, the ASGI app and the tests share it.
The engine stays the same for every API: it asks the dialect which fields key a request, whether the
request may be served from the cache at all, how to assemble the provider's stream into one stored
answer, how to replay a stored answer as a stream, whether an answer is complete, how many tokens it
counts, what text semantic matching compares, and how an error looks on that route.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from llmcache import keys
from llmcache.errors import BadRequest, GatewayError, Unauthorized
from llmcache.streaming import _iter_lines

MAX_CREDENTIAL_CHARS = 4096


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event: its `event:` name (None when the line was absent) and its `data` payload."""

    event: str | None
    data: str


def iter_sse_events(chunks: Iterable[bytes]) -> Iterator[SseEvent]:
    """Each complete event of a byte stream, with its name: Anthropic's SDK dispatches on `event:`.

    Same rules as `streaming.iter_sse_data` (WHATWG): comments and `id`/`retry` ignored, multi-line data
    joined with "\\n", an event cut off by the end of the stream never dispatched.
    """
    name: str | None = None
    data: list[str] = []
    first = True
    for line in _iter_lines(chunks):
        if first:
            line, first = line.removeprefix("\ufeff"), False
        if not line:
            if data:
                yield SseEvent(name, "\n".join(data))
            name, data = None, []
            continue
        field, colon, value = line.partition(":")
        value = value.removeprefix(" ") if colon else ""
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value


def sse_bytes(event: str | None, payload: dict[str, Any]) -> bytes:
    """One SSE event as a provider writes it: an `event:` line (when named) and one compact `data:` line."""
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def pieces(text: str, size: int) -> list[str]:
    """`text` cut into replay deltas of `size` characters (at least one piece, so an empty text is sent)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def text_of(content: Any, part_types: frozenset[str]) -> str | None:
    """The text of a message's content: a string, or a list made only of text parts (one of `part_types`).

    None for anything else (images, files, tool results): such a message is not matched semantically."""
    if isinstance(content, str):
        return content
    if (
        isinstance(content, list)
        and content
        and all(isinstance(p, dict) and p.get("type") in part_types and isinstance(p.get("text"), str) for p in content)
    ):
        return "\n".join(p["text"] for p in content)
    return None


def single_text_part(content: Any, part_type: str) -> str | None:
    """The text when `content` is exactly one plain text part (`[{"type": part_type, "text": t}]`), else None."""
    if (
        isinstance(content, list)
        and len(content) == 1
        and isinstance(content[0], dict)
        and content[0].keys() == {"type", "text"}
        and content[0]["type"] == part_type
        and isinstance(content[0]["text"], str)
    ):
        text: str = content[0]["text"]
        return text
    return None


def bearer_token(value: str) -> str:
    """The key of an `Authorization: Bearer <key>` header value; Unauthorized when it is not one."""
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not valid_token(token):
        raise Unauthorized("the Authorization header must be `Bearer <your API key>`")
    return token


def valid_token(token: str) -> bool:
    return (
        bool(token)
        and len(token) <= MAX_CREDENTIAL_CHARS
        and token.isascii()
        and token.isprintable()
        and not any(c.isspace() for c in token)
    )


class Assembler(Protocol):
    """Folds one provider stream, event by event, into the answer the same request would get unstreamed."""

    def feed(self, event: SseEvent) -> None: ...

    def result(self) -> dict[str, Any] | None:
        """The complete answer, or None: a stream that broke, carried an error or did not finish is never stored."""
        ...


class Dialect:
    """One cached API. Subclasses set the class attributes and override what their wire format needs."""

    route: ClassVar[str]  # the path after /v1/, and the route in the cache key
    provider: ClassVar[str] = "openai"  # which upstream answers it: "openai" or "anthropic"
    required: ClassVar[tuple[str, ...]] = ("model",)  # body fields without which the provider would refuse
    ignored_fields: ClassVar[frozenset[str]]  # left out of the key: they cannot change the answer
    answer_headers: ClassVar[tuple[str, ...]] = keys.ANSWER_HEADERS  # request headers that select the answer
    stream_content_type: ClassVar[str] = "text/event-stream; charset=utf-8"

    # ----- request ------------------------------------------------------------------------------------------
    def credential(self, headers: dict[str, str]) -> str | None:
        """The caller's key (`headers` lower-cased); None when it sent none; Unauthorized when malformed."""
        value = headers.get("authorization")
        return bearer_token(value) if value is not None else None

    def validate(self, body: dict[str, Any]) -> None:
        """BadRequest for what the provider would refuse anyway, before any lookup or provider call."""
        for name in self.required:
            if body.get(name) is None:
                raise BadRequest(f"`{name}` is required for /v1/{self.route}", param=name)
        if not isinstance(body["model"], str) or not body["model"]:
            raise BadRequest("`model` must be a non-empty string", param="model")

    def canonical(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request as the key sees it: ignored fields dropped, equivalent spellings made equal."""
        kept = {k: v for k, v in body.items() if k not in self.ignored_fields}
        normalized: dict[str, Any] = keys.normalize_numbers(kept)
        return normalized

    def bypass_reason(self, body: dict[str, Any]) -> str | None:
        """Why this request must go to the provider without a lookup or a store; None when it is cacheable."""
        return None

    def is_stream(self, body: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def upstream_stream_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fields to change in a streamed request sent upstream, so the stored answer is whole (e.g. usage)."""
        return {}

    # ----- answer -------------------------------------------------------------------------------------------
    def assembler(self) -> Assembler:
        raise NotImplementedError

    def is_complete(self, answer: Any) -> bool:
        """A finished answer in the API's own shape: only such an answer is stored (and can be replayed)."""
        raise NotImplementedError

    def replay(self, answer: dict[str, Any], body: dict[str, Any]) -> bytes:
        """The stream the provider would have sent for `answer`, in the API's event format, for `body`."""
        raise NotImplementedError

    def usage_tokens(self, answer: dict[str, Any]) -> int:
        """Tokens the provider counted for this answer: what a hit saves."""
        raise NotImplementedError

    def model_of(self, answer: dict[str, Any], body: dict[str, Any]) -> str:
        return str(answer.get("model") or body.get("model") or "")

    # ----- errors -------------------------------------------------------------------------------------------
    def error_body(self, error: GatewayError) -> dict[str, Any]:
        """The gateway's own error in this API's envelope (OpenAI's by default)."""
        return error.envelope()

    def stream_error_event(self, error: GatewayError) -> bytes:
        """The event that ends a stream broken after its status was sent, so the SDK raises."""
        return sse_bytes(None, self.error_body(error))

    # ----- semantic matching --------------------------------------------------------------------------------
    def semantic_split(self, canonical: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(the last user text, the canonical request with that text blanked), or None: nothing to compare.

        The rest must match exactly (it goes into the semantic partition)."""
        return None


def int_field(mapping: Any, name: str) -> int:
    """A whole-number field of a usage object (0 when absent or not a number)."""
    value = mapping.get(name) if isinstance(mapping, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
