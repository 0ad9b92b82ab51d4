"""The management API: flush, inspect, re-expire and delete entries; stats over a window."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmcache.constants import Metric
from llmcache.errors import BackendFailure, BadRequest, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from llmcache.observability import counters
from llmcache.policy import is_namespace
from llmcache.stores.base import Hit
from llmcache.stores.process_stats import MAX_WINDOW_SECONDS, SERIES_NAMES, step_seconds, summary

if TYPE_CHECKING:
    from llmcache.engine.services import Services
    from llmcache.semantic.types import SemanticMatcher
    from llmcache.stores.cloudwatch import MetricsReader

KEY_PATTERN = re.compile(r"[0-9a-f]{64}")  # fullmatch: no trailing newline
TENANT_PATTERN = re.compile(r"[0-9a-f]{32}|anonymous")
MAX_STATS_WINDOW = MAX_WINDOW_SECONDS
# Why a key may have no entry: the ways an entry ends, and the one key that never names an entry.
_GONE = (
    " (expired, deleted or flushed; an embeddings batch's X-Cache-Key names the batch: each input is an entry "
    "of its own)"
)
STATS_METRICS = [
    Metric.CACHE_HIT,
    Metric.CACHE_MISS,
    Metric.CACHE_BYPASS,
    Metric.TOKENS_SAVED,
    Metric.COST_SAVED,
    Metric.CACHE_BACKEND_ERROR,
    Metric.UPSTREAM_ERROR,
]


class Admin:
    def __init__(
        self,
        services: Services,
        admin_key: Callable[[], str | None],
        semantic: SemanticMatcher | None = None,
        metrics_reader: MetricsReader | None = None,
    ) -> None:
        self.services = services
        self.semantic = semantic
        self.admin_key = admin_key
        self.metrics_reader = metrics_reader  # None: this process's own counters (make run)

    def authorize(self, credential: str | None) -> None:
        if credential is None:  # before the key is read: no credential is a 401 whatever Secrets Manager does
            raise Unauthorized(
                "the management API needs `Authorization: Bearer <ADMIN_API_KEY>`", code="missing_api_key"
            )
        expected = self.admin_key()
        if not expected:
            raise Forbidden("the management API is disabled: set ADMIN_API_KEY (or ADMIN_API_KEY_SECRET_ARN)")
        if not hmac.compare_digest(credential.encode(), expected.encode()):
            raise Forbidden("this key is not the admin key; the management API needs ADMIN_API_KEY")

    def flush(self, body: dict[str, Any]) -> dict[str, Any]:
        namespace = body.get("namespace")
        if not is_namespace(namespace):
            raise BadRequest('`namespace` is required: the partition to flush, e.g. "default"', param="namespace")
        tenant = body.get("tenant")
        if tenant is not None and (not isinstance(tenant, str) or not TENANT_PATTERN.fullmatch(tenant)):
            raise BadRequest("`tenant` must be a tenant id (32 hex characters, as logged per request)", param="tenant")
        if tenant is not None and self.services.settings.scope == "shared":
            # Entries are not per tenant in shared scope: a per-tenant counter would flush nothing.
            raise BadRequest(
                "CACHE_SCOPE is shared, so entries are not kept per tenant: flush the namespace (omit `tenant`)",
                param="tenant",
            )
        try:
            generation = self.services.generations.bump(namespace, tenant)
        except BackendFailure as failure:
            raise ServiceUnavailable(f"the flush could not be recorded ({failure.tier} failed); try again") from None
        return {"flushed": True, "namespace": namespace, "tenant": tenant or "*", "generation": generation}

    def _key(self, key: str) -> str:
        if not KEY_PATTERN.fullmatch(key):
            raise NotFound("no entry has this key: keys are 64 lowercase hex characters (the X-Cache-Key header)")
        return key

    def entry(self, key: str) -> dict[str, Any]:
        now = self.services.clock()
        hit = self._locate(key, now)
        entry = hit.entry
        return {
            "key": key,
            "created": entry.created_at,
            "expires": entry.expires_at,
            "ttl_remaining": max(0, int(entry.expires_at - now)),
            "size": len(entry.body),
            "tier": hit.tier,
            "model": entry.model,
            "route": entry.route,
            "tokens": entry.tokens,
        }

    def update_ttl(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        ttl = body.get("ttl")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise BadRequest("`ttl` must be a whole number of seconds, at least 1", param="ttl")
        now = self.services.clock()
        hit = self._locate(key, now)
        entry = hit.entry.with_expiry(now + min(ttl, self.services.settings.max_ttl))
        self.services.store.put(key, entry)
        self._tell_semantic_index("reexpire", lambda index: index.reexpire(key, entry.expires_at))
        return self.entry(key)

    def _tell_semantic_index(self, operation: str, call: Callable[[Any], None]) -> None:
        """Keep the semantic index in step with the entry; its failure is counted, never the caller's."""
        if self.semantic is None:
            return
        try:
            call(self.semantic)
        except Exception as exc:
            self.services.store.report_failure(BackendFailure("semantic", operation, exc))

    def _locate(self, key: str, now: float) -> Hit:
        try:
            hit = self.services.store.locate(self._key(key), now)
        except BackendFailure as failure:
            raise ServiceUnavailable(f"the entry could not be read ({failure.tier} failed); try again") from None
        if hit is None:
            raise NotFound(f"no live entry for key {key}{_GONE}")
        return hit

    def delete(self, key: str) -> None:
        key = self._key(key)
        failure: BackendFailure | None = None
        try:
            removed = self.services.store.delete(key)
        except BackendFailure as exc:
            removed, failure = False, exc
        self._tell_semantic_index("forget", lambda index: index.forget(key))
        if failure is not None:
            raise ServiceUnavailable(f"the entry could not be deleted ({failure.tier} failed); try again")
        if not removed:
            raise NotFound(f"no live entry for key {key}{_GONE}")

    def stats(self, window_seconds: int) -> dict[str, Any]:
        """Totals over the window, a series to chart them, and (counted by this process) splits by route, model
        and exact or semantic. CloudWatch's metrics carry no such split: their dimensions never take client input
        (a model name is the client's text)."""
        if not 60 <= window_seconds <= MAX_STATS_WINDOW:
            raise BadRequest(f"`window` must be between 60 and {MAX_STATS_WINDOW} seconds (1m to 14d)", param="window")
        step = step_seconds(window_seconds)
        if self.metrics_reader is not None:
            try:
                totals, series, start = self.metrics_reader.window(STATS_METRICS, window_seconds, step)
            except BackendFailure:
                raise ServiceUnavailable("CloudWatch could not be read for stats; try again") from None
            extra: dict[str, Any] = {
                "covered_seconds": window_seconds,
                "series": {"step_seconds": step, "start": start, **_named_series(series)},
                "split": None,
                "split_note": "no split by route, model or match from CloudWatch: metric dimensions never take "
                "client input; the access log lines carry route and model (docs/api.md)",
            }
            source = "cloudwatch"
        else:
            counted = counters.window(window_seconds, STATS_METRICS)
            totals = counted["totals"]
            extra = {key: counted[key] for key in ("covered_seconds", "series", "split")}
            source = "process"
        return {
            "source": source,
            "window_seconds": window_seconds,
            **summary(totals),
            "backend_errors": int(totals[Metric.CACHE_BACKEND_ERROR]),
            "upstream_errors": int(totals[Metric.UPSTREAM_ERROR]),
            **extra,
        }


def _named_series(series: dict[str, list[float]]) -> dict[str, list[float]]:
    return {
        SERIES_NAMES[name]: [round(v, 6) for v in values] for name, values in series.items() if name in SERIES_NAMES
    }
