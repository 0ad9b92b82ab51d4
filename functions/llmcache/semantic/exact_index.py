"""The in-process vector index: an exact cosine search in numpy, one matrix per partition.

What `make run` and a single container use when no index server is configured (SEMANTIC_INDEX=qdrant
with neither QDRANT_URL nor QDRANT_PATH). Embedded Qdrant did the same exhaustive search, but in Python
objects (payload copies, pydantic models): ~7 ms for 2,000 points, more than the embedding. Here a
partition is a matrix of unit vectors; a search is one matrix-vector product (2,000 x 384 floats: ~0.2 ms),
the expired rows masked out, and `argpartition` for the top k. Exact, so no recall lost to an
approximate graph; at the sizes one container holds (<= 100k entries) cheaper than building one.

Same contract as the other indexes: a search sees only its own partition and never an expired entry;
re-remembering a key replaces its row; delete and re-expiry reach every partition holding a key. At most
`max_partitions` partitions are kept, the least recently used dropped first (their entries are then
matched exactly only, as before they were indexed).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from llmcache.semantic.errors import SemanticUnavailable
from llmcache.semantic.types import Neighbour

SWEEP_EVERY = 500  # writes between two removals of expired rows
MAX_PARTITIONS = 4096  # partitions kept per container, least recently used dropped first


class _Partition:
    """The rows of one (embedder, dimension, partition): unit vectors, keys, texts, expiries."""

    def __init__(self, dim: int) -> None:
        import numpy as np

        self.vectors = np.zeros((8, dim), dtype=np.float32)  # grown by doubling; rows [0, size) are live
        self.expires = np.zeros(8, dtype=np.float64)
        self.keys: list[str] = []
        self.texts: list[str] = []
        self.rows: dict[str, int] = {}

    @property
    def size(self) -> int:
        return len(self.keys)

    def put(self, key: str, text: str, unit: Any, expires_at: float) -> None:
        import numpy as np

        row = self.rows.get(key)
        if row is None:
            row = self.size
            if row == len(self.vectors):
                self.vectors = np.concatenate([self.vectors, np.zeros_like(self.vectors)])
                self.expires = np.concatenate([self.expires, np.zeros_like(self.expires)])
            self.keys.append(key)
            self.texts.append(text)
            self.rows[key] = row
        self.vectors[row] = unit
        self.expires[row] = expires_at
        self.texts[row] = text

    def remove(self, key: str) -> None:
        """Move the last row into the removed one's place (order does not matter to a search)."""
        row = self.rows.pop(key, None)
        if row is None:
            return
        last = self.size - 1
        if row != last:
            moved = self.keys[last]
            self.vectors[row] = self.vectors[last]
            self.expires[row] = self.expires[last]
            self.keys[row], self.texts[row] = moved, self.texts[last]
            self.rows[moved] = row
        self.keys.pop()
        self.texts.pop()

    def expired(self, now: float) -> list[str]:
        return [self.keys[i] for i in range(self.size) if self.expires[i] <= now]


class ExactIndex:
    """Exact nearest neighbours per partition, in memory; every failure is raised as SemanticUnavailable."""

    def __init__(self, max_partitions: int = MAX_PARTITIONS) -> None:
        self.max_partitions = max_partitions
        self._partitions: OrderedDict[tuple[str, int, str], _Partition] = OrderedDict()  # least recent first
        self._by_key: dict[str, set[tuple[str, int, str]]] = {}
        self._lock = threading.RLock()
        self._writes = 0

    def upsert(
        self,
        embedder_name: str,
        partition: str,
        key: str,
        text: str,
        vector: Sequence[float],
        expires_at: float,
        now: float | None = None,
    ) -> None:
        try:
            import numpy as np

            unit = np.asarray(vector, dtype=np.float32)
            norm = float(np.linalg.norm(unit))
            if unit.ndim != 1 or not unit.size or not np.isfinite(norm) or norm == 0.0:
                raise ValueError("a vector must be non-empty, finite and not zero")
            name = (embedder_name, unit.size, partition)
            with self._lock:
                rows = self._partitions.get(name)
                if rows is None:
                    rows = self._partitions[name] = _Partition(unit.size)
                    self._drop_least_recent()
                self._partitions.move_to_end(name)
                rows.put(key, text, unit / norm, float(expires_at))
                self._by_key.setdefault(key, set()).add(name)
                self._writes += 1
                if now is not None and self._writes % SWEEP_EVERY == 0:
                    self._sweep(name, rows, now)
        except Exception as exc:
            raise SemanticUnavailable(f"the in-process index refused a write: {exc}") from exc

    def search(
        self, embedder_name: str, partition: str, vector: Sequence[float], now: float, limit: int = 8
    ) -> list[Neighbour]:
        """Nearest unexpired rows of that partition, best first, with their (unit) vectors."""
        try:
            import numpy as np

            query = np.asarray(vector, dtype=np.float32)
            norm = float(np.linalg.norm(query))
            with self._lock:
                rows = self._partitions.get((embedder_name, query.size, partition))
                if rows is None or not rows.size or norm == 0.0 or limit <= 0:
                    return []
                self._partitions.move_to_end((embedder_name, query.size, partition))
                n = rows.size
                # einsum, not `@`: BLAS would hand 2,000 rows to its worker threads, which then spin on the
                # other cores (twice this process's CPU on 2 vCPUs); einsum's loop is one thread, ~0.2 ms here
                scores = np.einsum("ij,j->i", rows.vectors[:n], query / norm)
                scores[rows.expires[:n] <= now] = -np.inf  # never an expired entry
                k = min(limit, n)
                top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
                top = top[np.argsort(-scores[top], kind="stable")]
                return [
                    Neighbour(
                        key=rows.keys[i],
                        text=rows.texts[i],
                        score=float(scores[i]),
                        expires_at=float(rows.expires[i]),
                        vector=tuple(rows.vectors[i].tolist()),
                    )
                    for i in top.tolist()
                    if np.isfinite(scores[i])
                ]
        except Exception as exc:
            raise SemanticUnavailable(f"the in-process index failed a search: {exc}") from exc

    def delete_key(self, key: str) -> None:
        """Remove that exact cache key's row from every partition holding it."""
        with self._lock:
            for name in self._by_key.pop(key, set()):
                rows = self._partitions.get(name)
                if rows is not None:
                    rows.remove(key)

    def set_expiry(self, key: str, expires_at: float) -> None:
        """New expiry for that exact cache key's rows (its entry's TTL was changed)."""
        with self._lock:
            for name in self._by_key.get(key, set()):
                rows = self._partitions.get(name)
                row = rows.rows.get(key) if rows is not None else None
                if rows is not None and row is not None:
                    rows.expires[row] = float(expires_at)

    def sweep_expired(self, now: float) -> None:
        with self._lock:
            for name, rows in list(self._partitions.items()):
                self._sweep(name, rows, now)

    def _sweep(self, name: tuple[str, int, str], rows: _Partition, now: float) -> None:
        for key in rows.expired(now):
            rows.remove(key)
            self._forget_key(key, name)

    def _forget_key(self, key: str, name: tuple[str, int, str]) -> None:
        names = self._by_key.get(key)
        if names is not None:
            names.discard(name)
            if not names:
                del self._by_key[key]

    def _drop_least_recent(self) -> None:
        while len(self._partitions) > self.max_partitions:
            name, rows = self._partitions.popitem(last=False)
            for key in rows.keys:
                self._forget_key(key, name)
