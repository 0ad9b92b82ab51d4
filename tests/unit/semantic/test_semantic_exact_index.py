"""The in-process exact index: partitions, expiry, replacement, deletion and its bound, row by row."""

from __future__ import annotations

import math
import random

import pytest

from llmcache.semantic.errors import SemanticUnavailable
from llmcache.semantic.exact_index import ExactIndex

NOW = 1_000_000.0


def _unit(seed: int, dim: int = 16) -> list[float]:
    rng = random.Random(seed)
    v = [rng.gauss(0, 1) for _ in range(dim)]
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def test_given_many_rows_when_searching_then_the_order_is_the_exact_cosine_order() -> None:
    index = ExactIndex()
    vectors = {f"k{i}": _unit(i) for i in range(300)}
    for key, v in vectors.items():
        index.upsert("e", "p", key, key, [3 * x for x in v], NOW + 60)  # not unit length: normalised on write
    query = _unit(1000)

    found = index.search("e", "p", query, NOW, limit=8)

    def cosine(key: str) -> float:
        return sum(a * b for a, b in zip(vectors[key], query, strict=True))

    expected = sorted(vectors, key=lambda k: -cosine(k))[:8]
    assert [n.key for n in found] == expected
    assert found[0].score == pytest.approx(cosine(expected[0]), abs=1e-5)
    assert math.sqrt(sum(x * x for x in found[0].vector)) == pytest.approx(1.0, abs=1e-5)


def test_given_an_expired_nearest_when_searching_then_only_live_rows_are_returned() -> None:
    index = ExactIndex()
    index.upsert("e", "p", "old", "old", [1.0, 0.0], NOW - 1)
    index.upsert("e", "p", "live", "live", [0.9, 0.1], NOW + 60)

    assert [n.key for n in index.search("e", "p", [1.0, 0.0], NOW)] == ["live"]


def test_given_two_partitions_when_searching_one_then_the_other_is_never_seen() -> None:
    index = ExactIndex()
    index.upsert("e", "p1", "a", "a", [1.0, 0.0], NOW + 60)

    assert index.search("e", "p2", [1.0, 0.0], NOW) == []
    assert index.search("other-embedder", "p1", [1.0, 0.0], NOW) == []


def test_given_a_key_remembered_twice_when_searching_then_one_row_with_the_new_text() -> None:
    index = ExactIndex()
    index.upsert("e", "p", "k", "first", [1.0, 0.0], NOW + 60)
    index.upsert("e", "p", "k", "second", [0.0, 1.0], NOW + 60)

    found = index.search("e", "p", [0.0, 1.0], NOW)
    assert [(n.key, n.text) for n in found] == [("k", "second")]


def test_given_rows_when_deleting_or_reexpiring_a_key_then_every_partition_forgets_it() -> None:
    index = ExactIndex()
    for partition in ("p1", "p2"):
        for key, v in (("a", [1.0, 0.0]), ("b", [0.8, 0.6]), ("c", [0.0, 1.0])):
            index.upsert("e", partition, key, key, v, NOW + 60)

    index.delete_key("a")
    index.set_expiry("c", NOW - 1)

    for partition in ("p1", "p2"):
        assert [n.key for n in index.search("e", partition, [1.0, 0.0], NOW)] == ["b"]


def test_given_expired_rows_when_sweeping_then_they_are_removed_and_live_rows_stay() -> None:
    index = ExactIndex()
    for i in range(20):
        index.upsert("e", "p", f"k{i}", "t", _unit(i), NOW + (60 if i % 2 else -1))

    index.sweep_expired(NOW)
    index.set_expiry("k0", NOW + 60)  # swept: nothing to re-expire

    found = index.search("e", "p", _unit(0), NOW, limit=50)
    assert sorted(n.key for n in found) == sorted(f"k{i}" for i in range(1, 20, 2))


def test_given_more_partitions_than_the_bound_when_remembering_then_the_least_recent_is_dropped() -> None:
    index = ExactIndex(max_partitions=3)
    for partition in ("p0", "p1", "p2"):
        index.upsert("e", partition, partition, "text", [1.0, 0.0], NOW + 60)
    assert index.search("e", "p0", [1.0, 0.0], NOW)  # p0 is now the most recent

    index.upsert("e", "p3", "k3", "text", [1.0, 0.0], NOW + 60)

    assert index.search("e", "p1", [1.0, 0.0], NOW) == []  # the least recently used went
    assert index.search("e", "p0", [1.0, 0.0], NOW) and index.search("e", "p3", [1.0, 0.0], NOW)


@pytest.mark.parametrize("vector", [[0.0, 0.0], [], [float("nan"), 1.0]])
def test_given_a_degenerate_vector_when_remembering_then_semantic_unavailable(vector: list[float]) -> None:
    with pytest.raises(SemanticUnavailable):
        ExactIndex().upsert("e", "p", "k", "t", vector, NOW + 60)
