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
from typing import Protocol

from llmcache.errors import BackendFailure
from llmcache.stores.base import Hit


class LeaseStore(Protocol):
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
    ) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.report_failure = report_failure

    def acquire(self, key: str) -> str | None:
        """A token when this container should call upstream; None when another container is on it."""
        token = uuid.uuid4().hex
        try:
            return token if self.store.acquire(key, token, self.lease_seconds) else None
        except BackendFailure as failure:
            self.report_failure(failure)
            return token  # cannot coordinate: behave as if alone

    def release(self, key: str, token: str) -> None:
        try:
            self.store.release(key, token)
        except BackendFailure as failure:
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
                if not self.store.held(key):
                    return lookup()  # the leader finished: its answer, or none (then call ourselves)
            except BackendFailure as failure:
                self.report_failure(failure)
                return None
        return None
