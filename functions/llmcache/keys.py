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

from llmcache.errors import BadRequest

# v2 (issue #22): entries no longer hold a caller's echoed fields (Responses `metadata`, `user`, ...); entries
# stored under v1 may, so they are never served again (one miss per entry on upgrade, as a flush would cost).
KEY_VERSION = "v2"
# Client headers passed on to the provider that select what answers: the account context (organization,
# project: model access, data controls) and beta behaviour. Requests that differ in them never share a key.
ANSWER_HEADERS = ("openai-organization", "openai-project", "openai-beta")
# Of those, the ones that choose the account's organization and project: beside a managed key (the operator's)
# they would let a caller pick among the operator's organizations and bill another one, so they stay here.
ACCOUNT_HEADERS = frozenset({"openai-organization", "openai-project"})
# Fields that do not change the answer (transport, attribution and our own controls).
IGNORED_FIELDS = frozenset({"stream", "stream_options", "user", "metadata", "cache"})


def parse_request_json(raw: bytes) -> dict[str, Any]:
    """The request body as the key sees it: a JSON object, read one way only.

    A key that appears twice in one object is refused: Python keeps the last one while other parsers (the
    provider's among them) may keep the first, so the key would name one question and the provider answer
    another. NaN, Infinity and numbers too large for a float are refused too: JSON cannot carry them back.
    """
    try:
        body = json.loads(
            raw, object_pairs_hook=_unique_keys, parse_constant=_reject_constant, parse_float=_finite_float
        )
    except _DuplicateKey as duplicate:
        raise BadRequest(
            f"the request body names the key {str(duplicate)[:60]!r} more than once in one object; send it once"
        ) from None
    except (ValueError, RecursionError):
        raise BadRequest("the request body is not valid JSON; send an OpenAI-style JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # rare: only then is the duplicate looked for
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _DuplicateKey(name)
            seen.add(name)
    return obj


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999 parses as infinity, which JSON cannot carry back
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def normalize_numbers(value: Any) -> Any:
    # Exact types first (a parsed body holds nothing else; this runs on every value of every request),
    # then subclasses, which get the same treatment.
    kind = type(value)
    if kind is str:
        return value
    if kind is dict:
        return {k: normalize_numbers(v) for k, v in value.items()}
    if kind is list:
        return [normalize_numbers(v) for v in value]
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


# One encoder for every key: json.dumps with options builds a new one on each call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def digest(*parts: str) -> str:
    """SHA-256 over length-delimited parts, so no two part lists can collide by concatenation."""
    chunks: list[bytes] = []
    for part in parts:
        # surrogatepass: JSON may carry a lone surrogate ("\ud800"); it still needs a key, and the mapping stays
        # one-to-one, so no two texts share one.
        data = part.encode("utf-8", "surrogatepass")
        chunks.append(len(data).to_bytes(8, "big"))
        chunks.append(data)
    return hashlib.sha256(b"".join(chunks)).hexdigest()


def tenant_id(credential: str | None = None, api_key_id: str | None = None, *, passthrough: bool = False) -> str:
    """A stable, non-reversible id for the caller. The raw credential is never stored or logged.

    Deployed with API keys, the tenant is the API Gateway key id. In passthrough mode the provider
    credential is forwarded and decides what the provider answers (and whether it answers at all), so
    there the tenant is both: callers that share an API key but not a provider key share no entries."""
    if api_key_id and credential and passthrough:
        return digest("apigw-key+bearer", api_key_id, credential)[:32]
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
    context: str = "",
) -> str:
    """The cache key. `tenant` is "" when the deployment's scope is shared. `context` (the answer-selecting
    headers) is a part of its own, present only when there is one: keys without it stay as they were."""
    parts = (KEY_VERSION, tenant, namespace, generation, route, request_hash_input)
    return digest(*parts, context) if context else digest(*parts)


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
    `header_context` when there is one, as a part of its own (every part is length-prefixed by `digest`,
    so no custom key can spell another request's header context). `canonicalize` is the API's own (a
    dialect's `canonical`); chat and completions by default."""
    material = f"custom:{custom_key}" if custom_key is not None else canonical_json(canonicalize(body))
    return cache_key(
        tenant=tenant,
        namespace=namespace,
        generation=generation,
        route=route,
        request_hash_input=material,
        context=context,
    )
