"""lookup -> (coalesce) -> upstream -> store, the same for every API (its dialect says what differs).

`Engine.handle` looks the request up (exactly, then semantically) and serves a hit; a miss becomes a `_Miss`,
the one object that asks the provider for this request (or finds the answer another caller got meanwhile)
and stores what may be stored. Knows only the store, generations, upstream and dialect interfaces.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from llmcache import keys, policy
from llmcache.constants import (
    HEADER_CACHE,
    HEADER_CACHE_BYPASS_REASON,
    HEADER_CACHE_KEY,
    HEADER_CACHE_MATCH,
    HEADER_CACHE_SIMILARITY,
    HEADER_CACHE_TIER,
    Metric,
)
from llmcache.engine.coalesce import Flight, SingleFlight
from llmcache.engine.per_input import PerInput
from llmcache.engine.semantic import ENTRY_GONE
from llmcache.engine.semantic import debug_headers as semantic_debug_headers
from llmcache.engine.services import Services, compact_json, seconds_left, upstream_done, young_enough
from llmcache.engine.shared_stream import SharedStream
from llmcache.errors import BackendFailure, UpstreamUnavailable
from llmcache.exchange import JSON, BodyStream, ClientRequest, GatewayResponse, UpstreamResponse
from llmcache.observability import record
from llmcache.savings import record_hit_savings
from llmcache.stores.base import CacheEntry, Hit

if TYPE_CHECKING:
    from collections.abc import Iterator

    from llmcache.dialects.base import Dialect
    from llmcache.engine.leases import Leases
    from llmcache.engine.semantic import SemanticQuery
    from llmcache.policy import Controls
    from llmcache.semantic.types import SemanticMatcher, SemanticOutcome


class _SemanticDown(Exception):
    """The semantic lookup failed (as opposed to finding nothing); the failure is already counted."""


class Engine:
    def __init__(
        self, services: Services, semantic: SemanticMatcher | None = None, leases: Leases | None = None
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.store = services.store
        self.generations = services.generations
        self.semantic = semantic
        self.leases = leases
        self.flights: SingleFlight[GatewayResponse] = SingleFlight()
        self.per_input = PerInput(services)

    def clock(self) -> float:
        """The services' clock (tests replace it there, for every part of the engine at once)."""
        return self.services.clock()

    # ----- entry point -------------------------------------------------------------------------
    def handle(self, request: ClientRequest) -> GatewayResponse:
        controls = policy.for_scope(
            policy.parse_controls(request.headers, request.body.get("cache")), self.settings.scope
        )
        if self.semantic is not None:
            from llmcache.upstream import current_credential

            current_credential.set(request.credential)  # passthrough: the caller pays for its own embedding
        if request.dialect.per_input:
            return self.per_input.answer(request, controls)
        return self._answer(request, controls)

    # ----- one answer per request: chat completions, completions, responses, messages, ... ------
    def _answer(self, request: ClientRequest, controls: Controls) -> GatewayResponse:
        dialect, body = request.dialect, request.body
        tenant_scope = self.services.tenant_scope(request)
        # Neither served nor stored: a request its API says must not be (a Responses background job), or one
        # whose flush generation is unknowable.
        bypass = dialect.bypass_reason(body)
        generation = None if bypass else self.services.generation(tenant_scope, controls.namespace)
        if generation is None:
            record(Metric.CACHE_BYPASS)
            response = _Miss(self, request, controls, None, None, 0.0).call()
            response.headers[HEADER_CACHE] = "BYPASS"
            if bypass:
                response.headers[HEADER_CACHE_BYPASS_REASON] = bypass
            return response
        # once: the key and the semantic partition share them
        context = keys.header_context(request.headers, dialect.answer_headers)
        canonical = dialect.canonical(body) if controls.custom_key is None else None
        key = keys.request_key(
            tenant=tenant_scope,
            namespace=controls.namespace,
            generation=generation,
            route=dialect.route,
            canonical=canonical,
            custom_key=controls.custom_key,
            context=context,
        )
        started = time.perf_counter()
        query = self._semantic_query(dialect, canonical, controls, tenant_scope, generation, context)
        debug: dict[str, str] = {}  # X-Cache-Debug: 1 -> the semantic decision's reason and scores
        if not controls.no_cache:
            now = self.services.clock()
            hit = self.store.get(key, now)
            if hit is not None and young_enough(hit.entry, controls, now):
                return self._serve_hit(hit, key, request, now, started)
            try:
                semantic, seen = self._semantic_lookup(query, controls, now) if query is not None else (None, None)
            except _SemanticDown:
                semantic, seen, query = None, None, None  # it just failed: do not wait on it a second time to index
            debug = semantic_debug_headers(seen) if controls.debug else {}
            if semantic is not None and seen is not None and seen.candidate is not None:
                response = self._serve_hit(semantic, key, request, now, started)
                response.headers[HEADER_CACHE_MATCH] = "semantic"
                response.headers[HEADER_CACHE_SIMILARITY] = f"{seen.candidate.similarity:.4f}"
                response.headers.update(debug)
                return response
            record(Metric.CACHE_MISS)
            outcome = "MISS"
        else:
            record(Metric.CACHE_BYPASS)
            outcome = "BYPASS"

        miss = _Miss(self, request, controls, key, query, started)
        # Identical concurrent misses share one upstream call. A refresh (no-cache) does not wait, and a
        # no-store request does not lead one: its answer is never stored, so waiters would get nothing kept.
        wait = seconds_left(request.deadline) if request.deadline else self.settings.upstream_read_timeout
        flight_key = f"{key}:{dialect.variant(body)}"
        if controls.no_cache or controls.no_store:
            response = miss.fetch()
        elif request.stream:
            response = self._stream_flight(flight_key, miss, wait)
        else:
            # Only a success is shared: a provider error (e.g. a 401 for the leader's own key, which in shared
            # scope is another tenant's) belongs to the leader's caller alone.
            response, shared = self.flights.run(flight_key, miss.fetch, wait, shareable=lambda r: r.status < 400)
            if shared:
                response = GatewayResponse(
                    response.status,
                    response.body,
                    response.content_type,
                    {**response.headers, "X-Cache-Coalesced": "true"},
                )
        response.headers.setdefault(HEADER_CACHE, outcome)
        response.headers[HEADER_CACHE_KEY] = key
        response.headers.update(debug)
        return response

    def _stream_flight(self, flight_key: str, miss: _Miss, wait: float) -> GatewayResponse:
        """One provider call per herd of identical streamed misses, whose events every member gets as they come:
        the leader's stream is shared (SharedStream), followers read it from its first event. A follower that
        comes when the stream was given up (its readers all left) waits for the stored answer, or asks itself."""
        flight, leader = self.flights.join(flight_key)
        if not leader:
            return self._follow(flight, miss, wait)
        try:
            response = miss.fetch()
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

    def _follow(self, flight: Flight[GatewayResponse], miss: _Miss, wait: float) -> GatewayResponse:
        until = time.monotonic() + wait
        if flight.started.wait(wait) and flight.shared is not None:
            head, shared = flight.shared
            reader = shared.reader()
            if reader is not None:
                headers = {**head.headers, "X-Cache-Coalesced": "true"}
                return GatewayResponse(head.status, b"", head.content_type, headers, reader)
        if self.flights.wait(flight, max(0.0, until - time.monotonic())):
            answered = miss.stored()
            if answered is not None:
                return answered
        return miss.fetch()

    def _serve_hit(
        self, hit: Hit, key: str, request: ClientRequest, now: float, started: float, count: bool = True
    ) -> GatewayResponse:
        entry, raw = hit.entry, hit.raw
        echo = request.dialect.echo  # fields the provider echoes: this request's own, never the first caller's
        if request.stream:
            dialect = request.dialect
            answer = json.loads(raw)
            if echo is not None:
                answer = echo.for_request(answer, request.body)
            body, content_type = dialect.replay(answer, request.body), dialect.stream_content_type
        else:
            body, content_type = (raw if echo is None else echo.hit_bytes(raw, request.body)), entry.content_type
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
        self,
        dialect: Dialect[Any],
        canonical: dict[str, Any] | None,
        controls: Controls,
        tenant_scope: str,
        generation: str,
        context: str,
    ) -> SemanticQuery | None:
        """What the semantic index compares and its partition, once per request; None when not applicable."""
        if self.semantic is None or controls.custom_key is not None or canonical is None:
            return None
        from llmcache.engine.semantic import semantic_query

        return semantic_query(
            dialect,
            canonical,
            tenant_scope,
            controls.namespace,
            generation,
            self.settings.semantic_max_chars,
            context,
        )

    def _semantic_lookup(
        self, query: SemanticQuery, controls: Controls, now: float
    ) -> tuple[Hit | None, SemanticOutcome | None]:
        """The semantic hit (or None) and what the lookup saw; _SemanticDown (already counted) when the
        embedder or index failed."""
        if not controls.semantic or self.semantic is None:  # the caller opted out (its answer is still indexed)
            return None, None
        threshold = policy.effective_semantic_threshold(controls, self.settings.semantic_threshold)
        try:
            seen = self.semantic.consult(query.partition, query.text, threshold, now)
        except Exception as exc:  # embedder or index down: a plain miss
            self.store.report_failure(BackendFailure("semantic", "lookup", exc))
            raise _SemanticDown from None
        if seen.candidate is None:
            return None, seen
        hit = self.store.get(seen.candidate.key, now)
        if hit is None or not young_enough(hit.entry, controls, now):
            return None, replace(seen, candidate=None, reason=ENTRY_GONE)
        return hit, seen


class _Miss:
    """One request the cache did not answer: asks the provider for it (or takes the answer another caller got
    meanwhile), and stores a complete answer under `key` (None: never stored)."""

    def __init__(
        self,
        engine: Engine,
        request: ClientRequest,
        controls: Controls,
        key: str | None,
        query: SemanticQuery | None,
        started: float,
    ) -> None:
        self.engine = engine
        self.services = engine.services
        self.request = request
        self.dialect = request.dialect
        self.controls = controls
        self.key = key
        self.query = query
        self.started = started  # when the lookup began: a hit served meanwhile counts its latency from there

    # ----- coalescing --------------------------------------------------------------------------
    def fetch(self) -> GatewayResponse:
        """The provider's answer, unless an answer stored since the lookup (here, or by another container
        holding the lease) can be served instead."""
        if self.controls.no_cache or self.controls.no_store:
            return self.call()
        key, store, clock = self._key(), self.services.store, self.services.clock
        # The previous flight may have stored its answer between our lookup and our flight
        # (checked in this container's memory only: it costs no round trip).
        meanwhile = self.answered_meanwhile(store.get_local(key, clock()))
        if meanwhile is not None:
            return meanwhile
        leases = self.engine.leases
        if leases is None:
            return self.call()
        token = leases.acquire(key)
        if token is None:  # another container is asking the provider right now: wait for its answer
            waited = self.answered_meanwhile(
                leases.wait_for(key, lambda: store.get(key, clock()), self.request.deadline)
            )
            return waited if waited is not None else self.call()
        try:
            response = self.call()
        except BaseException:
            leases.release(key, token)
            raise
        if response.stream is None:
            leases.release(key, token)
        else:  # held while the answer streams in: other containers wait for the stored answer
            response.stream.on_close(lambda: leases.release(key, token))
        return response

    def stored(self) -> GatewayResponse | None:
        """The answer another caller stored since this request's lookup, served; None when there is none."""
        return self.answered_meanwhile(self.services.store.get(self._key(), self.services.clock()))

    def answered_meanwhile(self, hit: Hit | None) -> GatewayResponse | None:
        """Another caller's answer, stored since this request's lookup: served, not fetched again."""
        now = self.services.clock()
        if hit is None or not young_enough(hit.entry, self.controls, now):
            return None
        response = self.engine._serve_hit(hit, self._key(), self.request, now, self.started, count=False)
        # This request's lookup missed (and is counted so); its answer came from another caller's call.
        # Labelled as an in-container follower is: MISS + Coalesced, so headers and metrics agree.
        for name in ("Age", HEADER_CACHE_MATCH, HEADER_CACHE_TIER):
            response.headers.pop(name, None)
        response.headers[HEADER_CACHE] = "MISS"
        response.headers["X-Cache-Coalesced"] = "true"
        return response

    def _key(self) -> str:
        assert self.key is not None, "only a keyed miss is coalesced"
        return self.key

    # ----- the provider ------------------------------------------------------------------------
    def call(self) -> GatewayResponse:
        """The provider's answer; a complete success is stored (unless no-store, or the request has no key)."""
        started = time.perf_counter()
        if self.request.stream:
            return self._open_stream(started)
        request = self.request
        upstream = self.services.upstream_for(self.dialect).post(
            self.dialect.upstream_path(request.body),
            forward_body(request.body, request.raw),
            request.headers,
            request.credential,
            deadline=request.deadline,
        )
        response, answer = self.services.provider_answer(upstream, self.dialect)
        upstream_done(response.status, started)
        if answer is not None:
            self.keep(answer, response.body)  # a plain answer is kept as the provider's own bytes
        return response

    def _open_stream(self, started: float) -> GatewayResponse:
        """A streamed miss: the status and headers once the provider's first event came, and a body that relays
        each event as it arrives while assembling the answer, kept when the stream completed.

        Before the first event nothing was sent: a failure is the plain 502/504 of a plain answer."""
        request, dialect = self.request, self.dialect
        body = forward_body(request.body, request.raw, **dialect.stream_overrides(request.body))
        resources = ExitStack()
        try:
            head, chunks = resources.enter_context(
                self.services.upstream_for(dialect).stream(
                    dialect.upstream_path(request.body),
                    body,
                    request.headers,
                    request.credential,
                    deadline=request.deadline,
                )
            )
            content_type = head.headers.get("content-type", dialect.stream_content_type)
            if head.status >= 400 or content_type.startswith(JSON):
                # An error, or a provider that ignored `stream` and answered in one piece: passed on as it
                # came (and stored when it is a complete answer), never turned into an empty stream.
                whole = b"".join(chunks)
                resources.close()
                response, answer = self.services.provider_answer(
                    UpstreamResponse(head.status, head.headers, whole), dialect
                )
                upstream_done(response.status, started)
                if answer is not None:
                    self.keep(answer, compact_json(answer))
                return response
            events = dialect.events(chunks)
            first = next(events, None)
        except BaseException:
            resources.close()
            raise
        headers = {k: v for k, v in head.headers.items() if k != "content-type"}
        pieces = self._relay(first, events, head.status, started)
        stream = BodyStream(pieces, resources, dialect.error_event)
        return GatewayResponse(head.status, b"", dialect.stream_content_type, headers, stream)

    def _relay(self, first: Any, events: Iterator[Any], status: int, started: float) -> Iterator[bytes]:
        """Each provider event as this client's bytes, as it comes. A provider error mid-stream is raised here
        (the door decides how the client hears of it); a stream closed early stores nothing."""
        dialect, body = self.dialect, self.request.body
        assembler = dialect.assembler()
        settled = False
        event = first
        while event is not None:
            assembler.feed(event)
            if assembler.finished and not settled:
                # Stored before the final event is passed on: a client that saw the end finds the entry.
                settled = True
                upstream_done(status, started)
                answer = assembler.result()
                if answer is not None and dialect.storable(status, answer):
                    self.keep(answer, compact_json(answer))
            piece = dialect.relay(event, body)
            if piece is not None:
                yield piece
            event = next(events, None)
        if not settled:  # ended without its final event: relayed, never stored
            upstream_done(status, started)
            if dialect.final_event_required:  # its SDKs would take the cut stream for a whole answer
                yield dialect.error_event(UpstreamUnavailable("the provider's stream ended before its final event"))

    # ----- store -------------------------------------------------------------------------------
    def keep(self, answer: dict[str, Any], raw: bytes) -> None:
        """Store a complete answer under the key; one over MAX_ANSWER_BYTES is passed on, never stored (a hit
        would replay it every time)."""
        stored = self.dialect.echo.stored_form(answer) if self.dialect.echo is not None else None
        if stored is not None:  # an entry never holds a caller's echoed values (metadata, user, ...)
            answer, raw = stored, compact_json(stored)
        if self.key is None or self.controls.no_store or len(raw) > self.services.settings.max_answer_bytes:
            return
        request = self.request
        entry = CacheEntry.from_answer(
            raw,
            created_at=self.services.clock(),
            ttl=self.services.ttl(self.controls),
            route=self.dialect.route,
            model=str(answer.get("model") or request.body.get("model") or ""),
            usage=self.dialect.usage(answer),
        )
        self.services.store.put(self.key, entry)
        semantic = self.engine.semantic
        if self.query is not None and semantic is not None:
            try:
                semantic.remember(self.query.partition, self.query.text, self.key, entry.expires_at)
            except Exception as exc:
                self.services.store.report_failure(BackendFailure("semantic", "remember", exc))


def forward_body(body: dict[str, Any], raw: bytes, **overrides: Any) -> bytes:
    """The client's own bytes when nothing changes; else its JSON without our `cache` object."""
    if "cache" not in body and not overrides:
        return raw
    forwarded = {k: v for k, v in body.items() if k != "cache"}
    forwarded.update(overrides)
    return compact_json(forwarded)
