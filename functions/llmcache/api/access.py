"""What a caller may reach on a provider through the gateway's own key (managed mode).

One provider account behind many tenants makes every provider object (files, batches, stored responses and chat
completions, vector stores, conversations, containers, fine-tunes) shared by all of them: with the managed key,
tenant B could list, read and delete tenant A's files. So in managed mode a passed-on path is refused (403 in the
API's own envelope, saying why) unless the allowlist names it, and a cached route's body that names a provider
object is refused unless the allowlist lets the caller read that kind of object. By default the list holds the
stateless calls only; the operator widens it per environment (`PASSTHROUGH_ALLOW`), and the admin key reaches
everything. In passthrough mode the client's own key goes up: everything passes, it is the client's account.

Allowlist entries are `METHOD /v1/path`, where a `*` segment stands for any one segment (an id) and `*` as the
method for any method; the entry `*` alone allows every path (a deployment with one tenant).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from llmcache.errors import Forbidden

# The stateless calls: they read or compute nothing that a caller left on the provider, and change nothing there.
# Image, audio and video generation are stateless too, but bill the operator for media that no cache can save:
# an operator who wants to offer them adds them (docs/security.md).
DEFAULT_ALLOW = (
    "GET /v1/models",
    "GET /v1/models/*",
    "POST /v1/moderations",
    "POST /v1/messages/count_tokens",
    "POST /v1/responses/input_tokens",
)
ALLOW_ALL = "*"

# Body fields that name a provider object -> the kind of object (the path that would read it: GET /v1/{kind}/{id}).
OBJECT_FIELDS = {
    "previous_response_id": "responses",
    "conversation": "conversations",
    "file_id": "files",
    "file_ids": "files",
    "vector_store_ids": "vector_stores",
    "container": "containers",
    "container_id": "containers",
    "skill_id": "skills",
}
# Checked on the raw bytes first: a body that holds none of them (nearly every request) is not walked.
_NEEDLES = (
    b'"previous_response_id"',
    b'"conversation"',
    b'"file_id',
    b'"vector_store_ids"',
    b'"container',
    b'"skill_id"',
    b'"item_reference"',
)


@dataclass(frozen=True)
class Rule:
    method: str  # upper case, or "*"
    segments: tuple[str, ...]  # of the path, "*" standing for any one segment

    @classmethod
    def parse(cls, entry: str) -> Rule:
        method, _, path = entry.strip().partition(" ")
        return cls(method.upper(), tuple(path.strip().strip("/").split("/")))

    def matches(self, method: str, segments: tuple[str, ...]) -> bool:
        if self.method not in ("*", method) or len(self.segments) != len(segments):
            return False
        return all(want in ("*", got) for want, got in zip(self.segments, segments, strict=True))


@dataclass(frozen=True)
class Allowlist:
    rules: tuple[Rule, ...]
    everything: bool = False

    @classmethod
    def of(cls, extra: tuple[str, ...]) -> Allowlist:
        """The default list widened by the operator's entries (already validated by the settings)."""
        if ALLOW_ALL in extra:
            return cls((), everything=True)
        return cls(tuple(Rule.parse(entry) for entry in (*DEFAULT_ALLOW, *extra)))

    def allows(self, method: str, path: str) -> bool:
        if self.everything:
            return True
        segments = tuple(path.strip("/").split("/"))
        return any(rule.matches(method, segments) for rule in self.rules)


def check_path(allowlist: Allowlist, method: str, path: str, is_admin: Callable[[], bool]) -> None:
    """Forbidden unless a managed-mode caller may reach `method path` (allowed, or the admin key)."""
    if allowlist.allows(method, path) or is_admin():
        return
    raise Forbidden(
        f"{method} {path} is not passed on: this gateway answers it with its own provider key, shared by every "
        "caller, and the objects behind it (files, batches, stored responses, ...) would be shared with them. "
        "Only stateless calls are passed on unless the operator allows more (PASSTHROUGH_ALLOW).",
        code="provider_path_not_allowed",
    )


def check_body(allowlist: Allowlist, raw: bytes, parsed: Callable[[], Any], is_admin: Callable[[], bool]) -> None:
    """Forbidden when a managed-mode request's body names a provider object the caller may not read. `parsed`
    gives the body's JSON; it is called only when the raw bytes hold a field that could name one."""
    if allowlist.everything or not any(needle in raw for needle in _NEEDLES):
        return
    for field, kind, name in named_objects(parsed()):
        if allowlist.allows("GET", f"/v1/{kind}/{name}") or is_admin():
            continue
        raise Forbidden(
            f"`{field}` names a provider object ({kind}), and this gateway answers with its own provider key, "
            "shared by every caller: it would reach objects other callers left there. The operator can allow "
            f"reading them (PASSTHROUGH_ALLOW=GET /v1/{kind}/*).",
            param=field,
            code="provider_object_not_allowed",
        )


def named_objects(value: Any, depth: int = 0) -> Iterator[tuple[str, str, str]]:
    """(field, kind, id) of every provider object a body names, at any depth."""
    if depth > 64:  # deeper than any API's shape; the JSON parser already bounded the nesting
        return
    if isinstance(value, list):
        for item in value:
            yield from named_objects(item, depth + 1)
        return
    if not isinstance(value, dict):
        return
    if value.get("type") == "item_reference" and isinstance(value.get("id"), str):
        yield "input[].id", "responses", value["id"]  # an item of a stored response
    for field, item in value.items():
        kind = OBJECT_FIELDS.get(field)
        if kind == "skills" and value.get("type") == "anthropic":
            kind = None  # Anthropic's own skills (pptx, xlsx, ...) belong to no caller
        if kind is not None:
            for name in _ids(item):
                yield field, kind, name
        if isinstance(item, (dict, list)):
            yield from named_objects(item, depth + 1)


def _ids(value: Any) -> Iterator[str]:
    """The ids a field's value names: a string, a list of them, or an object with an `id` (a conversation or a
    container given as an object). A container the provider creates (`{"type": "auto"}`) names none."""
    if isinstance(value, str) and value:
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str) and item)
    elif isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        yield value["id"]


def is_key(credential: str | None, expected: str | None) -> bool:
    """`credential` is `expected` (compared in constant time); False when either is missing."""
    return bool(credential and expected) and hmac.compare_digest(str(credential).encode(), str(expected).encode())
