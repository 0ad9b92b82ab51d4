"""A small circuit breaker: after repeated failures a tier is skipped for a cool-down."""

from __future__ import annotations

import threading
import time


class CircuitBreaker:
    def __init__(self, failures_to_open: int = 3, cooldown_seconds: float = 5.0) -> None:
        self.failures_to_open = failures_to_open
        self.cooldown_seconds = cooldown_seconds
        self._failures = 0
        self._open_until = 0.0
        self._lock = threading.Lock()

    def allows(self) -> bool:
        """Closed, or open but cooled down (half-open: one call may probe)."""
        with self._lock:
            if self._open_until == 0.0:
                return True
            if time.monotonic() >= self._open_until:
                self._open_until = time.monotonic() + self.cooldown_seconds  # one probe per cool-down
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._open_until = 0.0

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.failures_to_open:
                self._open_until = time.monotonic() + self.cooldown_seconds
