"""The semantic matcher: embed the last user message, search its partition, verify the best neighbour."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmcache.semantic.embedders import TITAN_V2, BedrockEmbedder, CachingEmbedder, LocalEmbedder, UpstreamEmbedder
from llmcache.semantic.errors import SemanticUnavailable
from llmcache.semantic.indexes import SecretReader, build_index
from llmcache.semantic.pair_verifier import PairVerifier, reason_kind
from llmcache.semantic.types import Embedder, Neighbour, SemanticCandidate, SemanticOutcome, VectorIndex
from llmcache.semantic.verifier import Verdict, Verifier

if TYPE_CHECKING:
    from llmcache.settings import Settings

log = logging.getLogger("llmcache.semantic")

NEIGHBOURS = 8  # points fetched per lookup: the best one plus its neighbourhood for the ambiguity guards
BELOW_THRESHOLD = "below threshold"


def _nearest_twin(best: Sequence[float], others: Sequence[Sequence[float]]) -> float | None:
    """Highest cosine between the best point's vector and the other neighbours' vectors."""
    others = [o for o in others if len(o) == len(best)]
    if not best or not others:
        return None
    try:
        import numpy as np  # qdrant-client depends on numpy, so it is there whenever semantic is on

        matrix = np.asarray(others, dtype=np.float64)
        vector = np.asarray(best, dtype=np.float64)
        norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector)
        norms[norms == 0] = np.inf
        return float(np.max(matrix @ vector / norms))
    except ImportError:  # pragma: no cover - numpy missing
        nb = math.sqrt(sum(x * x for x in best))
        sims = []
        for o in others:
            no = math.sqrt(sum(x * x for x in o))
            sims.append(sum(x * y for x, y in zip(best, o, strict=True)) / (nb * no) if nb and no else 0.0)
        return max(sims)


@dataclass(frozen=True)
class Decision:
    """What a lookup saw and decided (for logs, the evaluation and tests)."""

    best: Neighbour | None
    runner_up: float | None
    twin: float | None
    verdict: Verdict | None
    candidate: SemanticCandidate | None

    def outcome(self) -> SemanticOutcome:
        """The decision as the debug answer may tell it: kinds and scores only."""
        if self.best is None:
            return SemanticOutcome(None)
        similarity = round(self.best.score, 4)
        pair = self.verdict.pair_score if self.verdict is not None else None
        if self.candidate is not None:
            return SemanticOutcome(self.candidate, None, similarity, pair)
        reason = reason_kind(self.verdict.reasons[0]) if self.verdict and self.verdict.reasons else BELOW_THRESHOLD
        return SemanticOutcome(None, reason, similarity, pair)


class DefaultSemanticMatcher:
    """Embedder + vector index (Qdrant or Valkey) + verifier, behind the SemanticMatcher interface."""

    def __init__(
        self,
        embedder: Embedder,
        index: VectorIndex,
        verifier: Verifier | PairVerifier | None = None,
        neighbours: int = NEIGHBOURS,
    ) -> None:
        self.embedder = embedder
        self.index = index
        self.verifier = verifier or Verifier()
        self.neighbours = neighbours

    def vectors(self, partition: str, texts: Sequence[str]) -> list[list[float]]:
        """The texts' vectors; a caching embedder caches them per partition (so per tenant, see CachingEmbedder)."""
        if isinstance(self.embedder, CachingEmbedder):
            return self.embedder.embed(texts, scope=partition)
        return self.embedder.embed(texts)

    def _vector(self, partition: str, text: str) -> list[float]:
        vectors = self.vectors(partition, [text])
        if len(vectors) != 1:
            raise SemanticUnavailable("the embedder returned no vector")
        return vectors[0]

    def decide(self, partition: str, text: str, threshold: float, now: float, verify: bool = True) -> Decision:
        """Lookup with its evidence. `verify=False` gives the cosine-alone baseline."""
        neighbours = self.index.search(
            self.embedder.name, partition, self._vector(partition, text), now, limit=self.neighbours
        )
        if not neighbours:
            return Decision(None, None, None, None, None)
        best, others = neighbours[0], neighbours[1:]
        runner_up = others[0].score if others else None
        twin = _nearest_twin(best.vector, [o.vector for o in others])
        if best.score < threshold:
            return Decision(best, runner_up, twin, None, None)
        candidate = SemanticCandidate(key=best.key, similarity=round(best.score, 6), cached_text=best.text)
        if not verify:
            return Decision(best, runner_up, twin, None, candidate)
        verdict = self.verifier.verify(text, best.text, best.score, runner_up=runner_up, twin=twin)
        if not verdict.accepted:
            # Kinds only ("name differs", never the names): no prompt words in logs.
            log.debug("semantic candidate rejected: %s", ", ".join(reason_kind(r) for r in verdict.reasons))
            return Decision(best, runner_up, twin, verdict, None)
        candidate = SemanticCandidate(best.key, round(best.score, 6), best.text, verdict.pair_score)
        return Decision(best, runner_up, twin, verdict, candidate)

    # -- SemanticMatcher --------------------------------------------------------------------------
    def lookup(self, partition: str, text: str, threshold: float, now: float | None = None) -> SemanticCandidate | None:
        return self.consult(partition, text, threshold, now).candidate

    def consult(self, partition: str, text: str, threshold: float, now: float | None = None) -> SemanticOutcome:
        if not text.strip():
            return SemanticOutcome(None)
        return self.decide(partition, text, threshold, time.time() if now is None else now).outcome()

    def remember(self, partition: str, text: str, key: str, expires_at: float) -> None:
        if not text.strip():
            return
        self.index.upsert(
            self.embedder.name, partition, key, text, self._vector(partition, text), expires_at, now=time.time()
        )

    def forget(self, key: str) -> None:
        self.index.delete_key(key)

    def reexpire(self, key: str, expires_at: float) -> None:
        self.index.set_expiry(key, expires_at)


def build_embedder(settings: Settings, upstream_embed: Callable[[list[str], str], Any] | None = None) -> Embedder:
    kind = settings.semantic_embedder
    model = settings.semantic_embedding_model
    inner: Any
    if kind == "upstream":
        if upstream_embed is None:
            raise ValueError("SEMANTIC_EMBEDDER=upstream needs the gateway's upstream embeddings callable")
        inner = UpstreamEmbedder(upstream_embed, model)
    elif kind == "bedrock":
        model_id = model if model.startswith(("amazon.", "cohere.")) else TITAN_V2
        inner = BedrockEmbedder(model_id, timeout=settings.semantic_timeout)
    elif kind == "local":
        inner = LocalEmbedder()
    else:
        raise ValueError(f"unknown semantic embedder {kind!r}")
    return CachingEmbedder(inner)


def build_from_settings(
    settings: Settings,
    upstream_embed: Callable[[list[str], str], Any] | None = None,
    embedder: Embedder | None = None,
    index: VectorIndex | None = None,
    verifier: Verifier | PairVerifier | None = None,
    read_secret: SecretReader | None = None,
) -> DefaultSemanticMatcher:
    return DefaultSemanticMatcher(
        embedder=embedder or build_embedder(settings, upstream_embed),
        index=index or build_index(settings, read_secret),
        # vetoes, the ambiguity guard and the shipped pair model at the configured cut
        verifier=verifier or PairVerifier(cut=settings.semantic_pair_cut),
    )
