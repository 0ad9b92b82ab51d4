"""Streams cannot pin the gateway: a cap on each tenant's concurrent streams (the live door's own guards, threads
of their own and a write timeout, are in `live_guards.py`).

A stream holds a provider connection and a worker thread for as long as it runs, and a client that stops reading
would hold them for ever. Under `make run` (and any server that runs many requests in one process) one tenant's
streams could then take every thread, and `/health` and cache hits would wait behind them. So:
- each tenant may hold at most `MAX_STREAMS_PER_TENANT` streams at once in a process (a streamed cached request, or
  any passed-on one, whose answer is relayed as it arrives); the next one is a 429 in its API's envelope, before the
  provider is asked;
- the live door runs streams on threads of their own and bounds each write (`live_guards.py`).
On Lambda each execution environment serves one request at a time, so there the cap never binds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmcache.errors import TooManyRequests
from llmcache.exchange import GatewayResponse

if TYPE_CHECKING:
    from llmcache.settings import Settings


class TenantStreams:
    """How many streams each tenant holds now, capped at `limit` (0: no cap)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, tenant: str) -> Callable[[], None]:
        """A slot for one more stream of `tenant` (TooManyRequests when it holds `limit`); call the result once the
        stream is over."""
        with self._lock:
            held = self._held.get(tenant, 0)
            if self.limit and held >= self.limit:
                raise TooManyRequests(
                    f"this credential already holds {held} streams open through this gateway, its limit "
                    "(MAX_STREAMS_PER_TENANT); finish or close one and try again",
                    code="too_many_streams",
                )
            self._held[tenant] = held + 1
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self._lock:
                left = self._held.get(tenant, 1) - 1
                if left > 0:
                    self._held[tenant] = left
                else:
                    self._held.pop(tenant, None)

        return release

    def held(self, tenant: str) -> int:
        with self._lock:
            return self._held.get(tenant, 0)


_built: tuple[int, TenantStreams] | None = None


def tenant_streams(settings: Settings) -> TenantStreams:
    """The process's count of streams per tenant (one for the process: a new limit starts a new count)."""
    global _built
    if _built is None or _built[0] != settings.max_streams_per_tenant:
        _built = (settings.max_streams_per_tenant, TenantStreams(settings.max_streams_per_tenant))
    return _built[1]


def held_while_streaming(streams: TenantStreams, tenant: str, call: Callable[[], GatewayResponse]) -> GatewayResponse:
    """`call()`'s answer, with one of the tenant's stream slots held until its body is over (released at once when
    the answer came whole)."""
    release = streams.enter(tenant)
    try:
        result = call()
    except BaseException:
        release()
        raise
    if result.stream is None:
        release()
    else:
        result.stream.on_close(release)
    return result
