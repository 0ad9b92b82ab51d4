"""Canonical request -> cache key.

The key is SHA-256 over the tenant (unless the scope is shared), the namespace, its flush
generation, the route and the canonical JSON of the request. Canonical JSON sorts object keys,
drops insignificant whitespace, writes 0.0 as 0, and writes a message whose content is a single
text part the same as plain string content. Fields that cannot change the answer are left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

KEY_VERSION = "v1"
# Client headers passed on to the provider that select what answers: the account context (organization,
# project: model access, data controls) and beta behaviour. Requests that differ in them never share a key.
ANSWER_HEADERS = ("openai-organization", "openai-project", "openai-beta")
# Fields that do not change the answer (transport, attribution and our own controls).
IGNORED_FIELDS = frozenset({"stream", "stream_options", "user", "metadata", "cache"})


def normalize_numbers(value: Any) -> Any:
    if isinstance(value, float):
        # JSON has one number type: 1.0 and 1 ask the same thing. bool is left alone (True is not 1).
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {k: normalize_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize_numbers(v) for v in value]
    return value


def _normalize_content(message: Any) -> Any:
    """`"hi"` and `[{"type": "text", "text": "hi"}]` are the same message for the provider."""
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    if (
        isinstance(content, list)
        and len(content) == 1
        and isinstance(content[0], dict)
        and content[0].keys() == {"type", "text"}
        and content[0]["type"] == "text"
        and isinstance(content[0]["text"], str)
    ):
        return {**message, "content": content[0]["text"]}
    return message


def canonical_request(body: dict[str, Any]) -> dict[str, Any]:
    """The request with ignored fields dropped and equivalent spellings made equal."""
    kept = {k: v for k, v in body.items() if k not in IGNORED_FIELDS}
    messages = kept.get("messages")
    if isinstance(messages, list):
        kept["messages"] = [_normalize_content(m) for m in messages]
    normalized: dict[str, Any] = normalize_numbers(kept)
    return normalized


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(*parts: str) -> str:
    """SHA-256 over length-delimited parts, so no two part lists can collide by concatenation."""
    h = hashlib.sha256()
    for part in parts:
        # surrogatepass: JSON may carry a lone surrogate ("\ud800"); it still needs a key, and the mapping stays
        # one-to-one, so no two texts share one.
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def tenant_id(credential: str | None = None, api_key_id: str | None = None) -> str:
    """A stable, non-reversible id for the caller. The raw credential is never stored or logged."""
    if api_key_id:
        return digest("apigw-key", api_key_id)[:32]
    if credential:
        return digest("bearer", credential)[:32]
    return "anonymous"


def cache_key(
    *,
    tenant: str,
    namespace: str,
    generation: str,
    route: str,
    request_hash_input: str,
) -> str:
    """The cache key. `tenant` is "" when the deployment's scope is shared."""
    return digest(KEY_VERSION, tenant, namespace, generation, route, request_hash_input)


def header_context(headers: dict[str, str], names: tuple[str, ...] = ANSWER_HEADERS) -> str:
    """The answer-selecting headers (`names`, an API's own) the request carries, canonically; "" when none
    (keys then stay as they were)."""
    present = {name: headers[name] for name in names if name in headers}
    return canonical_json(present) if present else ""


def request_key(
    *,
    tenant: str,
    namespace: str,
    generation: str,
    route: str,
    body: dict[str, Any],
    custom_key: str | None,
    context: str = "",
    canonicalize: Callable[[dict[str, Any]], dict[str, Any]] = canonical_request,
) -> str:
    """Key for a whole request: its canonical JSON, or the caller's custom key in its place, plus the
    `header_context` when there is one (canonical JSON holds no raw newline, so the join is unambiguous).
    `canonicalize` is the API's own (a dialect's `canonical`); chat and completions by default."""
    material = f"custom:{custom_key}" if custom_key is not None else canonical_json(canonicalize(body))
    if context:
        material = f"{material}\n{context}"
    return cache_key(
        tenant=tenant, namespace=namespace, generation=generation, route=route, request_hash_input=material
    )
