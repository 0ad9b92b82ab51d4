"""lookup -> (coalesce) -> upstream -> store. Knows only the store, generations and upstream interfaces."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from llmcache import keys, policy
from llmcache.constants import (
    HEADER_CACHE,
    HEADER_CACHE_KEY,
    HEADER_CACHE_MATCH,
    HEADER_CACHE_SIMILARITY,
    HEADER_CACHE_TIER,
    Metric,
)
from llmcache.dialects.base import Dialect
from llmcache.dialects.registry import dialect_for
from llmcache.engine.coalesce import Flight, SingleFlight
from llmcache.engine.generations import Generations
from llmcache.engine.shared_stream import SharedStream
from llmcache.errors import BackendFailure, UpstreamUnavailable
from llmcache.exchange import JSON, SSE, BodyStream, ClientRequest, GatewayResponse, UpstreamResponse
from llmcache.observability import record
from llmcache.policy import Controls
from llmcache.savings import record_hit_savings
from llmcache.settings import Settings
from llmcache.stores.base import CacheEntry, Hit
from llmcache.stores.tiered import TieredStore

if TYPE_CHECKING:
    from llmcache.engine.leases import Leases
    from llmcache.engine.semantic import SemanticQuery
    from llmcache.upstream import Upstream

__all__ = ["ClientRequest", "Engine", "GatewayResponse", "require_json_object"]

# Stores an answer under its key (the caller decided it may be stored): the parsed answer and its bytes.
Keep = Callable[[dict[str, Any], bytes], None]


class _SemanticDown(Exception):
    """The semantic lookup failed (as opposed to finding nothing); the failure is already counted."""


class Engine:
    def __init__(
        self,
        settings: Settings,
        store: TieredStore,
        generations: Generations,
        upstream: Upstream,
        semantic: Any = None,
        leases: Leases | None = None,
        clock: Callable[[], float] = time.time,
        providers: dict[str, Upstream] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.generations = generations
        self.upstream = upstream  # OpenAI-compatible (UPSTREAM_BASE_URL)
        self.providers = providers or {}  # the other providers by dialect.provider: "anthropic"
        self.semantic = semantic
        self.leases = leases
        self.clock = clock
        self.flights: SingleFlight[GatewayResponse] = SingleFlight()

    # ----- entry point -------------------------------------------------------------------------
    def handle(self, request: ClientRequest) -> GatewayResponse:
        controls = policy.for_scope(
            policy.parse_controls(request.headers, request.body.get("cache")), self.settings.scope
        )
        if self.semantic is not None:
            from llmcache.upstream import current_credential

            current_credential.set(request.credential)  # passthrough: the caller pays for its own embedding
        dialect = dialect_for(request.route)
        if dialect.own_path:
            return dialect.answer(self, request, controls)
        return self._answer(request, dialect, controls)

    def upstream_for(self, route: str) -> Upstream:
        """The provider that answers `route`: its dialect's, else the OpenAI-compatible upstream."""
        return self.providers.get(dialect_for(route).provider, self.upstream)

    def tenant_scope(self, request: ClientRequest) -> str:
        return "" if self.settings.scope == "shared" else request.tenant

    def generation_for(self, tenant_scope: str, namespace: str) -> str | None:
        return self.generations.current(tenant_scope, namespace)

    # ----- one answer per request: chat completions, completions, ... --------------------------
    def _answer(self, request: ClientRequest, dialect: Dialect, controls: Controls) -> GatewayResponse:
        body = request.body
        stream = body.get("stream") is True
        tenant_scope = self.tenant_scope(request)
        # Neither served nor stored: a request its API says must not be (a Responses background job), or one
        # whose flush generation is unknowable.
        bypass = dialect.bypass_reason(body) is not None
        generation = None if bypass else self.generation_for(tenant_scope, controls.namespace)
        if generation is None:
            record(Metric.CACHE_BYPASS)
            response = self._call_upstream(request, dialect, key=None, controls=controls)
            response.headers[HEADER_CACHE] = "BYPASS"
            return response
        # once: the key and the semantic partition share it
        context = keys.header_context(request.headers, dialect.answer_headers)
        key = keys.request_key(
            tenant=tenant_scope,
            namespace=controls.namespace,
            generation=generation,
            route=request.route,
            body=body,
            custom_key=controls.custom_key,
            context=context,
            canonicalize=dialect.canonical,
        )
        started = time.perf_counter()
        query = self._semantic_query(request, controls, tenant_scope, generation, context)
        if not controls.no_cache:
            now = self.clock()
            hit = self.store.get(key, now)
            if hit is not None and _young_enough(hit.entry, controls, now):
                return self._serve_hit(hit, key, request, dialect, now, started)
            try:
                semantic = self._semantic_lookup(query, controls, now) if query is not None else None
            except _SemanticDown:
                semantic, query = None, None  # it just failed: do not wait on it a second time to index
            if semantic is not None:
                hit, similarity = semantic
                response = self._serve_hit(hit, key, request, dialect, now, started)
                response.headers[HEADER_CACHE_MATCH] = "semantic"
                response.headers[HEADER_CACHE_SIMILARITY] = f"{similarity:.4f}"
                return response
            record(Metric.CACHE_MISS)
            outcome = "MISS"
        else:
            record(Metric.CACHE_BYPASS)
            outcome = "BYPASS"

        def call() -> GatewayResponse:
            store = key if not controls.no_store else None
            return self._call_upstream(request, dialect, key=store, controls=controls, semantic=query)

        def answered_meanwhile(hit: Hit | None) -> GatewayResponse | None:
            """Another caller's answer, stored since this request's lookup: served, not fetched again."""
            if hit is None or not _young_enough(hit.entry, controls, self.clock()):
                return None
            response = self._serve_hit(hit, key, request, dialect, self.clock(), started, count=False)
            # This request's lookup missed (and is counted so); its answer came from another caller's call.
            # Labelled as an in-container follower is: MISS + Coalesced, so headers and metrics agree.
            for name in ("Age", HEADER_CACHE_MATCH, HEADER_CACHE_TIER):
                response.headers.pop(name, None)
            response.headers[HEADER_CACHE] = "MISS"
            response.headers["X-Cache-Coalesced"] = "true"
            return response

        def fetch() -> GatewayResponse:
            if controls.no_cache or controls.no_store:
                return call()
            # The previous flight may have stored its answer between our lookup and our flight
            # (checked in this container's memory only: it costs no round trip).
            meanwhile = answered_meanwhile(self.store.get_local(key, self.clock()))
            if meanwhile is not None:
                return meanwhile
            leases = self.leases
            if leases is None:
                return call()
            token = leases.acquire(key)
            if token is None:  # another container is asking the provider right now: wait for its answer
                waited = answered_meanwhile(
                    leases.wait_for(key, lambda: self.store.get(key, self.clock()), request.deadline)
                )
                return waited if waited is not None else call()
            try:
                response = call()
            except BaseException:
                leases.release(key, token)
                raise
            if response.stream is None:
                leases.release(key, token)
            else:  # held while the answer streams in: other containers wait for the stored answer
                response.stream.on_close(lambda: leases.release(key, token))
            return response

        # Identical concurrent misses share one upstream call. A refresh (no-cache) does not wait, and a
        # no-store request does not lead one: its answer is never stored, so waiters would get nothing kept.
        wait = _seconds_left(request.deadline) if request.deadline else self.settings.upstream_read_timeout
        flight_key = f"{key}:{dialect.variant(body)}"
        if controls.no_cache or controls.no_store:
            response = fetch()
        elif stream:
            response = self._stream_flight(
                flight_key, fetch, lambda: answered_meanwhile(self.store.get(key, self.clock())), wait
            )
        else:
            # Only a success is shared: a provider error (e.g. a 401 for the leader's own key, which in shared
            # scope is another tenant's) belongs to the leader's caller alone.
            response, shared = self.flights.run(flight_key, fetch, wait, shareable=lambda r: r.status < 400)
            if shared:
                response = GatewayResponse(
                    response.status,
                    response.body,
                    response.content_type,
                    {**response.headers, "X-Cache-Coalesced": "true"},
                )
        response.headers.setdefault(HEADER_CACHE, outcome)
        response.headers[HEADER_CACHE_KEY] = key
        return response

    def _stream_flight(
        self,
        flight_key: str,
        fetch: Callable[[], GatewayResponse],
        stored: Callable[[], GatewayResponse | None],
        wait: float,
    ) -> GatewayResponse:
        """One provider call per herd of identical streamed misses, whose events every member gets as they come:
        the leader's stream is shared (SharedStream), followers read it from its first event. A follower that
        comes when the stream was given up (its readers all left) waits for the stored answer, or asks itself."""
        flight, leader = self.flights.join(flight_key)
        if not leader:
            return self._follow(flight, fetch, stored, wait)
        try:
            response = fetch()
        except BaseException as exc:
            self.flights.land(flight_key, flight, error=exc)
            raise
        if response.stream is None:
            self.flights.land(flight_key, flight, result=response)
            return response
        response.stream.on_close(lambda: self.flights.land(flight_key, flight, result=None))
        shared, reader = SharedStream.open(response.stream)
        self.flights.share(flight, (response, shared))
        return GatewayResponse(response.status, b"", response.content_type, response.headers, reader)

    def _follow(
        self,
        flight: Flight[GatewayResponse],
        fetch: Callable[[], GatewayResponse],
        stored: Callable[[], GatewayResponse | None],
        wait: float,
    ) -> GatewayResponse:
        until = time.monotonic() + wait
        if flight.started.wait(wait) and flight.shared is not None:
            head, shared = flight.shared
            reader = shared.reader()
            if reader is not None:
                headers = {**head.headers, "X-Cache-Coalesced": "true"}
                return GatewayResponse(head.status, b"", head.content_type, headers, reader)
        if self.flights.wait(flight, max(0.0, until - time.monotonic())):
            answered = stored()
            if answered is not None:
                return answered
        return fetch()

    def _serve_hit(
        self,
        hit: Hit,
        key: str,
        request: ClientRequest,
        dialect: Dialect,
        now: float,
        started: float,
        count: bool = True,
    ) -> GatewayResponse:
        entry, raw = hit.entry, hit.raw
        if request.body.get("stream") is True:
            body, content_type = dialect.replay(json.loads(raw), request.body), dialect.stream_content_type
        else:
            body, content_type = raw, entry.content_type
        response = GatewayResponse(
            200,
            body,
            content_type,
            {
                HEADER_CACHE: "HIT",
                HEADER_CACHE_KEY: key,
                "Age": str(entry.age(now)),
                HEADER_CACHE_MATCH: "exact",
                HEADER_CACHE_TIER: hit.tier,
            },
        )
        if count:  # a coalesced wait was already counted as a miss
            record(Metric.CACHE_HIT)
            record(Metric.HIT_LATENCY, (time.perf_counter() - started) * 1000)
            record_hit_savings(self.settings, entry)
        return response

    # ----- semantic ----------------------------------------------------------------------------
    def _semantic_query(
        self, request: ClientRequest, controls: Controls, tenant_scope: str, generation: str, context: str
    ) -> SemanticQuery | None:
        """What the semantic index compares and its partition, once per request; None when not applicable."""
        if self.semantic is None or controls.custom_key is not None:
            return None
        from llmcache.engine.semantic import semantic_query

        return semantic_query(
            request.route,
            request.body,
            tenant_scope,
            controls.namespace,
            generation,
            self.settings.semantic_max_chars,
            context,
        )

    def _semantic_lookup(self, query: SemanticQuery, controls: Controls, now: float) -> tuple[Hit, float] | None:
        """The semantic hit, or None; _SemanticDown (already counted) when the embedder or index failed."""
        if not controls.semantic:  # the caller opted out of lookups (its answer is still indexed for others)
            return None
        threshold = policy.effective_semantic_threshold(controls, self.settings.semantic_threshold)
        try:
            candidate = self.semantic.lookup(query.partition, query.text, threshold, now)
        except Exception as exc:  # embedder or index down: a plain miss
            self.store.report_failure(BackendFailure("semantic", "lookup", exc))
            raise _SemanticDown from None
        if candidate is None:
            return None
        hit = self.store.get(candidate.key, now)
        if hit is None or not _young_enough(hit.entry, controls, now):
            return None
        return hit, candidate.similarity

    def _semantic_remember(self, query: SemanticQuery, key: str, entry: CacheEntry) -> None:
        try:
            self.semantic.remember(query.partition, query.text, key, entry.expires_at)
        except Exception as exc:
            self.store.report_failure(BackendFailure("semantic", "remember", exc))

    # ----- upstream ----------------------------------------------------------------------------
    def _call_upstream(
        self,
        request: ClientRequest,
        dialect: Dialect,
        *,
        key: str | None,
        controls: Controls,
        semantic: SemanticQuery | None = None,
    ) -> GatewayResponse:
        """The provider's answer; a complete success is stored under `key` (None: not stored)."""
        started = time.perf_counter()

        def keep(answer: dict[str, Any], raw: bytes) -> None:
            # An answer over MAX_ANSWER_BYTES is passed on, never stored (a hit would replay it every time).
            if key is not None and len(raw) <= self.settings.max_answer_bytes:
                self._store(request, dialect, controls, key, answer, raw, semantic)

        if request.body.get("stream") is True:
            return self._open_stream(request, dialect, started, keep)
        response, answer = self._post(request)
        self._upstream_done(response.status, started)
        if answer is not None:
            keep(answer, response.body)  # a plain answer is kept as the provider's own bytes
        return response

    @staticmethod
    def _upstream_done(status: int, started: float) -> None:
        record(Metric.UPSTREAM_LATENCY, (time.perf_counter() - started) * 1000)
        if status >= 400:
            record(Metric.UPSTREAM_ERROR)

    def forward_body(self, body: dict[str, Any], raw: bytes, **overrides: Any) -> bytes:
        """The client's own bytes when nothing changes; else its JSON without our `cache` object."""
        if "cache" not in body and not overrides:
            return raw
        forwarded = {k: v for k, v in body.items() if k != "cache"}
        forwarded.update(overrides)
        return _compact_json(forwarded)

    def _post(self, request: ClientRequest) -> tuple[GatewayResponse, dict[str, Any] | None]:
        upstream = self.upstream_for(request.route).post(
            dialect_for(request.route).upstream_path(request.body),
            self.forward_body(request.body, request.raw),
            request.headers,
            request.credential,
            deadline=request.deadline,
        )
        return self.passthrough(upstream, request.route)

    def passthrough(self, upstream: UpstreamResponse, route: str) -> tuple[GatewayResponse, dict[str, Any] | None]:
        """The provider's answer as-is, and its parsed JSON when it is a storable success."""
        headers = {k: v for k, v in upstream.headers.items() if k != "content-type"}
        response = GatewayResponse(upstream.status, upstream.body, upstream.content_type, headers)
        if upstream.status >= 400:
            return response, None  # the provider's own error, passed through, never stored
        if len(upstream.body) > self.settings.max_answer_bytes:
            return response, None  # passed on, never stored: a hit would inflate it again on every replay
        try:
            answer = json.loads(upstream.body)
        except ValueError:
            raise UpstreamUnavailable("the provider's answer was not valid JSON") from None
        if not dialect_for(route).storable(upstream.status, answer):
            return response, None
        return response, answer

    def _open_stream(self, request: ClientRequest, dialect: Dialect, started: float, keep: Keep) -> GatewayResponse:
        """A streamed miss: the status and headers once the provider's first event came, and a body that relays
        each event as it arrives while assembling the answer, kept when the stream completed.

        Before the first event nothing was sent: a failure is the plain 502/504 of a plain answer."""
        body = self.forward_body(request.body, request.raw, **dialect.stream_overrides(request.body))
        resources = ExitStack()
        try:
            head, chunks = resources.enter_context(
                self.upstream_for(request.route).stream(
                    dialect.upstream_path(request.body),
                    body,
                    request.headers,
                    request.credential,
                    deadline=request.deadline,
                )
            )
            if head.status >= 400 or head.headers.get("content-type", SSE).startswith(JSON):
                # An error, or a provider that ignored `stream` and answered in one piece: passed on as it
                # came (and stored when it is a complete answer), never turned into an empty stream.
                whole = b"".join(chunks)
                resources.close()
                response, answer = self.passthrough(UpstreamResponse(head.status, head.headers, whole), request.route)
                self._upstream_done(response.status, started)
                if answer is not None:
                    keep(answer, _compact_json(answer))
                return response
            events = dialect.events(chunks)
            first = next(events, None)
        except BaseException:
            resources.close()
            raise
        headers = {k: v for k, v in head.headers.items() if k != "content-type"}
        pieces = self._relay(first, events, request, dialect, head.status, started, keep)
        return GatewayResponse(
            head.status, b"", dialect.stream_content_type, headers, BodyStream(pieces, resources, dialect.error_event)
        )

    def _relay(
        self,
        first: Any,
        events: Iterator[Any],
        request: ClientRequest,
        dialect: Dialect,
        status: int,
        started: float,
        keep: Keep,
    ) -> Iterator[bytes]:
        """Each provider event as this client's bytes, as it comes. A provider error mid-stream is raised here
        (the transport decides how the client hears of it); a stream closed early stores nothing."""
        assembler = dialect.assembler()
        settled = False
        event = first
        while event is not None:
            dialect.feed(assembler, event)
            if assembler.finished and not settled:
                # Stored before the final event is passed on: a client that saw the end finds the entry.
                settled = True
                self._settle(assembler.result(), dialect, status, started, keep)
            piece = dialect.relay(event, request.body)
            if piece is not None:
                yield piece
            event = next(events, None)
        if not settled:  # ended without its final event: relayed, never stored
            self._upstream_done(status, started)

    def _settle(self, answer: dict[str, Any] | None, dialect: Dialect, status: int, started: float, keep: Keep) -> None:
        self._upstream_done(status, started)
        if answer is not None and dialect.storable(status, answer):
            keep(answer, _compact_json(answer))

    # ----- store -------------------------------------------------------------------------------
    def _store(
        self,
        request: ClientRequest,
        dialect: Dialect,
        controls: Controls,
        key: str,
        answer: dict[str, Any],
        raw: bytes,
        semantic: SemanticQuery | None,
    ) -> None:
        now = self.clock()
        entry = CacheEntry.from_answer(
            raw,
            created_at=now,
            ttl=policy.effective_ttl(controls, self.settings.default_ttl, self.settings.max_ttl),
            route=request.route,
            model=str(answer.get("model") or request.body.get("model") or ""),
            usage=dialect.usage(answer),
        )
        self.store.put(key, entry)
        if semantic is not None:
            self._semantic_remember(semantic, key, entry)


def _compact_json(value: Any) -> bytes:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" is valid JSON): keep it as an escape
        return json.dumps(value, separators=(",", ":")).encode()


def _seconds_left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _young_enough(entry: CacheEntry, controls: Controls, now: float) -> bool:
    return controls.max_age is None or entry.younger_than(controls.max_age, now)


def require_json_object(raw: bytes) -> dict[str, Any]:
    return keys.parse_request_json(raw)
