"""Bounded in-process tier: LRU by bytes, expiry honoured on every read."""

from __future__ import annotations

import threading
from collections import OrderedDict

from llmcache.stores.base import CacheEntry, Hit


class MemoryStore:
    name = "memory"

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._generations: dict[str, int] = {}

    @staticmethod
    def _cost(key: str, entry: CacheEntry) -> int:
        """What the entry holds: every variable-size field (the model name is the client's own string), plus
        the entry object, its fixed strings and the LRU slot (measured ~430 bytes)."""
        return len(key) + len(entry.body) + len(entry.model) + len(entry.route) + len(entry.content_type) + 450

    @property
    def used_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: float) -> Hit | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if not entry.is_fresh(now):
                self._remove(key)
                return None
            self._entries.move_to_end(key)
            return Hit(entry, self.name)

    def put(self, key: str, entry: CacheEntry) -> None:
        cost = self._cost(key, entry)
        if cost > self.max_bytes:
            return  # larger than the whole tier: the lower tiers hold it
        with self._lock:
            self._remove(key)
            self._entries[key] = entry
            self._bytes += cost
            while self._bytes > self.max_bytes:
                oldest = next(iter(self._entries))
                self._remove(oldest)

    def put_many(self, items: list[tuple[str, CacheEntry]]) -> None:
        for key, entry in items:
            self.put(key, entry)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._remove(key)

    def _remove(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._bytes -= self._cost(key, entry)
        return True

    # Generations, for a deployment whose only tier is memory.
    def get_generations(self, names: list[str]) -> dict[str, int]:
        return {n: self._generations.get(n, 0) for n in names}

    def bump_generation(self, name: str) -> int:
        with self._lock:
            self._generations[name] = self._generations.get(name, 0) + 1
            return self._generations[name]

    def raise_generation(self, name: str, value: int) -> None:
        with self._lock:
            self._generations[name] = max(value, self._generations.get(name, 0))
