"""Fixtures for the semantic layer: a deterministic bag-of-words embedder (no model needed), the
in-process indexes (exact numpy and embedded Qdrant), and the real local model (shipped ONNX files),
loaded once per session."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Sequence

import pytest

from llmcache.semantic.errors import SemanticUnavailable
from llmcache.semantic.exact_index import ExactIndex
from llmcache.semantic.index import QdrantIndex
from llmcache.semantic.matcher import DefaultSemanticMatcher

DIM = 96


class BagOfWordsEmbedder:
    """Each lowercase word adds 1 to a hashed slot: similar wording gives a high cosine."""

    name = "test-bow"

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self.fail:
            raise SemanticUnavailable("embedder down (test)")
        self.calls += len(texts)
        out = []
        for text in texts:
            vector = [0.0] * DIM
            for word in re.findall(r"\w+", text.lower()):
                vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
            norm = math.sqrt(sum(x * x for x in vector)) or 1.0
            out.append([x / norm for x in vector])
        return out


@pytest.fixture
def bow() -> BagOfWordsEmbedder:
    return BagOfWordsEmbedder()


@pytest.fixture(params=["exact", "qdrant"])
def index(request: pytest.FixtureRequest) -> Iterator[ExactIndex | QdrantIndex]:
    """Both in-process indexes keep the same contract (the exact one is the default, embedded Qdrant on disk)."""
    if request.param == "exact":
        yield ExactIndex()
        return
    ix = QdrantIndex(prefix="test")
    yield ix
    if ix._client is not None:
        ix._client.close()


@pytest.fixture
def matcher(bow: BagOfWordsEmbedder, index: ExactIndex | QdrantIndex) -> DefaultSemanticMatcher:
    return DefaultSemanticMatcher(bow, index)


@pytest.fixture(scope="session")
def local_embedder():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 (the shipped ONNX files), loaded once."""
    from llmcache.semantic.embedders import CachingEmbedder, LocalEmbedder

    embedder = CachingEmbedder(LocalEmbedder())
    embedder.embed(["warm up"])
    return embedder
