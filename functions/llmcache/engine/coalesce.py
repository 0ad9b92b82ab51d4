"""Single flight: concurrent identical misses in one container make one upstream call.

The first caller (the leader) runs the call; the others wait, bounded, and share its outcome.
A follower that waits too long stops waiting and makes its own call. `run` does all of it for an answer
known at once; `join`, `share`, `wait` and `land` let a leader share an answer that streams in, and keep its
flight open until it has.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class Flight(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None
    # A leader whose answer streams in shares it before it is done (`share`); set on landing too.
    started: threading.Event = field(default_factory=threading.Event)
    shared: Any = None


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._flights: dict[str, Flight[T]] = {}
        self._lock = threading.Lock()

    def join(self, key: str) -> tuple[Flight[T], bool]:
        """The flight for `key` and whether this caller leads it (a leader must `land` it, whatever happens)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = Flight()
            return flight, True

    def land(self, key: str, flight: Flight[T], result: T | None = None, error: BaseException | None = None) -> None:
        flight.result, flight.error = result, error
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.done.set()
        flight.started.set()

    @staticmethod
    def share(flight: Flight[T], shared: Any) -> None:
        """What followers may take while the leader's answer is still coming in."""
        flight.shared = shared
        flight.started.set()

    @staticmethod
    def wait(flight: Flight[T], seconds: float) -> bool:
        """True when the leader landed in time without an error."""
        return flight.done.wait(seconds) and flight.error is None

    def run(
        self, key: str, call: Callable[[], T], wait_seconds: float, shareable: Callable[[T], bool] = lambda _: True
    ) -> tuple[T, bool]:
        """Returns (outcome, shared): shared is True when another caller's call produced it.

        A follower takes the leader's outcome only when it is `shareable`; after a failed leader (an
        exception, or an outcome such as a provider error meant for the leader's caller alone) it makes its
        own call, as a waiter in another container does."""
        flight, leader = self.join(key)
        if leader:
            try:
                result = call()
            except BaseException as exc:
                self.land(key, flight, error=exc)
                raise
            self.land(key, flight, result=result)
            return result, False
        if not self.wait(flight, wait_seconds) or flight.result is None or not shareable(flight.result):
            return call(), False
        return flight.result, True
