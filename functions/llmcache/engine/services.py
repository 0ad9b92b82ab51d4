"""What the cache path works with, handed in by the composition root (`wiring`): the settings, the tiered store,
the flush generations, the providers and the clock; and the checks every path of the engine makes alike.

`engine.core` (one answer per request) and `engine.per_input` (embeddings, one entry per input) both take a
`Services`; neither reaches into the other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmcache import policy
from llmcache.constants import Metric
from llmcache.errors import UpstreamUnavailable
from llmcache.exchange import ClientRequest, GatewayResponse, UpstreamResponse
from llmcache.observability import record

if TYPE_CHECKING:
    from llmcache.dialects.base import Dialect
    from llmcache.engine.generations import Generations
    from llmcache.policy import Controls
    from llmcache.settings import Settings
    from llmcache.stores.base import CacheEntry
    from llmcache.stores.tiered import TieredStore
    from llmcache.upstream import Upstream


@dataclass
class Services:
    settings: Settings
    store: TieredStore
    generations: Generations
    upstream: Upstream  # OpenAI-compatible (UPSTREAM_BASE_URL): every dialect whose provider has no other
    providers: Mapping[str, Upstream] = field(default_factory=dict)  # the others by dialect.provider: "anthropic"
    clock: Callable[[], float] = time.time

    def upstream_for(self, dialect: Dialect[Any]) -> Upstream:
        """The provider that answers this API: its dialect's, else the OpenAI-compatible upstream."""
        return self.providers.get(dialect.provider, self.upstream)

    def tenant_scope(self, request: ClientRequest) -> str:
        return "" if self.settings.scope == "shared" else request.tenant

    def generation(self, tenant_scope: str, namespace: str) -> str | None:
        """The namespace's flush generation; None when it cannot be known (the request then bypasses)."""
        return self.generations.current(tenant_scope, namespace)

    def ttl(self, controls: Controls) -> int:
        return policy.effective_ttl(controls, self.settings.default_ttl, self.settings.max_ttl)

    def provider_answer(
        self, upstream: UpstreamResponse, dialect: Dialect[Any]
    ) -> tuple[GatewayResponse, dict[str, Any] | None]:
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
        if not dialect.storable(upstream.status, answer):
            return response, None
        return response, answer


def young_enough(entry: CacheEntry, controls: Controls, now: float) -> bool:
    """Fresh enough for the caller's max-age (expired entries never come out of the store at all)."""
    return controls.max_age is None or entry.younger_than(controls.max_age, now)


def upstream_done(status: int, started: float) -> None:
    """The provider call's latency, and an error when it answered with one."""
    record(Metric.UPSTREAM_LATENCY, (time.perf_counter() - started) * 1000)
    if status >= 400:
        record(Metric.UPSTREAM_ERROR)


def compact_json(value: Any) -> bytes:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" is valid JSON): keep it as an escape
        return json.dumps(value, separators=(",", ":")).encode()


def seconds_left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
