"""lookup -> (coalesce) -> upstream -> store. Knows only the store, generations and upstream interfaces."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmcache import keys, policy
from llmcache.coalesce import SingleFlight
from llmcache.constants import (
    HEADER_CACHE,
    HEADER_CACHE_KEY,
    HEADER_CACHE_MATCH,
    HEADER_CACHE_SIMILARITY,
    HEADER_CACHE_TIER,
    Metric,
)
from llmcache.errors import BackendFailure, UpstreamUnavailable
from llmcache.generations import Generations
from llmcache.observability import record
from llmcache.policy import Controls
from llmcache.savings import record_hit_savings, token_counts
from llmcache.settings import Settings
from llmcache.stores.base import CacheEntry, Hit
from llmcache.stores.tiered import TieredStore
from llmcache.upstream_types import UpstreamResponse

if TYPE_CHECKING:
    from llmcache.leases import Leases
    from llmcache.semantic_link import SemanticQuery
    from llmcache.upstream import Upstream

JSON = "application/json"
SSE = "text/event-stream"


class _SemanticDown(Exception):
    """The semantic lookup failed (as opposed to finding nothing); the failure is already counted."""


@dataclass(frozen=True)
class ClientRequest:
    route: str  # chat/completions | completions | embeddings
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]  # lower-case names
    credential: str | None
    tenant: str
    deadline: float | None = None  # time.monotonic() by which the provider must have answered


@dataclass
class GatewayResponse:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


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
    ) -> None:
        self.settings = settings
        self.store = store
        self.generations = generations
        self.upstream = upstream
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
            from llmcache.semantic_embed import current_credential

            current_credential.set(request.credential)  # passthrough: the caller pays for its own embedding
        if request.route == "embeddings":
            from llmcache.embeddings import handle_embeddings

            return handle_embeddings(self, request, controls)
        return self._completion(request, controls)

    def tenant_scope(self, request: ClientRequest) -> str:
        return "" if self.settings.scope == "shared" else request.tenant

    def generation_for(self, tenant_scope: str, namespace: str) -> str | None:
        return self.generations.current(tenant_scope, namespace)

    # ----- chat completions and completions ----------------------------------------------------
    def _completion(self, request: ClientRequest, controls: Controls) -> GatewayResponse:
        body = request.body
        stream = body.get("stream") is True
        stream_options = body.get("stream_options")
        include_usage = stream and isinstance(stream_options, dict) and stream_options.get("include_usage") is True
        tenant_scope = self.tenant_scope(request)
        generation = self.generation_for(tenant_scope, controls.namespace)
        if generation is None:  # the flush generation is unknowable: neither serve nor store
            record(Metric.CACHE_BYPASS)
            response = self._call_upstream(
                request, key=None, stream=stream, include_usage=include_usage, store=False, controls=controls
            )
            response.headers[HEADER_CACHE] = "BYPASS"
            return response
        context = keys.header_context(request.headers)  # once: the key and the semantic partition share it
        key = keys.request_key(
            tenant=tenant_scope,
            namespace=controls.namespace,
            generation=generation,
            route=request.route,
            body=body,
            custom_key=controls.custom_key,
            context=context,
        )
        started = time.perf_counter()
        query = self._semantic_query(request, controls, tenant_scope, generation, context)
        if not controls.no_cache:
            now = self.clock()
            hit = self.store.get(key, now)
            if hit is not None and _young_enough(hit.entry, controls, now):
                return self._serve_hit(hit, key, stream, include_usage, now, started)
            try:
                semantic = self._semantic_lookup(query, controls, now) if query is not None else None
            except _SemanticDown:
                semantic, query = None, None  # it just failed: do not wait on it a second time to index
            if semantic is not None:
                hit, similarity = semantic
                response = self._serve_hit(hit, key, stream, include_usage, now, started)
                response.headers[HEADER_CACHE_MATCH] = "semantic"
                response.headers[HEADER_CACHE_SIMILARITY] = f"{similarity:.4f}"
                return response
            record(Metric.CACHE_MISS)
            outcome = "MISS"
        else:
            record(Metric.CACHE_BYPASS)
            outcome = "BYPASS"

        def call() -> GatewayResponse:
            return self._call_upstream(
                request,
                key=key,
                stream=stream,
                include_usage=include_usage,
                store=not controls.no_store,
                controls=controls,
                semantic=query,
            )

        def answered_meanwhile(hit: Hit | None) -> GatewayResponse | None:
            """Another caller's answer, stored since this request's lookup: served, not fetched again."""
            if hit is None or not _young_enough(hit.entry, controls, self.clock()):
                return None
            response = self._serve_hit(hit, key, stream, include_usage, self.clock(), started, count=False)
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
            if self.leases is None:
                return call()
            token = self.leases.acquire(key)
            if token is None:  # another container is asking the provider right now: wait for its answer
                waited = answered_meanwhile(
                    self.leases.wait_for(key, lambda: self.store.get(key, self.clock()), request.deadline)
                )
                return waited if waited is not None else call()
            try:
                return call()
            finally:
                self.leases.release(key, token)

        # Identical concurrent misses share one upstream call. A refresh (no-cache) does not wait, and a
        # no-store request does not lead one: its answer is never stored, so waiters would get nothing kept.
        flight_key = f"{key}:{int(stream)}:{int(include_usage)}"
        if controls.no_cache or controls.no_store:
            response = fetch()
        else:
            wait = _seconds_left(request.deadline) if request.deadline else self.settings.upstream_read_timeout
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

    def _serve_hit(
        self, hit: Hit, key: str, stream: bool, include_usage: bool, now: float, started: float, count: bool = True
    ) -> GatewayResponse:
        entry, raw = hit.entry, hit.raw
        if stream:
            from llmcache.streaming import replay_sse

            body, content_type = replay_sse(json.loads(raw), include_usage=include_usage), SSE
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
        from llmcache.semantic_link import semantic_query

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
        *,
        key: str | None,
        stream: bool,
        include_usage: bool,
        store: bool,
        controls: Controls,
        semantic: SemanticQuery | None = None,
    ) -> GatewayResponse:
        started = time.perf_counter()
        if stream:
            response, answer = self._relay_stream(request, include_usage)
        else:
            response, answer = self._post(request)
        record(Metric.UPSTREAM_LATENCY, (time.perf_counter() - started) * 1000)
        if response.status >= 400:
            record(Metric.UPSTREAM_ERROR)
        elif key is not None and store and answer is not None:
            # A plain answer is kept as the provider's own bytes; a stream as its assembled JSON.
            raw = _compact_json(answer) if stream else response.body
            if len(raw) <= self.settings.max_answer_bytes:
                self._store(request, controls, key, answer, raw, semantic)
        return response

    def forward_body(self, body: dict[str, Any], raw: bytes, **overrides: Any) -> bytes:
        """The client's own bytes when nothing changes; else its JSON without our `cache` object."""
        if "cache" not in body and not overrides:
            return raw
        forwarded = {k: v for k, v in body.items() if k != "cache"}
        forwarded.update(overrides)
        return _compact_json(forwarded)

    def _post(self, request: ClientRequest) -> tuple[GatewayResponse, dict[str, Any] | None]:
        upstream = self.upstream.post(
            request.route,
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
        if not policy.is_storable_answer(route, upstream.status, answer):
            return response, None
        return response, answer

    def _relay_stream(
        self, request: ClientRequest, include_usage: bool
    ) -> tuple[GatewayResponse, dict[str, Any] | None]:
        from llmcache.streaming import StreamAssembler, iter_sse_data

        stream_options = request.body.get("stream_options")
        # Always ask for usage, so the stored answer has it even when this client did not want it.
        options = {**(stream_options if isinstance(stream_options, dict) else {}), "include_usage": True}
        body = self.forward_body(request.body, request.raw, stream_options=options)
        with self.upstream.stream(
            request.route, body, request.headers, request.credential, deadline=request.deadline
        ) as (head, chunks):
            if head.status >= 400 or head.headers.get("content-type", SSE).startswith(JSON):
                # An error, or a provider that ignored `stream` and answered in one piece: passed on as it
                # came (and stored when it is a complete answer), never turned into an empty stream.
                whole = b"".join(chunks)
                return self.passthrough(UpstreamResponse(head.status, head.headers, whole), request.route)
            assembler = StreamAssembler()
            relayed: list[str] = []
            for data in iter_sse_data(chunks):
                assembler.feed(data)
                if include_usage or not _is_usage_only_chunk(data):
                    relayed.append(data)
        answer = assembler.result()
        headers = {k: v for k, v in head.headers.items() if k != "content-type"}
        sse = "".join(_sse_event(d) for d in relayed).encode()
        response = GatewayResponse(head.status, sse, SSE, headers)
        if answer is None or not policy.is_storable_answer(request.route, head.status, answer):
            return response, None
        return response, answer

    # ----- store -------------------------------------------------------------------------------
    def _store(
        self,
        request: ClientRequest,
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
            usage=token_counts(answer),
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


def usage_tokens(answer: dict[str, Any]) -> int:
    """The answer's total tokens (what TokensSaved counts); `savings.token_counts` also splits them."""
    return token_counts(answer).total


def _sse_event(data: str) -> str:
    """One SSE event carrying `data`; a value that spanned several `data:` lines keeps one line each."""
    return "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


def _seconds_left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _young_enough(entry: CacheEntry, controls: Controls, now: float) -> bool:
    return controls.max_age is None or entry.younger_than(controls.max_age, now)


def _is_usage_only_chunk(data: str) -> bool:
    if '"usage"' not in data:
        return False
    try:
        chunk = json.loads(data)
    except ValueError:
        return False
    return isinstance(chunk, dict) and chunk.get("choices") == [] and bool(chunk.get("usage"))


def require_json_object(raw: bytes) -> dict[str, Any]:
    return keys.parse_request_json(raw)
