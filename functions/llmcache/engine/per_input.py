"""/v1/embeddings, cached per input: a partly cached batch asks the provider only for the rest.

Each entry is one input under the request's model, dimensions, encoding format and other
parameters; `"x"` and `["x"]` share it. The answer keeps the request's order and sums usage.

A batch is bounded as the provider bounds it (MAX_INPUTS), and every phase stays inside the request's
deadline: lookups stop when LOOKUP_SHARE of the time left has gone (the rest is asked of the provider),
and fresh answers are written in batches until the deadline, the rest answered but not stored.
"""

from __future__ import annotations

import hashlib
import json
import time
from time import monotonic
from typing import TYPE_CHECKING, Any

from llmcache import keys
from llmcache.constants import HEADER_CACHE, HEADER_CACHE_KEY, HEADER_CACHE_TIER, Metric
from llmcache.dialects.embeddings import in_input_order, split_inputs, split_tokens
from llmcache.engine.services import young_enough
from llmcache.errors import BadRequest
from llmcache.exchange import ClientRequest, GatewayResponse
from llmcache.observability import record
from llmcache.savings import TokenCounts, record_hit_savings
from llmcache.stores.base import CacheEntry, Hit

if TYPE_CHECKING:
    from llmcache.engine.services import Services
    from llmcache.policy import Controls

ROUTE = "embeddings"
CHUNK = 100  # keys per lookup or write round: one BatchGetItem's worth, four BatchWriteItems
LOOKUP_SHARE = 0.25  # of the time left when the batch arrives: the provider keeps the rest


class PerInput:
    """The per-input path: given the engine's services, never the engine."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def answer(self, request: ClientRequest, controls: Controls) -> GatewayResponse:
        return answer_per_input(self.services, request, controls)


def answer_per_input(services: Services, request: ClientRequest, controls: Controls) -> GatewayResponse:
    if controls.custom_key is not None:
        raise BadRequest(
            "X-Cache-Custom-Key / cache.cache_key is not supported on /v1/embeddings: entries are kept per input",
            param="cache_key",
        )
    inputs = split_inputs(request.body.get("input"))
    dialect = request.dialect
    tenant_scope = services.tenant_scope(request)
    generation = services.generation(tenant_scope, controls.namespace)
    params = {k: v for k, v in request.body.items() if k not in ("input", "cache")}
    context = keys.header_context(request.headers, dialect.answer_headers)
    input_keys = (
        [
            keys.request_key(
                tenant=tenant_scope,
                namespace=controls.namespace,
                generation=generation,
                route=dialect.route,
                canonical=dialect.canonical({**params, "input": item}),
                custom_key=None,
                context=context,
            )
            for item in inputs
        ]
        if generation is not None
        else []
    )
    started = time.perf_counter()
    now = services.clock()
    hits: dict[int, Hit] = {}
    if input_keys and not controls.no_cache:
        found = _look_up(services, list(dict.fromkeys(input_keys)), now, request.deadline)
        for i, key in enumerate(input_keys):
            hit = found.get(key)
            if hit is not None and young_enough(hit.entry, controls, now):
                hits[i] = hit
    missing = [i for i in range(len(inputs)) if i not in hits]
    outcome = "BYPASS" if not input_keys or controls.no_cache else ("MISS" if missing else "HIT")
    record(Metric.CACHE_HIT, len(hits))
    if outcome == "BYPASS":
        record(Metric.CACHE_BYPASS)
    elif missing:
        record(Metric.CACHE_MISS, len(missing))

    fresh: dict[int, dict[str, Any]] = {}
    fresh_tokens: dict[int, int] = {}
    upstream_model: str | None = None
    if missing:
        asked = [inputs[i] for i in missing]
        upstream_started = time.perf_counter()
        upstream = services.upstream_for(dialect).post(
            dialect.route,
            json.dumps({**params, "input": asked}, separators=(",", ":")).encode(),
            request.headers,
            request.credential,
            deadline=request.deadline,
        )
        record(Metric.UPSTREAM_LATENCY, (time.perf_counter() - upstream_started) * 1000)
        response, answer = services.provider_answer(upstream, dialect)
        if answer is None:
            if response.status >= 400:
                record(Metric.UPSTREAM_ERROR)
            return _finish(response, outcome, input_keys)
        by_index = in_input_order(answer.get("data"), len(asked))
        usage = answer.get("usage")
        prompt_tokens_used = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        total = prompt_tokens_used if isinstance(prompt_tokens_used, int) and prompt_tokens_used >= 0 else 0
        upstream_model = str(answer.get("model") or params.get("model") or "")
        for i, item, tokens in zip(missing, by_index, split_tokens(total, asked), strict=True):
            fresh[i] = item
            fresh_tokens[i] = tokens
        if input_keys and not controls.no_store:
            entries = {
                input_keys[i]: _entry(services, controls, {**fresh[i], "index": 0}, upstream_model, fresh_tokens[i])
                for i in missing
            }
            _store(services, list(entries.items()), request.deadline)
        if not hits:  # the provider answered the whole batch: send its bytes unchanged (none of n was cached)
            return _finish(response, outcome, input_keys, hits=0, total=len(inputs) if outcome == "MISS" else 0)

    data_out: list[Any] = []
    prompt_tokens = 0
    model = upstream_model
    for i in range(len(inputs)):
        if i in hits:
            entry = hits[i].entry
            item = json.loads(hits[i].raw)
            prompt_tokens += entry.tokens
            model = model or entry.model
        else:
            item = fresh[i]
            prompt_tokens += fresh_tokens[i]
        data_out.append({**item, "index": i})
    record_hit_savings(services.settings, *(hit.entry for hit in hits.values()))
    if not missing:
        record(Metric.HIT_LATENCY, (time.perf_counter() - started) * 1000)
    body = {
        "object": "list",
        "data": data_out,
        "model": model or params.get("model"),
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
    response = GatewayResponse(200, json.dumps(body, separators=(",", ":")).encode())
    if not missing:
        tiers = {h.tier for h in hits.values()}
        response.headers[HEADER_CACHE_TIER] = tiers.pop() if len(tiers) == 1 else "mixed"
        response.headers["Age"] = str(max(h.entry.age(now) for h in hits.values()))
        response.headers["X-Cache-Match"] = "exact"
    return _finish(response, outcome, input_keys, hits=len(hits), total=len(inputs))


def _entry(services: Services, controls: Controls, item: dict[str, Any], model: str, tokens: int) -> CacheEntry:
    return CacheEntry.from_answer(
        json.dumps(item, separators=(",", ":")).encode(),
        created_at=services.clock(),
        ttl=services.ttl(controls),
        route=ROUTE,
        model=model,
        usage=TokenCounts(total=tokens, input=tokens),  # embeddings bill input tokens only
    )


def _look_up(services: Services, keys_: list[str], now: float, deadline: float | None) -> dict[str, Hit]:
    """The cached inputs, CHUNK keys a round, until LOOKUP_SHARE of the time left is spent: what was not
    looked up by then counts as missing and is asked of the provider."""
    until = None if deadline is None else monotonic() + (deadline - monotonic()) * LOOKUP_SHARE
    found: dict[str, Hit] = {}
    for start in range(0, len(keys_), CHUNK):
        if until is not None and monotonic() >= until:
            break
        found.update(services.store.get_many(keys_[start : start + CHUNK], now))
    return found


def _store(services: Services, items: list[tuple[str, CacheEntry]], deadline: float | None) -> None:
    """Batched writes, CHUNK entries a round, while the deadline lasts; the rest is answered, not stored."""
    for start in range(0, len(items), CHUNK):
        if deadline is not None and monotonic() >= deadline:
            return
        services.store.put_many(items[start : start + CHUNK])


def batch_key(input_keys: list[str]) -> str:
    """One key naming a whole batch (the single input's own key for a batch of one)."""
    if len(input_keys) == 1:
        return input_keys[0]
    return hashlib.sha256("".join(input_keys).encode()).hexdigest()


def _finish(
    response: GatewayResponse, outcome: str, input_keys: list[str], hits: int = 0, total: int = 0
) -> GatewayResponse:
    response.headers[HEADER_CACHE] = outcome
    if input_keys:
        response.headers[HEADER_CACHE_KEY] = batch_key(input_keys)
    if total:
        response.headers["X-Cache-Hits"] = f"{hits}/{total}"
    return response
