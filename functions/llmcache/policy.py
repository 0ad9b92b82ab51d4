"""The caller's cache controls (headers and the body `cache` object), and the TTL and threshold rules."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

from llmcache.errors import BadRequest

DEFAULT_NAMESPACE = "default"
MAX_NAMESPACE_CHARS = 128
MAX_CUSTOM_KEY_CHARS = 1024
NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Controls:
    """Per-request cache controls, from headers or the LiteLLM-style body `cache` object."""

    no_cache: bool = False
    no_store: bool = False
    max_age: int | None = None
    ttl: int | None = None
    namespace: str = DEFAULT_NAMESPACE
    custom_key: str | None = None
    semantic: bool = True
    semantic_threshold: float | None = None
    debug: bool = False  # X-Cache-Debug: 1 -> the semantic decision's reason and scores in response headers


MAX_SECONDS = 10**12  # about 31,700 years: any larger TTL or max-age is a mistake, not a wish
_SECONDS = re.compile(r"[0-9]{1,13}")


def _whole_number(value: Any, control: str) -> int:
    """Seconds, as an int or a string of ASCII digits (not "²", which str.isdigit() accepts)."""
    if isinstance(value, str) and _SECONDS.fullmatch(value.strip()):
        value = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SECONDS:
        shown = value if not isinstance(value, str) else value[:40]
        raise BadRequest(
            f"cache control {control} must be a whole number of seconds up to {MAX_SECONDS}, got {shown!r}",
            param=control,
        )
    return value


def _flag(value: Any, control: str) -> bool:
    if isinstance(value, bool):
        return value
    raise BadRequest(f"cache control {control} must be true or false, got {value!r}", param=control)


def is_namespace(value: Any) -> TypeGuard[str]:
    """1-128 characters of the pattern, the whole value (fullmatch: `$` would let a trailing newline in)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_NAMESPACE_CHARS and bool(NAMESPACE_PATTERN.fullmatch(value))


def _namespace(value: Any, control: str) -> str:
    if not is_namespace(value):
        raise BadRequest(
            f"cache control {control} must be 1-{MAX_NAMESPACE_CHARS} characters of letters, digits and ._:/-",
            param=control,
        )
    return value


def _custom_key(value: Any, control: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_CUSTOM_KEY_CHARS or _CONTROL_CHARACTER.search(value):
        raise BadRequest(
            f"cache control {control} must be a string of 1-{MAX_CUSTOM_KEY_CHARS} characters, "
            "none of them a control character (newline, tab, NUL, ...)",
            param=control,
        )
    return value


def _threshold(value: Any, control: str) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not 0.0 <= number <= 1.0:
        raise BadRequest(f"cache control {control} must be a number between 0 and 1", param=control)
    return number


def _parse_cache_control(header: str, found: dict[str, Any]) -> None:
    for directive in header.split(","):
        name, _, arg = directive.strip().partition("=")
        name = name.strip().lower()
        if name == "no-cache":
            found["no_cache"] = True
        elif name == "no-store":
            found["no_store"] = True
        elif name in ("max-age", "s-maxage"):
            found["max_age"] = _whole_number(arg.strip().strip('"'), f"Cache-Control: {name}")
        # Other directives (private, must-revalidate, ...) mean nothing to this cache: ignored, as HTTP does.


def _semantic_switch(value: Any, control: str) -> bool:
    value = str(value).strip().lower()
    if value not in ("on", "off"):
        raise BadRequest(f"{control} must be on or off", param=control)
    return value == "on"


def _debug_switch(value: Any, control: str) -> bool:
    value = str(value).strip().lower()
    if value not in ("1", "0", "true", "false"):
        raise BadRequest(f"{control} must be 1 or 0", param=control)
    return value in ("1", "true")


Parser = Callable[[Any, str], Any]
# body `cache` field -> (control, parser); the LiteLLM spellings.
BODY_CONTROLS: dict[str, tuple[str, Parser]] = {
    "no-cache": ("no_cache", _flag),
    "no-store": ("no_store", _flag),
    "s-maxage": ("max_age", _whole_number),
    "ttl": ("ttl", _whole_number),
    "namespace": ("namespace", _namespace),
    "cache_key": ("custom_key", _custom_key),
    "semantic": ("semantic", _flag),
    "semantic_threshold": ("semantic_threshold", _threshold),
    "debug": ("debug", _flag),
}
# header (lower case) -> (control, parser, the name errors use). Cache-Control is parsed on its own.
HEADER_CONTROLS: dict[str, tuple[str, Parser, str]] = {
    "x-cache-ttl": ("ttl", _whole_number, "X-Cache-TTL"),
    "x-cache-namespace": ("namespace", lambda v, c: _namespace(v.strip(), c), "X-Cache-Namespace"),
    "x-cache-custom-key": ("custom_key", _custom_key, "X-Cache-Custom-Key"),
    "x-cache-semantic": ("semantic", _semantic_switch, "X-Cache-Semantic"),
    "x-cache-semantic-threshold": ("semantic_threshold", _threshold, "X-Cache-Semantic-Threshold"),
    "x-cache-debug": ("debug", _debug_switch, "X-Cache-Debug"),
}


def parse_controls(headers: Mapping[str, str], body_cache: Any) -> Controls:
    """Headers win over the body object when both set the same control. `headers` keys are lower case."""
    found: dict[str, Any] = {}
    if body_cache is not None:
        if not isinstance(body_cache, dict):
            raise BadRequest("the body field `cache` must be an object of cache controls", param="cache")
        unknown = sorted(set(body_cache) - set(BODY_CONTROLS))
        if unknown:
            raise BadRequest(
                f"unknown cache control(s) {', '.join(map(str, unknown))} in body `cache`; "
                f"known: {', '.join(sorted(BODY_CONTROLS))}",
                param="cache",
            )
        for name, value in body_cache.items():
            control, parse = BODY_CONTROLS[name]
            found[control] = parse(value, f"cache.{name}")
    if "cache-control" in headers:
        _parse_cache_control(headers["cache-control"], found)
    for header, (control, parse, label) in HEADER_CONTROLS.items():
        if header in headers:
            found[control] = parse(headers[header], label)
    if found.get("ttl") == 0:
        raise BadRequest("cache control ttl must be at least 1 second; use no-store to skip storing", param="ttl")
    return Controls(**found)


def for_scope(controls: Controls, scope: str) -> Controls:
    """Under shared scope an entry serves every tenant, so no one client may replace it: a client's no-cache
    gets it a fresh answer and stores nothing. Replacing a shared entry is the operator's call (admin key:
    DELETE /cache/entries/{key} or a flush; the next request then stores a fresh answer). No debug
    answers under shared scope."""
    if scope == "shared" and controls.no_cache and not controls.no_store:
        controls = replace(controls, no_store=True)
    if scope == "shared" and controls.debug:
        # The semantic neighbourhood is then every tenant's: why a candidate was refused would tell one tenant
        # something of what another asked ("number differs"). Debug answers are per-tenant only.
        controls = replace(controls, debug=False)
    return controls


def effective_ttl(controls: Controls, default_ttl: int, max_ttl: int) -> int:
    return min(controls.ttl if controls.ttl is not None else default_ttl, max_ttl)


def effective_semantic_threshold(controls: Controls, deployment_threshold: float) -> float:
    """A request may only raise the deployment's threshold, never lower it."""
    if controls.semantic_threshold is None:
        return deployment_threshold
    return max(controls.semantic_threshold, deployment_threshold)
