"""What the semantic index compares, and the partition that everything else must match exactly.

Only the text of the last user message (or a completion's prompt) is compared. The partition is a
hash of the tenant, namespace and flush generation, the route, the model, every parameter and all
earlier messages (system prompt and history), so an agent loop or another conversation never
replays an answer meant for a different context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmcache import keys


@dataclass(frozen=True)
class SemanticQuery:
    partition: str
    text: str


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if (
        isinstance(content, list)
        and content
        and all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content)
    ):
        return "\n".join(p["text"] for p in content)
    return None  # images, audio, files: no semantic matching


def semantic_query(
    route: str,
    body: dict[str, Any],
    tenant_scope: str,
    namespace: str,
    generation: str,
    max_chars: int,
    context: str = "",
) -> SemanticQuery | None:
    """None when the request has no text to compare, or more than `max_chars` of it (beyond the embedder's
    window, whatever follows would not count: such prompts are matched exactly only)."""
    canonical = keys.canonical_request(body)
    if route == "chat/completions":
        messages = canonical.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
            return None
        last = messages[-1]
        if last.get("role") != "user":
            return None
        text = _text_of(last.get("content"))
        rest = {**canonical, "messages": [*messages[:-1], {**last, "content": None}]}
    elif route == "completions":
        text = canonical.get("prompt") if isinstance(canonical.get("prompt"), str) else None
        rest = {**canonical, "prompt": None}
    else:
        return None
    if not text or not text.strip() or len(text) > max_chars:
        return None
    # `context`: the answer-selecting headers (keys.header_context), part of the partition as of the key
    partition = keys.digest("semantic", tenant_scope, namespace, generation, route, keys.canonical_json(rest), context)
    return SemanticQuery(partition, text)
