"""Flush generations: O(1) flush by bumping a counter that is part of every cache key.

Two counters feed a key: one per namespace (a flush for every tenant) and one per tenant and
namespace. A container trusts its copy for `ttl` seconds (default 1 s), so a flush is at once in
the container that ran it and within that bound everywhere else, without a read on every hit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from llmcache.errors import BackendFailure
from llmcache.stores.base import GenerationStore

ALL_TENANTS = "*"


def generation_names(tenant: str, namespace: str) -> tuple[str, str]:
    return f"{ALL_TENANTS}|{namespace}", f"{tenant}|{namespace}"


class Generations:
    def __init__(
        self,
        source: GenerationStore,
        ttl: float,
        report_failure: Callable[[BackendFailure], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.ttl = ttl
        self.report_failure = report_failure
        self.clock = clock
        self._known: dict[str, tuple[int, float]] = {}  # name -> (generation, read at)
        self._unavailable_until = float("-inf")  # after a failed read: no retry before this
        self._lock = threading.Lock()

    def current(self, tenant: str, namespace: str) -> str | None:
        """The generation tag for a partition; None when it cannot be known (then neither serve nor store).

        A copy older than `ttl` is never used: if the source cannot be read then, a flush made elsewhere
        may be in force, so the answer is None (BYPASS) rather than the last value known. After a failed
        read the source is left alone for `ttl`, so an outage costs one failed read per second, not one
        per request. A container never goes back to a lower generation than it has seen, so a store that
        lost its counters (a Redis restart) cannot bring flushed entries back from this container's memory.
        """
        names = generation_names(tenant, namespace)
        now = self.clock()
        with self._lock:
            cached = [self._known.get(n) for n in names]
            if all(c is not None and now - c[1] < self.ttl for c in cached):
                return _tag(c[0] for c in cached if c is not None)
            if now < self._unavailable_until:
                return None
        try:
            values = self.source.get_generations(list(names))
        except BackendFailure as failure:
            self.report_failure(failure)
            with self._lock:
                self._unavailable_until = now + self.ttl
            return None
        with self._lock:
            for name in names:
                seen = self._known.get(name)
                self._known[name] = (max(values[name], seen[0] if seen else 0), now)
            return _tag(self._known[n][0] for n in names)

    def bump(self, namespace: str, tenant: str | None) -> int:
        """Flush a namespace for one tenant, or for all. Raises BackendFailure: a flush must not fail silently."""
        name = f"{tenant or ALL_TENANTS}|{namespace}"
        value = self.source.bump_generation(name)
        with self._lock:
            seen = self._known.get(name)
            value = max(value, seen[0] + 1 if seen else 0)  # a store that lost its counter restarts low
            self._known[name] = (value, self.clock())
        return value


def _tag(values: object) -> str:
    return ".".join(str(v) for v in values)  # type: ignore[attr-defined]
