"""The per-input path of /v1/embeddings (engine.per_input): a batch stays inside its limits and its deadline."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from tests.unit.engine.fakes import embedding_answer, make_engine, request

from llmcache.dialects.embeddings import MAX_INPUTS
from llmcache.engine import per_input as embeddings
from llmcache.errors import BadRequest
from llmcache.stores.base import CacheEntry
from llmcache.stores.memory import MemoryStore


# ----- 2. an embeddings batch stays inside its limits -------------------------------------------------------
def test_given_more_inputs_than_the_provider_takes_when_embedding_then_400_names_the_limit() -> None:
    engine, provider = make_engine(embedding_answer)
    body = {"model": "e", "input": [f"text {i}" for i in range(MAX_INPUTS + 1)]}

    with pytest.raises(BadRequest) as raised:
        engine.handle(request(body, route="embeddings"))

    assert "2048" in raised.value.message and raised.value.param == "input"
    assert provider.asked == []


class RecordingTier(MemoryStore):
    """A memory tier that records which write calls reach it (named apart, so it is not backfilled as memory)."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__(8 * 1024 * 1024)
        self.writes: list[tuple[str, int]] = []

    def put(self, key: str, entry: CacheEntry) -> None:
        self.writes.append(("put", 1))
        super().put(key, entry)

    def put_many(self, items: list[tuple[str, CacheEntry]]) -> None:
        self.writes.append(("put_many", len(items)))
        for key, entry in items:
            super().put(key, entry)


def test_given_a_batch_of_fresh_inputs_when_stored_then_written_in_batches_not_one_put_each() -> None:
    tier = RecordingTier()
    engine, _ = make_engine(embedding_answer, tier)

    engine.handle(request({"model": "e", "input": [f"t{i}" for i in range(250)]}, route="embeddings"))

    assert tier.writes == [("put_many", 100), ("put_many", 100), ("put_many", 50)]
    assert len(tier) == 250


def test_given_the_deadline_has_passed_when_an_embeddings_batch_arrives_then_no_lookup_is_made() -> None:
    engine, _ = make_engine(embedding_answer)
    looked_up: list[int] = []
    engine.store.get_many = lambda keys_, now: looked_up.append(len(keys_)) or {}  # type: ignore[method-assign]

    response = engine.handle(request({"model": "e", "input": ["a", "b"]}, route="embeddings", deadline=1.0))

    assert looked_up == []
    assert response.status == 200  # answered from the provider (the fake ignores the deadline)


def test_given_the_deadline_passes_during_the_provider_call_when_embedding_then_answered_and_nothing_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deadline = time.monotonic() + 30

    def slow_provider(route: str, body: dict[str, Any]) -> bytes:
        monkeypatch.setattr(embeddings, "monotonic", lambda: deadline + 1)  # the provider took all the time
        return embedding_answer(route, body)

    engine, _ = make_engine(slow_provider)

    response = engine.handle(request({"model": "e", "input": ["a", "b"]}, route="embeddings", deadline=deadline))

    assert response.status == 200 and len(json.loads(response.body)["data"]) == 2
    assert len(engine.store.tiers[0]) == 0  # type: ignore[arg-type]
