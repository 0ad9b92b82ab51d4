"""Hashing: a canonical request -> its cache key, and the caller's credential -> its tenant id.

The key is SHA-256 over the tenant (unless the scope is shared), the namespace, its flush
generation, the route and the canonical JSON of the request. Canonical JSON sorts object keys,
drops insignificant whitespace and writes 0.0 as 0; what else is equal (fields that cannot change the
answer, equal spellings of one message) is each API's own knowledge, in its dialect's `canonical`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# v2 (issue #22): entries no longer hold a caller's echoed fields (Responses `metadata`, `user`, ...); entries
# stored under v1 may, so they are never served again (one miss per entry on upgrade, as a flush would cost).
KEY_VERSION = "v2"


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


def header_context(headers: dict[str, str], names: tuple[str, ...]) -> str:
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
    canonical: dict[str, Any] | None,
    custom_key: str | None,
    context: str = "",
) -> str:
    """Key for a whole request: its canonical form (the API's own: a dialect's `canonical`), or the caller's
    custom key in its place, plus the `header_context` when there is one, as a part of its own (every part is
    length-prefixed by `digest`, so no custom key can spell another request's header context)."""
    material = f"custom:{custom_key}" if custom_key is not None else canonical_json(canonical)
    return cache_key(
        tenant=tenant,
        namespace=namespace,
        generation=generation,
        route=route,
        request_hash_input=material,
        context=context,
    )
