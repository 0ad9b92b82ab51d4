"""Small wire-format helpers the dialects share: SSE events, replay pieces, text parts, credentials, usage."""

from __future__ import annotations

import json
from typing import Any

from llmcache.dialects.sse import SseEvent
from llmcache.errors import Unauthorized

MAX_CREDENTIAL_CHARS = 4096


def sse_bytes(event: str | None, payload: dict[str, Any]) -> bytes:
    """One SSE event as a provider writes it: an `event:` line (when named) and one compact `data:` line."""
    return SseEvent(json.dumps(payload, separators=(",", ":"), ensure_ascii=False), event).encode()


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


def split_last_user_text(
    canonical: dict[str, Any], field: str, part_types: frozenset[str]
) -> tuple[str, dict[str, Any]] | None:
    """For semantic matching: the text of the last entry of `canonical[field]` when it is a user turn made only
    of text, and the request with that text blanked (what must match exactly); None otherwise."""
    items = canonical.get(field)
    if not isinstance(items, list) or not items or not isinstance(items[-1], dict):
        return None
    last = items[-1]
    text = text_of(last.get("content"), part_types) if last.get("role") == "user" else None
    if text is None:
        return None  # images, audio, files, tool results, or not a user turn
    return text, {**canonical, field: [*items[:-1], {**last, "content": None}]}


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
        and " " not in token  # the only whitespace a printable ASCII token can still hold
    )


def int_field(mapping: Any, name: str) -> int:
    """A whole-number field of a usage object (0 when absent or not a number)."""
    value = mapping.get(name) if isinstance(mapping, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
