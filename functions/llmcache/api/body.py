"""The request body, read one way only: a JSON object, refused (400) when two parsers could read it apart."""

from __future__ import annotations

import json
from typing import Any

from llmcache.errors import BadRequest


def parse_json_object(raw: bytes) -> dict[str, Any]:
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
