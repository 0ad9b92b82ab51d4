"""Redis / ElastiCache Valkey tier: one round trip per lookup, native expiry, tight timeouts.

Timeouts are tens of milliseconds: a dead or slow Redis must cost the hit path almost nothing
(the tiered store's circuit breaker then skips it for a while).
"""

from __future__ import annotations

import math
from typing import Any

from llmcache.errors import BackendFailure
from llmcache.stores.base import CacheEntry, Hit

ENTRY_PREFIX = "llmcache:e:"
GENERATION_PREFIX = "llmcache:g:"
# Never lowers a counter, so concurrent flushes leave a copy at the highest generation.
_RAISE_SCRIPT = (
    "if tonumber(redis.call('get', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('set', KEYS[1], ARGV[1]) end"
)


class RedisStore:
    name = "redis"

    def __init__(self, url: str, *, timeout: float = 0.05, client: Any = None) -> None:
        if client is None:
            import redis

            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                retry_on_timeout=False,
                retry=None,
                health_check_interval=0,
                max_connections=64,
            )
        self.client = client

    def _call(self, operation: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # redis-py raises ConnectionError, TimeoutError, ResponseError, ...
            raise BackendFailure(self.name, operation, exc) from exc

    def get(self, key: str, now: float) -> Hit | None:
        data = self._call("get", self.client.get, ENTRY_PREFIX + key)
        if data is None:
            return None
        entry = CacheEntry.unpack(data, self.name)
        return Hit(entry, self.name) if entry.is_fresh(now) else None

    def _get_each(self, operation: str, keys: list[str]) -> list[Any]:
        """Every key's value in one round trip, one single-key GET each. Not MGET: ElastiCache Serverless
        (the hot tier the CDK deploys) runs in cluster mode, which refuses a multi-key command whose keys
        lie in different hash slots (CROSSSLOT); a pipeline of GETs works there and on a plain server."""
        if len(keys) == 1:
            return [self._call(operation, self.client.get, keys[0])]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
        return list(self._call(operation, pipe.execute))

    def get_many(self, keys: list[str], now: float) -> dict[str, Hit]:
        values = self._get_each("get", [ENTRY_PREFIX + k for k in keys])
        found: dict[str, Hit] = {}
        for key, data in zip(keys, values, strict=True):
            if data is not None:
                entry = CacheEntry.unpack(data, self.name)
                if entry.is_fresh(now):
                    found[key] = Hit(entry, self.name)
        return found

    def put(self, key: str, entry: CacheEntry) -> None:
        # Absolute expiry in ms, so Redis drops the entry exactly when the entry itself expires.
        self._call("put", self.client.set, ENTRY_PREFIX + key, entry.pack(), pxat=math.ceil(entry.expires_at * 1000))

    def put_many(self, items: list[tuple[str, CacheEntry]]) -> None:
        """One round trip for the lot (a pipeline, not a transaction: each write stands on its own)."""
        pipe = self.client.pipeline(transaction=False)
        for key, entry in items:
            pipe.set(ENTRY_PREFIX + key, entry.pack(), pxat=math.ceil(entry.expires_at * 1000))
        self._call("put", pipe.execute)

    def delete(self, key: str) -> bool:
        return bool(self._call("delete", self.client.delete, ENTRY_PREFIX + key))

    def get_generations(self, names: list[str]) -> dict[str, int]:
        values = self._get_each("generation", [GENERATION_PREFIX + n for n in names])
        return {n: int(v or 0) for n, v in zip(names, values, strict=True)}

    def bump_generation(self, name: str) -> int:
        return int(self._call("flush", self.client.incr, GENERATION_PREFIX + name))

    def raise_generation(self, name: str, value: int) -> None:
        self._call("flush", self.client.eval, _RAISE_SCRIPT, 1, GENERATION_PREFIX + name, value)


LEASE_PREFIX = "llmcache:l:"
_RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisLeases:
    """Cross-container single flight: SET NX with an expiry, released only by its holder."""

    name = "redis"

    def __init__(self, store: RedisStore) -> None:
        self.client = store.client
        self._call = store._call

    def acquire(self, key: str, token: str, seconds: float) -> bool:
        return bool(
            self._call("lease", self.client.set, LEASE_PREFIX + key, token, nx=True, px=max(1, int(seconds * 1000)))
        )

    def held(self, key: str) -> bool:
        return bool(self._call("lease", self.client.exists, LEASE_PREFIX + key))

    def release(self, key: str, token: str) -> None:
        self._call("lease", self.client.eval, _RELEASE_SCRIPT, 1, LEASE_PREFIX + key, token)
