"""The shape the Responses and Messages APIs share: a stream of typed, named events, and an answer object
that says itself whether it is finished."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llmcache.dialects.base import SseDialect
from llmcache.dialects.wire import sse_bytes


class TypedEventDialect(SseDialect):
    final_event_required = True  # `response.completed` / `message_stop`

    def is_complete(self, answer: Any) -> bool:
        """A finished answer in the API's own shape: only that is stored (and can be replayed)."""
        raise NotImplementedError

    def replay_events(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        """The events the provider would have streamed for `answer`, each with its `type`."""
        raise NotImplementedError

    def storable(self, status: int, answer: Any) -> bool:
        return 200 <= status < 300 and self.is_complete(answer)

    def replay(self, answer: dict[str, Any], body: dict[str, Any]) -> bytes:
        return b"".join(sse_bytes(event["type"], event) for event in self.replay_events(answer))


def stateful_reason(body: dict[str, Any], fields: Iterable[str]) -> str | None:
    """The first of `fields` the request sets to anything truthy (`true`, `"true"`, `1`, an id, a list): such a
    request is never served from nor stored in the cache. Truthiness, not `is True`: the provider reads `"true"`
    and `1` as set too, and bypassing by mistake costs a call, never a wrong answer."""
    return next((field for field in fields if body.get(field)), None)
