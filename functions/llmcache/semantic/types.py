"""Small value types and interfaces of the semantic layer (no heavy imports)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SemanticCandidate:
    """A verified near-duplicate: `key` is the exact cache key whose stored answer may be served."""

    key: str
    similarity: float
    cached_text: str
    pair_score: float | None = None  # the pair model's probability, when it was asked


@dataclass(frozen=True)
class SemanticOutcome:
    """A lookup and why it ended so: what the `X-Cache-Debug` answer may show (never a cached text)."""

    candidate: SemanticCandidate | None  # the verified hit, or None
    reason: str | None = None  # the first refusal's kind ("number differs", "below threshold", ...); None on a hit
    similarity: float | None = None  # of the nearest entry; None when the partition had none
    pair_score: float | None = None  # the pair model's probability, when it was asked


@runtime_checkable
class SemanticMatcher(Protocol):
    def lookup(self, partition: str, text: str, threshold: float, now: float) -> SemanticCandidate | None:
        """Best neighbour in that exact partition, unexpired, similarity >= threshold and verified."""
        ...

    def consult(self, partition: str, text: str, threshold: float, now: float) -> SemanticOutcome:
        """`lookup` with the reason of its answer."""
        ...

    def remember(self, partition: str, text: str, key: str, expires_at: float) -> None:
        """Index `text` as pointing at the stored answer of `key` until `expires_at` (epoch seconds)."""
        ...

    def forget(self, key: str) -> None:
        """Remove the index point(s) of an exact cache key."""
        ...

    def reexpire(self, key: str, expires_at: float) -> None:
        """Give the index point(s) of an exact cache key a new expiry (the entry's TTL was changed)."""
        ...


class Embedder(Protocol):
    """Turns texts into vectors; raises SemanticUnavailable on any failure."""

    name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@dataclass(frozen=True)
class Neighbour:
    """One point returned by the index for a query."""

    key: str
    text: str
    score: float
    expires_at: float
    vector: tuple[float, ...] = ()


class VectorIndex(Protocol):
    """Where remembered texts' vectors live (Qdrant, Valkey); raises SemanticUnavailable on any failure."""

    def upsert(
        self,
        embedder_name: str,
        partition: str,
        key: str,
        text: str,
        vector: Sequence[float],
        expires_at: float,
        now: float | None = None,
    ) -> None: ...

    def search(
        self, embedder_name: str, partition: str, vector: Sequence[float], now: float, limit: int = 8
    ) -> list[Neighbour]: ...

    def delete_key(self, key: str) -> None: ...

    def set_expiry(self, key: str, expires_at: float) -> None: ...
