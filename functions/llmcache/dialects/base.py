"""One dialect per cached API: what the engine needs to know about a route, in one small object.

The engine's lookup -> (coalesce) -> upstream -> store path is the same for every route; a dialect supplies
the parts that differ: the body fields a request must have, how a provider stream folds into the answer to
store, how a stored answer replays as a stream, which answers may be stored, what an answer cost,
and how an error looks once a stream has begun. A route with its own whole path (embeddings, cached per
input) supplies `answer` (with `own_path = True`) and the engine hands the request over.

Adding an API: subclass `Dialect` in a module of this package and list an instance in `dialects.registry`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from llmcache import keys, policy
from llmcache.dialects.sse import iter_sse_events
from llmcache.dialects.wire import bearer_token
from llmcache.exchange import SSE
from llmcache.savings import TokenCounts, token_counts

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from llmcache.dialects.sse import SseEvent
    from llmcache.engine.core import Engine
    from llmcache.errors import GatewayError
    from llmcache.exchange import ClientRequest, GatewayResponse
    from llmcache.policy import Controls


class Assembler(Protocol):
    """Folds the data of a provider stream's events into the non-stream answer."""

    @property
    def finished(self) -> bool:
        """The stream's final event was seen (what follows it is never part of the answer)."""

    def feed(self, data: Any) -> None: ...

    def result(self) -> dict[str, Any] | None:
        """The answer to store, or None: the stream did not finish (or was not understood)."""


class Dialect:
    route: str = ""
    required: tuple[str, ...] = ("model",)  # body fields that must be present and not null
    provider: str = "openai"  # which upstream answers: "openai" (UPSTREAM_BASE_URL) or "anthropic"
    answer_headers: tuple[str, ...] = keys.ANSWER_HEADERS  # request headers in the key (they select the answer)

    def credential(self, headers: dict[str, str]) -> str | None:
        """The caller's key from its (lower-cased) headers; None when it sent none; Unauthorized when malformed."""
        value = headers.get("authorization")
        return bearer_token(value) if value is not None else None

    def canonical(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request as the key sees it: fields that cannot change the answer dropped, equal spellings equal."""
        return keys.canonical_request(body)

    def bypass_reason(self, body: dict[str, Any]) -> str | None:
        """Why this request is never served from nor stored in the cache (None: it may be)."""
        return None

    def semantic_split(self, canonical: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(the last user text, the canonical request with that text blanked), or None: nothing to compare.
        The rest must match exactly: it selects the semantic partition."""
        return None

    def error_body(self, error: GatewayError) -> dict[str, Any]:
        """The gateway's own error (400, 401, 413, 502, ...) in this API's envelope: OpenAI's by default."""
        return error.envelope()

    def validate(self, body: dict[str, Any]) -> None:
        """Raise BadRequest for a body this API cannot answer (beyond the required fields)."""

    # Served at its own paths (Bedrock's `/model/{modelId}/...`, routed by api/bedrock.py), not `/v1/<route>`.
    own_paths = False

    # ----- stream framing: server-sent events unless a dialect says otherwise (Bedrock: AWS event-stream) -------
    stream_content_type = SSE  # the media type of this API's stream (and of a replayed one)

    def events(self, chunks: Iterable[bytes]) -> Iterator[Any]:
        """The provider's stream bytes as this API's events, each as soon as it is whole."""
        return iter_sse_events(chunks)

    def feed(self, assembler: Assembler, event: Any) -> None:
        """Folds one event into the answer (an SSE assembler reads the event's data)."""
        assembler.feed(event.data)

    def upstream_path(self, body: dict[str, Any]) -> str:
        """The provider's path for this request, under its base URL (Bedrock's names the model and operation)."""
        return self.route

    def assembler(self) -> Assembler:
        raise NotImplementedError(f"/{self.route} is not streamed")

    def stream_overrides(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fields changed in the body forwarded for a streamed miss (e.g. ask for usage so it is stored)."""
        return {}

    def relay(self, event: SseEvent, body: dict[str, Any]) -> bytes | None:
        """The bytes a provider event becomes for this client, or None when the client did not ask for it."""
        return event.encode()

    def replay(self, answer: dict[str, Any], body: dict[str, Any]) -> bytes:
        """A stored answer as the stream this API would have sent for `body`."""
        raise NotImplementedError(f"/{self.route} is not streamed")

    def variant(self, body: dict[str, Any]) -> str:
        """Besides the cache key, what changes the bytes this client gets (coalesced callers must agree on it)."""
        return "stream" if body.get("stream") is True else "plain"

    def storable(self, status: int, answer: Any) -> bool:
        return policy.is_storable_answer(self.route, status, answer)

    def usage(self, answer: dict[str, Any]) -> TokenCounts:
        """What the answer cost, split as it is billed (`savings.token_counts` reads every API's usage shape)."""
        return token_counts(answer)

    def error_event(self, error: GatewayError) -> bytes:
        """An error after the status was sent, as one event of this API's stream that its SDKs raise on."""
        raise NotImplementedError

    # A route with a path of its own (embeddings, cached per input) answers the whole request in `answer`.
    own_path = False

    def answer(self, engine: Engine, request: ClientRequest, controls: Controls) -> GatewayResponse:
        raise NotImplementedError(f"/{self.route} takes the engine's path")
