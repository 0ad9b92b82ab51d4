"""The Valkey vector index against a real Valkey 9.1 with a search module (marker `valkey`).

Index-level cases use hand-made vectors (no model needed); the outage through the handler uses the
local model (marker `semantic` too). The handler-level suite in test_semantic.py runs on this index too.
"""

from __future__ import annotations

import math
import time

import pytest
import redis
from tests.servers import ValkeySearchServer, wait_until

from llmcache.semantic.errors import SemanticUnavailable
from llmcache.semantic.valkey_index import KEY_PREFIX, ValkeyIndex, document_key, index_name

pytestmark = pytest.mark.valkey

DIM = 8
NOW = 1_000_000.0  # a fixed clock for the index's own expiry check
LATER = NOW + 3600


def unit(*values: float) -> list[float]:
    vector = [*values, *([0.0] * (DIM - len(values)))]
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


@pytest.fixture
def index(valkey_search_url: str):
    ix = ValkeyIndex(valkey_search_url, timeout=5.0)
    yield ix
    ix.close()


@pytest.fixture
def raw(valkey_search_url: str):
    client = redis.Redis.from_url(valkey_search_url, protocol=2)
    yield client
    client.close()


def remember(ix: ValkeyIndex, partition: str, key: str, vector: list[float], expires_at: float = LATER, model="m"):
    # expires_at is also the key's TTL on the server: keep it in the future of the real clock
    ix.upsert(model, partition, key, f"text of {key}", vector, max(expires_at, time.time() + 3600))


def test_given_entries_in_two_partitions_when_one_is_searched_then_only_its_entries_best_first(index):
    remember(index, "p1", "k-near", unit(1, 0.1))
    remember(index, "p1", "k-far", unit(1, 1))
    remember(index, "p2", "k-other", unit(1, 0))  # the exact query vector, in another partition

    found = index.search("m", "p1", unit(1, 0), NOW)

    assert [n.key for n in found] == ["k-near", "k-far"]
    assert found[0].score > found[1].score
    assert found[0].score == pytest.approx(unit(1, 0.1)[0], abs=1e-5)  # the cosine, not a distance
    assert found[0].text == "text of k-near"
    assert found[0].vector == pytest.approx(unit(1, 0.1), abs=1e-6)


def test_given_the_same_partition_under_another_embedder_when_searched_then_nothing_crosses(index):
    remember(index, "p1", "k-model-a", unit(1, 0), model="model-a")
    assert index.search("model-b", "p1", unit(1, 0), NOW) == []
    assert [n.key for n in index.search("model-a", "p1", unit(1, 0), NOW)] == ["k-model-a"]


def test_given_an_entry_past_its_expiry_when_searched_then_it_is_never_returned(index, raw):
    index.upsert("m", "p1", "k-exp", "text", unit(1, 0), expires_at=time.time() + 3600)
    ttl_ms = raw.pttl(document_key("k-exp"))
    assert 3_500_000 < ttl_ms <= 3_600_000  # the hash carries the entry's expiry as its own TTL

    expires_at = float(raw.hget(document_key("k-exp"), "expires_at"))
    assert index.search("m", "p1", unit(1, 0), expires_at - 1)[0].key == "k-exp"
    # the server has not evicted it yet: the expiry is checked again on read
    assert index.search("m", "p1", unit(1, 0), expires_at) == []


def test_given_an_entry_whose_ttl_runs_out_when_the_server_expires_it_then_it_leaves_the_index(index, raw):
    index.upsert("m", "p1", "k-short", "text", unit(1, 0), expires_at=time.time() + 1)
    wait_until(lambda: raw.exists(document_key("k-short")) == 0, timeout=15, what="the hash to expire")
    assert index.search("m", "p1", unit(1, 0), 0.0) == []  # even a reader whose clock says it is fresh


def test_given_a_deleted_key_when_searched_then_it_is_gone(index, raw):
    remember(index, "p1", "k-del", unit(1, 0))
    remember(index, "p1", "k-keep", unit(1, 0.2))
    index.delete_key("k-del")
    assert [n.key for n in index.search("m", "p1", unit(1, 0), NOW)] == ["k-keep"]
    assert raw.exists(document_key("k-del")) == 0


def test_given_a_new_expiry_when_the_old_one_passes_then_the_entry_is_still_found(index, raw):
    old = time.time() + 60
    index.upsert("m", "p1", "k-ttl", "text", unit(1, 0), expires_at=old)
    index.set_expiry("k-ttl", old + 3600)
    assert [n.key for n in index.search("m", "p1", unit(1, 0), old + 1)] == ["k-ttl"]
    assert raw.pttl(document_key("k-ttl")) > 3_600_000
    index.set_expiry("k-missing", old)  # an entry with no hash: nothing is created
    assert raw.exists(document_key("k-missing")) == 0


def test_given_a_replaced_entry_when_searched_then_one_point_with_the_new_text(index):
    remember(index, "p1", "k-same", unit(1, 0))
    index.upsert("m", "p1", "k-same", "new text", unit(1, 0), time.time() + 3600)
    found = index.search("m", "p1", unit(1, 0), NOW)
    assert [(n.key, n.text) for n in found] == [("k-same", "new text")]


def test_given_an_index_that_already_exists_when_another_container_starts_then_it_is_kept_with_its_entries(
    valkey_search_url, index, raw
):
    remember(index, "p1", "k-first", unit(1, 0))
    other = ValkeyIndex(valkey_search_url, timeout=5.0)  # a fresh container: creates nothing new
    try:
        remember(other, "p1", "k-second", unit(1, 0.1))
        assert [n.key for n in other.search("m", "p1", unit(1, 0), NOW)] == ["k-first", "k-second"]
    finally:
        other.close()
    indexes = [i.decode() for i in raw.execute_command("FT._LIST")]
    assert indexes == [index_name(DIM)]
    info = raw.execute_command("FT.INFO", index_name(DIM))
    fields = dict(zip(info[::2], info[1::2], strict=False))
    assert int(fields[b"num_docs"]) == 2
    assert all(k.decode().startswith(KEY_PREFIX) for k in raw.keys("*"))


def test_given_a_server_that_dies_mid_run_when_used_then_unavailable_and_back_once_it_returns(
    valkey_search: ValkeySearchServer, valkey_search_url: str, index
):
    remember(index, "p1", "k1", unit(1, 0))
    assert index.search("m", "p1", unit(1, 0), NOW)
    valkey_search.kill()
    with pytest.raises(SemanticUnavailable):
        index.search("m", "p1", unit(1, 0), NOW)
    with pytest.raises(SemanticUnavailable):
        remember(index, "p1", "k2", unit(1, 0))
    with pytest.raises(SemanticUnavailable):
        index.delete_key("k1")
    valkey_search.start()  # back, empty: the index is created again on first use
    assert index.search("m", "p1", unit(1, 0), NOW) == []
    remember(index, "p1", "k3", unit(1, 0))
    assert [n.key for n in index.search("m", "p1", unit(1, 0), NOW)] == ["k3"]


def test_given_a_wrong_auth_token_when_used_then_unavailable_not_an_error_of_another_kind(valkey_search_url):
    ix = ValkeyIndex(valkey_search_url, password=lambda: "not-the-token", timeout=5.0)
    with pytest.raises(SemanticUnavailable):
        ix.search("m", "p1", unit(1, 0), NOW)


@pytest.mark.semantic
def test_given_the_valkey_index_dies_mid_run_when_asked_then_plain_misses_counted_never_a_failed_request(
    configure, client, valkey_search: ValkeySearchServer, valkey_search_url: str
):
    from llmcache.constants import Metric
    from llmcache.observability import counters

    configure(
        CACHE_TIERS="memory",
        SEMANTIC_MODE="on",
        SEMANTIC_EMBEDDER="local",
        SEMANTIC_INDEX="valkey",
        SEMANTIC_REDIS_URL=valkey_search_url,
    )
    first = client.chat("What is the capital city of France?")
    assert client.chat("What's the capital city of France?").headers.get("x-cache-match") == "semantic"
    valkey_search.kill()
    faults = counters.snapshot().get(Metric.CACHE_BACKEND_ERROR, 0)

    answer = client.chat("What's the capital of France, please?")

    assert (answer.status, answer.cache) == (200, "MISS")
    assert counters.snapshot().get(Metric.CACHE_BACKEND_ERROR, 0) > faults
    assert client.chat("What is the capital city of France?").body == first.body  # the exact path is untouched
