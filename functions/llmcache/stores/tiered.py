"""Tiers read fastest first; a hit below refills the tiers above; writes and deletes reach all.

A failing tier never fails a request: its error is reported (counted as CacheBackendError) and
the next tier, or the upstream, answers. A tier that keeps failing is skipped for a cool-down.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from llmcache.errors import BackendFailure
from llmcache.stores.base import CacheEntry, CacheStore, Hit
from llmcache.stores.breaker import CircuitBreaker

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

FailureReporter = Callable[[BackendFailure], None]


class TieredStore:
    def __init__(self, tiers: Sequence[CacheStore], report_failure: FailureReporter) -> None:
        self.tiers = list(tiers)
        self.report_failure = report_failure
        self.breakers = {t.name: CircuitBreaker() for t in self.tiers if t.name != "memory"}
        self._backfill_pool: ThreadPoolExecutor | None = None

    def _attempt(self, tier: CacheStore, operation: str, fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        breaker = self.breakers.get(tier.name)
        if breaker is not None and not breaker.allows():
            return False, None
        try:
            result = fn(*args)
        except BackendFailure as failure:
            self._failed(breaker, failure)
            return False, None
        except Exception as exc:  # a bug or an unexpected client error: still never the client's problem
            self._failed(breaker, BackendFailure(tier.name, operation, exc))
            return False, None
        if breaker is not None:
            breaker.record_success()
        return True, result

    def _failed(self, breaker: CircuitBreaker | None, failure: BackendFailure) -> None:
        if breaker is not None:
            breaker.record_failure()
        self.report_failure(failure)

    def get(self, key: str, now: float) -> Hit | None:
        """The entry from the fastest tier that has it, decompressed: bytes that do not decode
        (corruption) are that tier's failure, and the next tier answers."""
        for index, tier in enumerate(self.tiers):
            ok, hit = self._attempt(tier, "get", _get_decoded, tier, key, now)
            if ok and hit is not None:
                if index:  # found below the top tier: refill the ones above
                    self._backfill(self.tiers[:index], key, hit.entry)
                return hit
        return None

    def get_local(self, key: str, now: float) -> Hit | None:
        """The in-process memory tier alone (None when there is none): no network round trip."""
        if not self.tiers or self.tiers[0].name != "memory":
            return None
        return _get_decoded(self.tiers[0], key, now)

    def get_many(self, keys: list[str], now: float) -> dict[str, Hit]:
        """Several keys at once (embedding batches): one round trip per tier for what is still missing."""
        found: dict[str, Hit] = {}
        for index, tier in enumerate(self.tiers):
            missing = [k for k in keys if k not in found]
            if not missing:
                break
            ok, hits = self._attempt(tier, "get", _get_many_decoded, tier, missing, now)
            if not ok:
                continue
            for key, hit in hits.items():
                found[key] = hit
                self._backfill(self.tiers[:index], key, hit.entry)
        return found

    def locate(self, key: str, now: float) -> Hit | None:
        """Like get, without refilling: for the admin API. Unlike a lookup, "not found" must be true:
        when no tier has the entry and one of them failed, BackendFailure is raised, not None returned."""
        failed: list[str] = []
        for tier in self.tiers:
            ok, hit = self._attempt(tier, "get", tier.get, key, now)
            if ok and hit is not None:
                return hit
            if not ok:
                failed.append(tier.name)
        if failed:
            raise BackendFailure(",".join(failed), "get", "the entry could not be read")
        return None

    def put(self, key: str, entry: CacheEntry) -> None:
        for tier in self.tiers:
            self._attempt(tier, "put", tier.put, key, entry)

    def put_many(self, items: list[tuple[str, CacheEntry]]) -> None:
        """Several entries at once (embedding batches): one batched write per tier that has one."""
        for tier in self.tiers:
            self._attempt(tier, "put", _put_many, tier, items)

    def delete(self, key: str) -> bool:
        """Deletes from every tier; True when one had it. BackendFailure when a tier failed: the entry may
        still be there, so neither "deleted" nor "absent" would be true."""
        removed, failed = False, []
        for tier in self.tiers:
            ok, found = self._attempt(tier, "delete", tier.delete, key)
            removed = removed or (ok and bool(found))
            if not ok:
                failed.append(tier.name)
        if failed:
            raise BackendFailure(",".join(failed), "delete", "the entry could not be deleted")
        return removed

    def _backfill(self, upper: list[CacheStore], key: str, entry: CacheEntry) -> None:
        """Memory is refilled inline (it costs nothing); network tiers in the background."""
        for tier in upper:
            if tier.name == "memory":
                self._attempt(tier, "backfill", tier.put, key, entry)
            else:
                if self._backfill_pool is None:
                    from concurrent.futures import ThreadPoolExecutor  # only once a network tier backfills

                    self._backfill_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="backfill")
                self._backfill_pool.submit(self._attempt, tier, "backfill", tier.put, key, entry)


def _decoded(hit: Hit) -> Hit:
    try:
        return Hit(hit.entry, hit.tier, hit.entry.raw_body())
    except zlib.error as exc:
        raise BackendFailure(hit.tier, "decode", exc) from exc


def _get_decoded(tier: CacheStore, key: str, now: float) -> Hit | None:
    hit = tier.get(key, now)
    return None if hit is None else _decoded(hit)


def _get_many_decoded(tier: CacheStore, keys: list[str], now: float) -> dict[str, Hit]:
    batch = getattr(tier, "get_many", None)
    if batch is not None:
        hits: dict[str, Hit] = batch(keys, now)
    else:
        hits = {k: h for k in keys if (h := tier.get(k, now)) is not None}
    return {key: _decoded(hit) for key, hit in hits.items()}


def _put_many(tier: CacheStore, items: list[tuple[str, CacheEntry]]) -> None:
    batch = getattr(tier, "put_many", None)
    if batch is not None:
        batch(items)
    else:
        for key, entry in items:
            tier.put(key, entry)
