"""The shape the Responses and Messages APIs share: a stream of typed, named events, and an answer object
that says itself whether it is finished."""

from __future__ import annotations

from typing import Any

from llmcache.dialects.base import SseDialect
from llmcache.dialects.wire import sse_bytes


class TypedEventDialect(SseDialect):
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
