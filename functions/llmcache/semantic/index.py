"""The vector index: Qdrant, embedded (in memory or on a local path) or a server (URL + API key).

One collection per embedder and dimension (vectors of different models never mix). Each point's
payload holds the partition hash, the exact cache key, the cached text and the expiry; a search
filters on the partition (exact match) and on `expires_at > now`, so an expired point is never
returned whatever the index still holds. Expired points are swept now and then on writes.

Embedded mode (no URL) evaluates payload filters point by point in Python (~40 µs a point), so there
each partition gets its own collection and the expiry is checked on the few points returned (with a
filtered re-query when one of them has expired): same answers, a search in milliseconds. Those
collections are bounded: past MAX_EMBEDDED_COLLECTIONS the least recently used one is dropped (its
entries are then matched exactly only, as before they were indexed).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from llmcache.semantic.errors import SemanticUnavailable
from llmcache.semantic.types import Neighbour

_NAMESPACE = uuid.UUID("6f1c1e0a-6a55-4a0e-9d55-2f8f3c1f5e11")
SWEEP_EVERY = 500  # writes between two deletions of expired points
# Embedded mode: partitions (collections) kept per container, least recently used dropped first. Measured
# ~2.3 KB each holding one 384-dimension point, so the bound costs ~10 MB plus the points themselves.
MAX_EMBEDDED_COLLECTIONS = 4096


def point_id(partition: str, key: str) -> str:
    """One point per (partition, key): re-remembering an entry replaces its point."""
    return str(uuid.uuid5(_NAMESPACE, f"{partition}:{key}"))


def collection_name(prefix: str, embedder_name: str, dim: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", embedder_name.lower()).strip("-")
    return f"{prefix}-{slug}-{dim}"


class QdrantIndex:
    """Qdrant through qdrant-client; every failure is raised as SemanticUnavailable."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | Callable[[], str | None] | None = None,
        path: str | None = None,
        prefix: str = "llmcache",
        timeout: int = 5,
        client: Any = None,
        max_collections: int = MAX_EMBEDDED_COLLECTIONS,
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.path = path
        self.prefix = prefix
        self.timeout = timeout
        self._client = client
        self.embedded = not url
        self.max_collections = max_collections
        self._ready: OrderedDict[str, None] = OrderedDict()  # known to exist; least recently used first
        self._lock = threading.RLock()
        self._writes = 0

    # -- plumbing -----------------------------------------------------------------------------
    def _qdrant(self) -> Any:
        if self._client is None:
            try:
                from qdrant_client import QdrantClient

                if self.url:
                    api_key = self.api_key() if callable(self.api_key) else self.api_key  # read from a secret
                    self._client = QdrantClient(
                        url=self.url, api_key=api_key, timeout=self.timeout, check_compatibility=False
                    )
                elif self.path:
                    self._client = QdrantClient(path=self.path)
                else:
                    self._client = QdrantClient(location=":memory:")
            except Exception as exc:
                raise SemanticUnavailable(f"cannot open the Qdrant index: {exc}") from exc
        return self._client

    def _collection(self, embedder_name: str, dim: int, partition: str, create: bool = True) -> str | None:
        """The collection's name, created on first write; None when reading one that does not exist."""
        name = collection_name(self.prefix, embedder_name, dim)
        if self.embedded:
            name = f"{name}-{hashlib.sha256(partition.encode()).hexdigest()[:32]}"
        if name in self._ready:
            self._ready.move_to_end(name)
            return name
        from qdrant_client import models

        client = self._qdrant()
        if not client.collection_exists(name):
            if not create:
                return None
            try:
                client.create_collection(
                    name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
                )
            except Exception:
                if not client.collection_exists(name):  # lost a creation race: fine; else re-raise
                    raise
        if self.url:  # payload indexes matter on a server; local mode ignores them
            for field, schema in (
                ("partition", models.PayloadSchemaType.KEYWORD),
                ("key", models.PayloadSchemaType.KEYWORD),
                ("expires_at", models.PayloadSchemaType.FLOAT),
            ):
                with contextlib.suppress(Exception):  # already there
                    client.create_payload_index(name, field_name=field, field_schema=schema)
        self._ready[name] = None
        if self.embedded:
            self._drop_least_recent()
        return name

    def _drop_least_recent(self) -> None:
        """Embedded mode makes a collection per partition: keep at most `max_collections` of them."""
        while len(self._ready) > self.max_collections:
            oldest, _ = self._ready.popitem(last=False)
            self._qdrant().delete_collection(oldest)

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
        try:
            from qdrant_client import models

            with self._lock:
                name = self._collection(embedder_name, len(vector), partition)
                assert name is not None
                payload = {"partition": partition, "key": key, "text": text, "expires_at": float(expires_at)}
                self._qdrant().upsert(
                    name, points=[models.PointStruct(id=point_id(partition, key), vector=list(vector), payload=payload)]
                )
                self._writes += 1
                if now is not None and self._writes % SWEEP_EVERY == 0:
                    self._sweep(name, now)
        except SemanticUnavailable:
            raise
        except Exception as exc:
            raise SemanticUnavailable(f"the Qdrant index refused a write: {exc}") from exc

    def search(
        self, embedder_name: str, partition: str, vector: Sequence[float], now: float, limit: int = 8
    ) -> list[Neighbour]:
        """Nearest unexpired points of that partition, best first, with their vectors."""
        try:
            from qdrant_client import models

            with self._lock:
                name = self._collection(embedder_name, len(vector), partition, create=False)
                if name is None:
                    return []
                unexpired = models.FieldCondition(key="expires_at", range=models.Range(gt=float(now)))
                partitioned = models.FieldCondition(key="partition", match=models.MatchValue(value=partition))
                client = self._qdrant()
                response = None
                if self.embedded:  # the collection is the partition: search unfiltered, check expiry after
                    response = client.query_points(
                        name, query=list(vector), limit=limit, with_payload=True, with_vectors=True
                    )
                    if any(float((p.payload or {}).get("expires_at", 0.0)) <= now for p in response.points):
                        response = None
                if response is None:
                    response = client.query_points(
                        name,
                        query=list(vector),
                        query_filter=models.Filter(must=[partitioned, unexpired]),
                        limit=limit,
                        with_payload=True,
                        with_vectors=True,
                    )
        except SemanticUnavailable:
            raise
        except Exception as exc:
            raise SemanticUnavailable(f"the Qdrant index failed a search: {exc}") from exc
        out = []
        for point in response.points:
            payload = point.payload or {}
            # Belt and braces: never trust the filter alone with a partition or an expiry.
            if payload.get("partition") != partition or float(payload.get("expires_at", 0.0)) <= now:
                continue
            raw = point.vector
            if isinstance(raw, dict):  # named vectors: take the default one
                raw = next(iter(raw.values()), [])
            out.append(
                Neighbour(
                    key=str(payload.get("key", "")),
                    text=str(payload.get("text", "")),
                    score=float(point.score),
                    expires_at=float(payload["expires_at"]),
                    vector=tuple(float(x) for x in (raw or ())),
                )
            )
        return out

    def delete_key(self, key: str) -> None:
        """Remove every point of that exact cache key, in every collection of this prefix."""
        self._for_key(key, "delete", lambda client, name, selector: client.delete(name, points_selector=selector))

    def set_expiry(self, key: str, expires_at: float) -> None:
        """New expiry for every point of that exact cache key (its entry's TTL was changed)."""
        payload = {"expires_at": float(expires_at)}
        self._for_key(
            key, "re-expiry", lambda client, name, selector: client.set_payload(name, payload, points=selector)
        )

    def _for_key(self, key: str, what: str, action: Callable[[Any, str, Any], Any]) -> None:
        try:
            from qdrant_client import models

            with self._lock:
                client = self._qdrant()
                names = [c.name for c in client.get_collections().collections if c.name.startswith(self.prefix + "-")]
                selector = models.FilterSelector(
                    filter=models.Filter(must=[models.FieldCondition(key="key", match=models.MatchValue(value=key))])
                )
                for name in names:
                    action(client, name, selector)
        except SemanticUnavailable:
            raise
        except Exception as exc:
            raise SemanticUnavailable(f"the Qdrant index refused a {what}: {exc}") from exc

    def _sweep(self, name: str, now: float) -> None:
        from qdrant_client import models

        selector = models.FilterSelector(
            filter=models.Filter(must=[models.FieldCondition(key="expires_at", range=models.Range(lte=float(now)))])
        )
        self._qdrant().delete(name, points_selector=selector)

    def sweep_expired(self, now: float) -> None:
        try:
            with self._lock:
                client = self._qdrant()
                for c in client.get_collections().collections:
                    if c.name.startswith(self.prefix + "-"):
                        self._sweep(c.name, now)
        except Exception as exc:
            raise SemanticUnavailable(f"the Qdrant index refused a sweep: {exc}") from exc
