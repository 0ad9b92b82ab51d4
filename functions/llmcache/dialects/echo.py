"""Request fields a provider echoes in its answer, made the current request's on a hit.

OpenAI's Responses API echoes `metadata`, `user`, `safety_identifier` and `prompt_cache_key` in the response object.
None of them reaches the model, so they are out of the key; but a hit replays stored bytes, and two end users of one
app asking the same question would see each other's tags and ids (an e-mail in `metadata`, an order id in `user`).
So an entry is stored with these fields at their defaults (it never holds a caller's values), and a hit puts back
the values the current request sent. Both cost nothing on the hit path unless a value is there: a request that sends
none is served the stored bytes as they are, after a scan of them that finds only defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_WHITESPACE = b" \t\r\n"


class EchoFields:
    def __init__(self, defaults: Mapping[str, Any]) -> None:
        """`defaults`: each echoed field and the value the provider echoes when a request leaves it out."""
        self.defaults = dict(defaults)
        self._needles = tuple(f'"{name}"'.encode() for name in defaults)

    def sent(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The echoed values this request sent (None when it sent none, or only defaults)."""
        values = {name: body.get(name, default) for name, default in self.defaults.items()}
        return values if values != self.defaults else None

    def stored_form(self, answer: dict[str, Any]) -> dict[str, Any] | None:
        """The answer with these fields at their defaults, as it is stored; None when it holds only defaults."""
        present = {name: default for name, default in self.defaults.items() if name in answer}
        if all(answer[name] == default for name, default in present.items()):
            return None
        return {**answer, **present}

    def for_request(self, answer: dict[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
        """A stored answer (parsed) with the fields the provider echoes set to this request's values."""
        values = {name: body.get(name, default) for name, default in self.defaults.items() if name in answer}
        return {**answer, **values}

    def hit_bytes(self, raw: bytes, body: Mapping[str, Any]) -> bytes:
        """A plain hit's body: the stored bytes, or (when the request sent values, or the entry holds another
        caller's, as entries stored before this rule may) the answer with this request's values."""
        if self.sent(body) is None and not self._holds_values(raw):
            return raw
        answer = json.loads(raw)
        if not isinstance(answer, dict):
            return raw
        return json.dumps(self.for_request(answer, body), separators=(",", ":"), ensure_ascii=False).encode()

    def _holds_values(self, raw: bytes) -> bool:
        """Whether some echoed field in `raw` holds more than its default (`null`, `{}`): a few byte searches."""
        for needle in self._needles:
            start = raw.find(needle)
            while start >= 0:
                at = _skip_whitespace(raw, start + len(needle))
                if raw[at : at + 1] == b":":  # a key, not a string value that spells the name
                    value = _skip_whitespace(raw, at + 1)
                    if not _is_default(raw, value):
                        return True
                start = raw.find(needle, start + 1)
        return False


def _skip_whitespace(raw: bytes, at: int) -> int:
    while raw[at : at + 1] and raw[at] in _WHITESPACE:
        at += 1
    return at


def _is_default(raw: bytes, at: int) -> bool:
    if raw.startswith(b"null", at):
        return True
    if raw[at : at + 1] == b"{":
        return raw[_skip_whitespace(raw, at + 1) : _skip_whitespace(raw, at + 1) + 1] == b"}"
    return False
