"""Single flight: concurrent identical misses in one container make one upstream call.

The first caller (the leader) runs the call; the others wait, bounded, and share its outcome.
A follower that waits too long stops waiting and makes its own call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Flight(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._flights: dict[str, _Flight[T]] = {}
        self._lock = threading.Lock()

    def run(
        self, key: str, call: Callable[[], T], wait_seconds: float, shareable: Callable[[T], bool] = lambda _: True
    ) -> tuple[T, bool]:
        """Returns (outcome, shared): shared is True when another caller's call produced it.

        A follower takes the leader's outcome only when it is `shareable`; after a failed leader (an
        exception, or an outcome such as a provider error meant for the leader's caller alone) it makes its
        own call, as a waiter in another container does."""
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if leader:
            try:
                flight.result = call()
                return flight.result, False
            except BaseException as exc:
                flight.error = exc
                raise
            finally:
                with self._lock:
                    self._flights.pop(key, None)
                flight.done.set()
        if not flight.done.wait(wait_seconds) or flight.error is not None or flight.result is None:
            return call(), False
        if not shareable(flight.result):
            return call(), False
        return flight.result, True
