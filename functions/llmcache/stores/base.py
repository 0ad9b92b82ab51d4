"""The entry every tier stores, and the interface every tier implements."""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, replace
from typing import Protocol

from llmcache.errors import BackendFailure
from llmcache.savings import TokenCounts

_HEADER = struct.Struct(">I")  # length of the metadata JSON that precedes the compressed body


@dataclass(frozen=True)
class CacheEntry:
    """One stored answer: the compressed bytes exactly as they are sent back, plus metadata."""

    body: bytes  # zlib-compressed response body
    created_at: float
    expires_at: float
    route: str
    model: str
    tokens: int = 0  # usage.total_tokens of the answer: what a hit saves
    content_type: str = "application/json"
    # The same usage split as it is billed, for the dollars a hit saves (0 in entries stored before).
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0

    @classmethod
    def from_answer(
        cls,
        raw_body: bytes,
        *,
        created_at: float,
        ttl: int,
        route: str,
        model: str,
        tokens: int = 0,
        usage: TokenCounts | None = None,
    ) -> CacheEntry:
        """`usage` (from the dialect's `usage`) also prices the hits; `tokens` alone counts them only."""
        usage = usage if usage is not None else TokenCounts(total=tokens)
        return cls(
            body=zlib.compress(raw_body, 6),
            created_at=created_at,
            expires_at=created_at + ttl,
            route=route,
            model=model,
            tokens=usage.total,
            input_tokens=usage.input,
            cached_input_tokens=usage.cached_input,
            output_tokens=usage.output,
        )

    def is_fresh(self, now: float) -> bool:
        return now < self.expires_at

    def age(self, now: float) -> int:
        """Whole seconds, for the Age header."""
        return max(0, int(now - self.created_at))

    def younger_than(self, seconds: float, now: float) -> bool:
        """The contract's max-age test: strictly younger, unrounded (max-age=0 accepts nothing)."""
        return now - self.created_at < seconds

    def raw_body(self) -> bytes:
        return zlib.decompress(self.body)

    def with_expiry(self, expires_at: float) -> CacheEntry:
        return replace(self, expires_at=expires_at)

    def metadata(self) -> dict[str, object]:
        return {
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "route": self.route,
            "model": self.model,
            "tokens": self.tokens,
            "content_type": self.content_type,
        }

    # One self-describing byte string, for tiers that hold opaque values (memory size, Redis).
    def pack(self) -> bytes:
        meta = self.metadata()
        meta.update({name: count for name, count in self.billed_tokens().items() if count})  # absent = 0
        packed = json.dumps(meta, separators=(",", ":")).encode()
        return _HEADER.pack(len(packed)) + packed + self.body

    def billed_tokens(self) -> dict[str, int]:
        """The usage split kept for the dollars a hit saves (all 0 for entries stored without it)."""
        return {
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
        }

    @classmethod
    def unpack(cls, data: bytes, tier: str) -> CacheEntry:
        try:
            (length,) = _HEADER.unpack_from(data)
            meta = json.loads(data[_HEADER.size : _HEADER.size + length])
            return cls(
                body=data[_HEADER.size + length :],
                created_at=float(meta["created_at"]),
                expires_at=float(meta["expires_at"]),
                route=str(meta["route"]),
                model=str(meta["model"]),
                tokens=int(meta.get("tokens", 0)),
                content_type=str(meta.get("content_type", "application/json")),
                input_tokens=int(meta.get("input_tokens", 0)),
                cached_input_tokens=int(meta.get("cached_input_tokens", 0)),
                output_tokens=int(meta.get("output_tokens", 0)),
            )
        except (struct.error, ValueError, KeyError, TypeError) as exc:
            raise BackendFailure(tier, "decode", exc) from exc


@dataclass(frozen=True)
class Hit:
    entry: CacheEntry
    tier: str  # memory | redis | dynamodb | s3
    raw: bytes = b""  # the decompressed body, filled in once by the tiered store


class CacheStore(Protocol):
    """A tier. `get` never returns an expired entry. Failures raise BackendFailure."""

    name: str

    def get(self, key: str, now: float) -> Hit | None: ...

    def put(self, key: str, entry: CacheEntry) -> None: ...

    def delete(self, key: str) -> bool: ...


class GenerationStore(Protocol):
    """Flush generations: a counter per partition, read with the cache key, bumped by a flush."""

    def get_generations(self, names: list[str]) -> dict[str, int]: ...

    def bump_generation(self, name: str) -> int: ...

    def raise_generation(self, name: str, value: int) -> None:
        """Set the counter to `value` unless it is already at or above it (a flush's copies)."""
        ...
