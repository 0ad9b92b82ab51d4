"""Across containers, a herd on a cold key costs one provider call.

The in-container leader takes a short lease in the shared tier (Redis SET NX, or a DynamoDB
conditional write). A container that finds the lease taken polls the cache for the leader's
answer; when the lease ends without one (the leader failed or crashed), or the wait runs out,
it makes its own call. Lease trouble is a backend fault like any other: counted, then ignored.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from llmcache.errors import BackendFailure
from llmcache.stores.base import Hit
from llmcache.stores.breaker import CircuitBreaker

T = TypeVar("T")


class _BreakerOpen(BackendFailure):
    """The lease tier is being skipped after repeated failures: not a new fault, so not counted again."""


class LeaseStore(Protocol):
    name: str

    def acquire(self, key: str, token: str, seconds: float) -> bool: ...

    def held(self, key: str) -> bool: ...

    def release(self, key: str, token: str) -> None: ...


class Leases:
    def __init__(
        self,
        store: LeaseStore,
        *,
        lease_seconds: float,
        poll_seconds: float,
        report_failure: Callable[[BackendFailure], None],
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.report_failure = report_failure
        self.breaker = breaker  # the lease tier's breaker: while it is open, no lease call waits on it

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """A lease store call through the tier's breaker; BackendFailure when skipped or failed."""
        if self.breaker is not None and not self.breaker.allows():
            raise _BreakerOpen(self.store.name, "lease", "skipped: the tier's circuit breaker is open")
        try:
            result = fn(*args)
        except BackendFailure:
            if self.breaker is not None:
                self.breaker.record_failure()
            raise
        if self.breaker is not None:
            self.breaker.record_success()
        return result

    def acquire(self, key: str) -> str | None:
        """A token when this container should call upstream; None when another container is on it."""
        token = uuid.uuid4().hex
        try:
            return token if self._call(self.store.acquire, key, token, self.lease_seconds) else None
        except BackendFailure as failure:
            self._report(failure)
            return token  # cannot coordinate: behave as if alone

    def release(self, key: str, token: str) -> None:
        try:
            self._call(self.store.release, key, token)
        except BackendFailure as failure:
            self._report(failure)  # the lease expires on its own

    def _report(self, failure: BackendFailure) -> None:
        if not isinstance(failure, _BreakerOpen):
            self.report_failure(failure)

    def wait_for(self, key: str, lookup: Callable[[], Hit | None], until: float | None = None) -> Hit | None:
        """Poll for the leader's answer while its lease lasts, and no later than `until` (the request's own
        deadline, time.monotonic()), so a waiter still has time to make its own call."""
        deadline = time.monotonic() + self.lease_seconds
        if until is not None:
            deadline = min(deadline, until)
        while time.monotonic() < deadline:
            time.sleep(self.poll_seconds)
            hit = lookup()
            if hit is not None:
                return hit
            try:
                if not self._call(self.store.held, key):
                    return lookup()  # the leader finished: its answer, or none (then call ourselves)
            except BackendFailure as failure:
                self._report(failure)
                return None
        return None
