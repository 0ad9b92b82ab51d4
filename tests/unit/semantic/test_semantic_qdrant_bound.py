"""Embedded Qdrant keeps a bounded number of partitions."""

from __future__ import annotations

import time

from llmcache.semantic.index import QdrantIndex


# ----- 6. embedded Qdrant keeps a bounded number of partitions ------------------------------------------------
def test_given_more_partitions_than_the_bound_when_remembering_then_the_least_recent_collection_is_dropped() -> None:
    index = QdrantIndex(prefix="review", max_collections=3)
    for partition in ("p0", "p1", "p2"):
        index.upsert("fixed", partition, partition * 32, "text", [1.0, 0.0], time.time() + 60)
    assert index.search("fixed", "p0", [1.0, 0.0], time.time())  # p0 is now the most recent

    index.upsert("fixed", "p3", "k3" * 32, "text", [1.0, 0.0], time.time() + 60)

    names = [c.name for c in index._qdrant().get_collections().collections]
    assert len(names) == 3
    assert index.search("fixed", "p1", [1.0, 0.0], time.time()) == []  # the least recently used went
    assert index.search("fixed", "p0", [1.0, 0.0], time.time())
