"""Request fields a provider echoes in its answer, made the current request's on a hit.

OpenAI's Responses API echoes `metadata`, `user`, `safety_identifier` and `prompt_cache_key` in the response object.
None of them reaches the model, so they are out of the key; but a hit replays stored bytes, and two end users of one
app asking the same question would see each other's tags and ids (an e-mail in `metadata`, an order id in `user`).
So an entry is stored with these fields at their defaults (it never holds a caller's values), and a hit puts back
the values the current request sent. A request that sends none is served the stored bytes as they are: the hit path
pays for the patch only when there is something to patch. (Entries stored before this rule are unreachable: the
key's version changed with it, `keys.KEY_VERSION`.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


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
        """A plain hit's body: the stored bytes when the request sent no echoed values (the entry holds only
        defaults), else the answer with this request's values."""
        if self.sent(body) is None:
            return raw
        answer = json.loads(raw)
        if not isinstance(answer, dict):
            return raw
        return json.dumps(self.for_request(answer, body), separators=(",", ":"), ensure_ascii=False).encode()
