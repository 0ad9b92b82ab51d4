"""Flush generations: O(1) flush by bumping a counter that is part of every cache key.

Two counters feed a key: one per namespace (a flush for every tenant) and one per tenant and
namespace. A container trusts its copy for `ttl` seconds (default 1 s), so a flush is at once in
the container that ran it and within a stated bound everywhere else, without a read on every hit.

At fleet scale (docs/scale.md) every container reads the namespace's counter once per `ttl`: 50,000
containers would read one item 50,000 times a second, far past one DynamoDB partition (3,000 read units).
So a flush writes the counter to `copies` items (the primary, under the counter's own name, and
`copies - 1` copies beside it), and each refresh reads one of them at random (eventually consistent), which
spreads the reads over `copies` partitions. A container's first read of a counter goes to the primary, the
one item a flush always writes first, so a copy that a flush never reached cannot lower what it believes.

When a refresh fails (throttled, timed out), the last value read is kept for `stale` seconds more
(counted and logged as a backend fault); only past that, or when nothing was ever read, is the
answer None (neither serve nor store: BYPASS). So a flush takes effect in every container within
`ttl + stale` seconds, plus the table's replication lag for eventually consistent reads (typically
under a second), and within `ttl` plus that lag while reads succeed.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from llmcache.errors import BackendFailure
from llmcache.stores.base import GenerationStore

ALL_TENANTS = "*"
# Counters a container remembers (least recently used dropped first): ~200 bytes each, so ~2 MB.
# A dropped counter is read again from the primary on its next use, which is always safe.
MAX_KNOWN_GENERATIONS = 10_000
COPY_SEPARATOR = "#"  # never in a namespace (policy.NAMESPACE_PATTERN) nor in a tenant scope


def generation_names(tenant: str, namespace: str) -> tuple[str, str]:
    return f"{ALL_TENANTS}|{namespace}", f"{tenant}|{namespace}"


def copy_name(name: str, copy: int) -> str:
    """Copy 0 is the primary: the counter's own item, as before copies existed."""
    return name if copy == 0 else f"{name}{COPY_SEPARATOR}{copy}"


class Generations:
    def __init__(
        self,
        source: GenerationStore,
        ttl: float,
        report_failure: Callable[[BackendFailure], None],
        clock: Callable[[], float] = time.monotonic,
        *,
        copies: int = 1,
        stale: float = 0.0,
        max_known: int = MAX_KNOWN_GENERATIONS,
        pick: Callable[[int], int] = random.randrange,
    ) -> None:
        self.source = source
        self.ttl = ttl
        self.report_failure = report_failure
        self.clock = clock
        self.copies = max(1, copies)
        self.stale = stale
        self.max_known = max_known
        self.pick = pick  # which copy a refresh reads: random.randrange(copies); injectable for tests
        self._known: OrderedDict[str, tuple[int, float]] = OrderedDict()  # name -> (generation, read at)
        self._unavailable_until = float("-inf")  # after a failed read: no retry before this
        self._lock = threading.Lock()

    def current(self, tenant: str, namespace: str) -> str | None:
        """The generation tag for a partition; None when it cannot be known (then neither serve nor store).

        A copy younger than `ttl` is used as is. Older, it is read again; if that read fails, a copy
        younger than `ttl + stale` is still used (the fault is reported), older or never read is None.
        After a failed read the source is left alone for `ttl`, so an outage or a throttled item costs
        one read per container per `ttl`, not one per request. A container never goes back to a lower
        generation than it has seen, so a store that lost its counters (a Redis restart) or a copy that
        lags cannot bring flushed entries back from this container's memory.
        """
        names = generation_names(tenant, namespace)
        now = self.clock()
        with self._lock:
            cached = [self._remembered(n) for n in names]
            if all(c is not None and now - c[1] < self.ttl for c in cached):
                return _tag(c[0] for c in cached if c is not None)
            if now < self._unavailable_until:
                return self._stale_tag(cached, now)
            read = {copy_name(n, self._copy_to_read(c)): n for n, c in zip(names, cached, strict=True)}
        try:
            values = self.source.get_generations(list(read))
        except BackendFailure as failure:
            self.report_failure(failure)
            with self._lock:
                self._unavailable_until = now + self.ttl
                return self._stale_tag(cached, now)
        with self._lock:
            for item, name in read.items():
                self._remember(name, values[item], now)
            return _tag(self._known[n][0] for n in names)

    def bump(self, namespace: str, tenant: str | None) -> int:
        """Flush a namespace for one tenant, or for all. Raises BackendFailure: a flush must not fail silently.

        The primary is counted up first (its value is the flush's generation), then every copy is raised
        to it; a copy is never lowered, so concurrent flushes leave every copy at the highest generation.
        """
        name = f"{tenant or ALL_TENANTS}|{namespace}"
        value = self.source.bump_generation(name)
        with self._lock:
            seen = self._remembered(name)
            value = max(value, seen[0] + 1 if seen else 0)  # a store that lost its counter restarts low
            self._remember(name, value, self.clock())
        for copy in range(1, self.copies):
            self.source.raise_generation(copy_name(name, copy), value)
        return value

    def _copy_to_read(self, cached: tuple[int, float] | None) -> int:
        return 0 if cached is None or self.copies == 1 else self.pick(self.copies)

    def _stale_tag(self, cached: list[tuple[int, float] | None], now: float) -> str | None:
        if all(c is not None and now - c[1] < self.ttl + self.stale for c in cached):
            return _tag(c[0] for c in cached if c is not None)
        return None

    def _remembered(self, name: str) -> tuple[int, float] | None:
        seen = self._known.get(name)
        if seen is not None:
            self._known.move_to_end(name)
        return seen

    def _remember(self, name: str, value: int, now: float) -> None:
        seen = self._known.get(name)
        self._known[name] = (max(value, seen[0] if seen else 0), now)
        self._known.move_to_end(name)
        while len(self._known) > self.max_known:
            self._known.popitem(last=False)


def _tag(values: object) -> str:
    return ".".join(str(v) for v in values)  # type: ignore[attr-defined]
