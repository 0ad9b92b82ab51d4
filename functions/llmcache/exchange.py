"""What passes between the doors (Lambda handler, ASGI app), the API layer, the engine and the provider.

The API hands each door a `GatewayResponse`, whose body is either bytes (answered at once) or a `BodyStream`:
the events of a streamed miss (or a passed-on body) as the provider sends them. The Lambda door joins a
stream into its proxy answer; the ASGI door writes each piece as it comes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmcache.dialects.base import Dialect
    from llmcache.errors import GatewayError

JSON = "application/json"


@dataclass(frozen=True)
class ClientRequest:
    """A client's request to a cached route, parsed once by the API layer: its dialect, its body (a JSON
    object) and raw bytes, whether it asks for a stream, and who sent it."""

    dialect: Dialect[Any]
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]  # lower-case names
    credential: str | None
    tenant: str
    deadline: float | None = None  # time.monotonic() by which the provider must have answered
    stream: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stream", self.body.get("stream") is True)

    @property
    def route(self) -> str:
        return self.dialect.route


class BodyStream:
    """A body relayed as it arrives. Iterating it may raise a GatewayError once pieces were sent (the provider's
    stream broke or ran out of time): a live transport then writes `error_event(error)`, the API's own format.

    `close()` ends it early (the provider's connection is closed, nothing is stored) and releases what the
    relay holds; it is safe to call twice and after the end, and must be called by whoever took the stream.
    """

    def __init__(
        self, pieces: Iterator[bytes], resources: ExitStack, error_event: Callable[[GatewayError], bytes]
    ) -> None:
        self._pieces = pieces
        self._resources = resources
        self.error_event = error_event

    def __iter__(self) -> Iterator[bytes]:
        return self._pieces

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the stream is over: ended, broken or closed early (after the answer was kept)."""
        self._resources.callback(callback)

    def close(self) -> None:
        try:
            close = getattr(self._pieces, "close", None)
            if close is not None:
                close()
        finally:
            self._resources.close()


@dataclass
class GatewayResponse:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    stream: BodyStream | None = None  # set on a streamed miss: `body` is then empty


@dataclass(frozen=True)
class UpstreamResponse:
    """The provider's answer as the engine sees it (kept apart from httpx, which is slow to import)."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/json")
