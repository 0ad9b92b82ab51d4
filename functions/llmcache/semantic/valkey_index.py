"""The vector index on Valkey (ElastiCache for Valkey 8.2+ node-based, or any server with a search module).

One search index per vector dimension (in practice one: a deployment has one embedder) over hashes
under one key prefix. Each hash is one remembered entry:

    llmcache:sv:<sha256(cache key)>  ->  partition (TAG), vector (FLOAT32, COSINE), key, text, expires_at

- The partition TAG is a digest of the embedder's name and the partition, so a query filtered on it never
  sees another partition, nor vectors of another model that happens to have the same dimension.
- The hash expires through its own TTL (PEXPIREAT at the entry's expiry): an expired hash leaves the
  index. The expiry is stored too and checked again on every read, so a hash the server has not yet
  evicted is never returned.
- The hash is named by the exact cache key alone, so delete and re-expiry are single-key commands
  (DEL, HSET + PEXPIREAT) with no search: ElastiCache 8.2 only answers vector queries.
- Commands are the subset ElastiCache's valkey-search documents: FT.CREATE (HNSW, COSINE, TAG),
  FT.SEARCH with `@tag:{...}=>[KNN k @vector $v AS distance]`, PARAMS, LIMIT, DIALECT 2, and FT.INFO.
  No RETURN: its documentation allows only fields declared in the schema there, and key, text and
  expires_at are not (indexing them would cost memory for nothing); without it the whole hash comes back.
  Results are sorted here, not with SORTBY (ElastiCache's FT.SEARCH has none).

Every failure (server down, timeout, refused command) is raised as SemanticUnavailable: the engine
counts it and answers with a plain miss.
"""

from __future__ import annotations

import hashlib
import math
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any

from llmcache.semantic.errors import SemanticUnavailable
from llmcache.semantic.types import Neighbour

KEY_PREFIX = "llmcache:sv:"
INDEX_PREFIX = "llmcache-semantic"
# HNSW graph parameters: ElastiCache's defaults for M and EF_CONSTRUCTION; EF_RUNTIME a little above the
# default so a partition's few neighbours are found even when the filter discards most of the graph.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_RUNTIME = 20


def document_key(key: str) -> str:
    return KEY_PREFIX + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def partition_tag(embedder_name: str, partition: str) -> str:
    """Hex only: a TAG value that needs no escaping in a query."""
    return hashlib.sha256(f"{embedder_name}\n{partition}".encode("utf-8", "surrogatepass")).hexdigest()[:40]


def index_name(dim: int) -> str:
    return f"{INDEX_PREFIX}-{dim}"


def pack(vector: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack(blob: bytes) -> tuple[float, ...]:
    return struct.unpack(f"<{len(blob) // 4}f", blob)


class ValkeyIndex:
    """Valkey/Redis vector search through redis-py; the server is reached lazily, on first use."""

    def __init__(
        self,
        url: str,
        *,
        password: Callable[[], str | None] | None = None,
        timeout: float = 2.0,
        client: Any = None,
    ) -> None:
        self.url = url
        self._password = password
        self.timeout = timeout
        self._client = client
        self._ready: set[int] = set()  # dimensions whose index is known to exist on the server
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------
    def _redis(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    try:
                        import redis

                        self._client = redis.Redis.from_url(
                            self.url,
                            password=self._password() if self._password else None,
                            socket_connect_timeout=self.timeout,
                            socket_timeout=self.timeout,
                            retry_on_timeout=False,
                            retry=None,
                            health_check_interval=0,
                            max_connections=64,
                            # RESP2 replies: FT.SEARCH's flat array is what valkey-search documents (redis-py 8
                            # speaks RESP3 by default, where RediSearch answers with another shape).
                            protocol=2,
                        )
                    except Exception as exc:  # a bad URL, an unreadable auth token secret
                        raise SemanticUnavailable(f"cannot open the Valkey index: {type(exc).__name__}") from exc
        return self._client

    def _ensure_index(self, dim: int) -> str:
        """The index for vectors of `dim`, created on first use; one that already exists is kept as it is."""
        name = index_name(dim)
        if dim in self._ready:
            return name
        client = self._redis()
        try:
            client.execute_command("FT.INFO", name)
        except Exception as missing:
            if _is_connection_error(missing):
                raise
            try:
                client.execute_command(
                    "FT.CREATE", name, "ON", "HASH", "PREFIX", "1", KEY_PREFIX,
                    "SCHEMA",
                    "partition", "TAG",
                    "vector", "VECTOR", "HNSW", "12",
                    "TYPE", "FLOAT32", "DIM", str(dim), "DISTANCE_METRIC", "COSINE",
                    "M", str(HNSW_M), "EF_CONSTRUCTION", str(HNSW_EF_CONSTRUCTION), "EF_RUNTIME", str(HNSW_EF_RUNTIME),
                )  # fmt: skip
            except Exception as exc:
                if "exist" not in str(exc).lower():  # another container created it first: fine
                    raise
        self._ready.add(dim)
        return name

    def _call(self, what: str, dim: int | None, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except SemanticUnavailable:
            raise
        except Exception as exc:
            if dim is not None:
                self._ready.discard(dim)  # the server may have restarted empty: look again next time
            raise SemanticUnavailable(f"the Valkey index failed a {what}: {type(exc).__name__}: {exc}") from exc

    # -- operations ---------------------------------------------------------------------------
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
        """Write (or replace) the entry's hash with its expiry, in one transaction."""
        dim = len(vector)

        def write() -> None:
            self._ensure_index(dim)
            document = document_key(key)
            fields = {
                "partition": partition_tag(embedder_name, partition),
                "vector": pack(vector),
                "key": key,
                "text": text,
                "expires_at": repr(float(expires_at)),
            }
            pipe = self._redis().pipeline(transaction=True)
            pipe.delete(document)  # a replaced entry keeps no field of the old one
            pipe.hset(document, mapping=fields)
            pipe.pexpireat(document, math.ceil(expires_at * 1000))
            pipe.execute()

        self._call("write", dim, write)

    def search(
        self, embedder_name: str, partition: str, vector: Sequence[float], now: float, limit: int = 8
    ) -> list[Neighbour]:
        """Nearest unexpired entries of that partition, best first, with their vectors."""
        dim = len(vector)
        tag = partition_tag(embedder_name, partition)

        def query() -> Any:
            name = self._ensure_index(dim)
            return self._redis().execute_command(
                "FT.SEARCH", name, f"@partition:{{{tag}}}=>[KNN {int(limit)} @vector $query AS distance]",
                "PARAMS", "2", "query", pack(vector),
                "LIMIT", "0", str(int(limit)),
                "DIALECT", "2",
            )  # fmt: skip

        reply = self._call("search", dim, query)
        out = []
        for fields in _documents(reply):
            try:
                expires_at = float(fields[b"expires_at"])
                score = 1.0 - float(fields[b"distance"])
                found = Neighbour(
                    key=fields[b"key"].decode(),
                    text=fields[b"text"].decode(),
                    score=score,
                    expires_at=expires_at,
                    vector=unpack(fields[b"vector"]),
                )
            except (KeyError, ValueError, UnicodeDecodeError):
                continue  # a hash written by something else under our prefix: not ours to serve
            if expires_at > now:  # the TTL should have removed it; never trust that alone
                out.append(found)
        out.sort(key=lambda n: n.score, reverse=True)
        return out

    def delete_key(self, key: str) -> None:
        self._call("delete", None, lambda: self._redis().delete(document_key(key)))

    def set_expiry(self, key: str, expires_at: float) -> None:
        """New expiry for the entry's hash (its TTL was changed); nothing to do when it is gone."""
        document = document_key(key)

        def reexpire() -> None:
            client = self._redis()
            # Only an existing hash: HSET on a missing one would leave a stub without a vector.
            if client.exists(document):
                pipe = client.pipeline(transaction=True)
                pipe.hset(document, "expires_at", repr(float(expires_at)))
                pipe.pexpireat(document, math.ceil(expires_at * 1000))
                pipe.execute()

        self._call("re-expiry", None, reexpire)

    def sweep_expired(self, now: float) -> None:
        """Nothing to sweep: every hash expires through its own TTL."""

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _is_connection_error(exc: Exception) -> bool:
    import redis

    return isinstance(exc, redis.ConnectionError | redis.TimeoutError)


def _documents(reply: Any) -> list[dict[bytes, bytes]]:
    """FT.SEARCH's RESP2 reply [total, key, [field, value, ...], ...] as one dict per document."""
    if not isinstance(reply, list) or not reply:
        return []
    out = []
    for i in range(2, len(reply), 2):
        pairs = reply[i] or []
        out.append({pairs[j]: pairs[j + 1] for j in range(0, len(pairs) - 1, 2)})
    return out
