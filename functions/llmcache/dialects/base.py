"""The dialect interface: what the engine needs to know about one cached API, in one small object.

The engine's lookup -> (coalesce) -> upstream -> store path is the same for every route; a dialect supplies
the parts that differ:
- the request: required body fields, validation, the credential, the canonical form the key hashes, the
  answer-selecting headers, what semantic matching compares, when the cache is bypassed;
- the answer: which answers may be stored, what one cost (its usage, read in the API's own shape);
- the STREAM FRAMING: how the provider's stream bytes parse into events (`events`), how those fold into
  the answer to store (`assembler`, whose `finished` says the final event was seen), what each event
  becomes for this client (`relay`), how a stored answer replays as the stream's bytes (`replay`,
  `stream_content_type`), and how an error looks once a stream has begun (`error_event`).
The engine never looks inside an event: an SSE API (`SseDialect`, framing from `dialects.sse`) and one with
binary frames (AWS event-stream) plug in the same way.

Adding an API: one module in this package with a class that implements `Dialect` (subclass `SseDialect`
for server-sent events, or `Dialect` itself for another framing), listed in `dialects.registry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from llmcache.dialects.sse import SSE, SseEvent, iter_sse_events
from llmcache.dialects.wire import bearer_token

if TYPE_CHECKING:
    from llmcache.dialects.echo import EchoFields
    from llmcache.errors import GatewayError
    from llmcache.savings import TokenCounts

Event = TypeVar("Event")
Event_contra = TypeVar("Event_contra", contravariant=True)


class Assembler(Protocol[Event_contra]):
    """Folds a provider stream's events into the non-stream answer."""

    @property
    def finished(self) -> bool:
        """The stream's final event was seen (what follows it is never part of the answer)."""
        ...

    def feed(self, event: Event_contra) -> None: ...

    def result(self) -> dict[str, Any] | None:
        """The answer to store, or None: the stream did not finish (or was not understood)."""
        ...


class Dialect(Protocol[Event]):
    """One API. Members with a body are defaults (OpenAI's conventions); the others each API says itself."""

    route: str = ""
    required: tuple[str, ...] = ("model",)  # body fields that must be present and not null
    provider: str = "openai"  # which upstream answers: "openai" (UPSTREAM_BASE_URL) or "anthropic"
    answer_headers: tuple[str, ...] = ()  # request headers that select the answer: in the key, passed on
    stream_content_type: str = SSE  # the media type of this API's stream (and of a replayed one)
    per_input: bool = False  # cached per input (embeddings): the engine's per-input path answers it
    # Served at its own paths (Bedrock's `/model/{modelId}/...`, routed by api/bedrock.py), not `/v1/<route>`.
    own_paths: bool = False
    # Request fields the provider echoes in its answer, made the current request's on a hit (None: it echoes none).
    echo: EchoFields | None = None
    # A stream that ends cleanly without its final event gets this API's error event (its SDKs would otherwise
    # take the cut stream for a whole answer).
    final_event_required: bool = False

    # ----- the request ----------------------------------------------------------------------------------------
    def credential(self, headers: dict[str, str]) -> str | None:
        """The caller's key from its (lower-cased) headers; None when it sent none; Unauthorized when malformed."""
        value = headers.get("authorization")
        return bearer_token(value) if value is not None else None

    def validate(self, body: dict[str, Any]) -> None:
        """Raise BadRequest for a body this API cannot answer (beyond the required fields)."""
        return None

    def canonical(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request as the key sees it: fields that cannot change the answer dropped, equal spellings equal."""
        ...

    def bypass_reason(self, body: dict[str, Any]) -> str | None:
        """Why this request is never served from nor stored in the cache (None: it may be)."""
        return None

    def semantic_split(self, canonical: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(the last user text, the canonical request with that text blanked), or None: nothing to compare.
        The rest must match exactly: it selects the semantic partition."""
        return None

    def upstream_path(self, body: dict[str, Any]) -> str:
        """The provider's path for this request, under its base URL (Bedrock's names the model and operation)."""
        return self.route

    def variant(self, body: dict[str, Any]) -> str:
        """Besides the cache key, what changes the bytes this client gets (coalesced callers must agree on it)."""
        return "stream" if body.get("stream") is True else "plain"

    # ----- the answer -----------------------------------------------------------------------------------------
    def storable(self, status: int, answer: Any) -> bool:
        """A complete success in this API's shape: only that is stored (and can be replayed)."""
        ...

    def usage(self, answer: dict[str, Any]) -> TokenCounts:
        """What the answer cost, split as it is billed, read from this API's own usage shape."""
        ...

    def error_body(self, error: GatewayError) -> dict[str, Any]:
        """The gateway's own error (400, 401, 413, 502, ...) in this API's envelope: OpenAI's by default."""
        return error.envelope()

    # ----- stream framing -------------------------------------------------------------------------------------
    def events(self, chunks: Iterable[bytes]) -> Iterator[Event]:
        """The provider's stream bytes as this API's events, each as soon as it is whole (never a cut-off one)."""
        ...

    def assembler(self) -> Assembler[Event]:
        """A fresh folder of one stream's events into the answer to store."""
        ...

    def stream_overrides(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fields changed in the body forwarded for a streamed miss (e.g. ask for usage so it is stored)."""
        return {}

    def relay(self, event: Event, body: dict[str, Any]) -> bytes | None:
        """The bytes a provider event becomes for this client, or None when the client did not ask for it."""
        ...

    def replay(self, answer: dict[str, Any], body: dict[str, Any]) -> bytes:
        """A stored answer as the stream this API would have sent for `body` (`stream_content_type`)."""
        ...

    def error_event(self, error: GatewayError) -> bytes:
        """An error after the status was sent, as one event of this API's stream that its SDKs raise on."""
        ...


class SseDialect(Dialect[SseEvent]):
    """An API that streams server-sent events: the framing is `dialects.sse`'s."""

    def events(self, chunks: Iterable[bytes]) -> Iterator[SseEvent]:
        return iter_sse_events(chunks)

    def relay(self, event: SseEvent, body: dict[str, Any]) -> bytes | None:
        return event.encode()
