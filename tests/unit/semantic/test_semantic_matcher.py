"""The matcher over the in-process indexes (exact numpy and embedded Qdrant), with a deterministic embedder."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from llmcache.semantic import SemanticCandidate, SemanticUnavailable, build_semantic_matcher
from llmcache.semantic.embedders import CachingEmbedder, UpstreamEmbedder
from llmcache.semantic.index import QdrantIndex
from llmcache.semantic.matcher import DefaultSemanticMatcher
from llmcache.settings import Settings

NOW = 1_700_000_000.0
P1 = "a" * 64
P2 = "b" * 64
KEY1 = "1" * 64
KEY2 = "2" * 64
CACHED = "How do I reset my router password at home"
ASKED = "How do I reset my router password at home please"


def test_given_semantic_mode_off_when_building_then_no_matcher_and_no_heavy_import() -> None:
    assert build_semantic_matcher(Settings(semantic_mode="off")) is None
    probe = (
        "import sys, llmcache.semantic as s; from llmcache.settings import Settings; "
        "assert s.build_semantic_matcher(Settings()) is None; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'torch', 'qdrant_client', "
        "'sentence_transformers', 'boto3'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_given_semantic_mode_on_with_upstream_when_building_then_matcher_uses_the_callable() -> None:
    seen: list[tuple[list[str], str]] = []

    def upstream(texts: list[str], model: str) -> list[list[float]]:
        seen.append((texts, model))
        return [[1.0, 0.0, 0.0] for _ in texts]

    settings = Settings(semantic_mode="on", semantic_embedder="upstream", semantic_embedding_model="emb-x")
    matcher = build_semantic_matcher(settings, upstream_embed=upstream)
    assert isinstance(matcher, DefaultSemanticMatcher)
    matcher.remember(P1, "hello there", KEY1, NOW + 60)
    assert seen == [(["hello there"], "emb-x")]


def test_given_an_entry_when_asking_a_near_duplicate_in_its_partition_then_it_is_a_hit(
    matcher: DefaultSemanticMatcher,
) -> None:
    matcher.remember(P1, CACHED, KEY1, NOW + 60)
    hit = matcher.lookup(P1, ASKED, 0.8, NOW)
    assert isinstance(hit, SemanticCandidate)
    assert hit.key == KEY1 and hit.cached_text == CACHED and 0.8 <= hit.similarity <= 1.0


def test_given_an_entry_when_asking_the_same_text_in_another_partition_then_never_a_hit(
    matcher: DefaultSemanticMatcher,
) -> None:
    matcher.remember(P1, CACHED, KEY1, NOW + 60)
    assert matcher.lookup(P2, CACHED, 0.5, NOW) is None
    matcher.remember(P2, "something else entirely about cats", KEY2, NOW + 60)
    decision = matcher.decide(P2, CACHED, 0.0, NOW, verify=False)
    assert decision.best is not None and decision.best.key == KEY2  # P1's entry is never even seen


def test_given_an_expired_entry_when_asking_then_it_is_not_served(matcher: DefaultSemanticMatcher) -> None:
    matcher.remember(P1, CACHED, KEY1, NOW + 10)
    assert matcher.lookup(P1, ASKED, 0.8, NOW + 9) is not None
    assert matcher.lookup(P1, ASKED, 0.8, NOW + 10) is None
    assert matcher.lookup(P1, ASKED, 0.8, NOW + 11) is None


def test_given_an_expired_nearest_and_a_live_farther_entry_when_asking_then_the_live_one_is_considered(
    matcher: DefaultSemanticMatcher,
) -> None:
    matcher.remember(P1, CACHED, KEY1, NOW - 1)  # expired, nearest
    matcher.remember(P1, "How do I reset my router password", KEY2, NOW + 60)
    decision = matcher.decide(P1, ASKED, 0.5, NOW, verify=False)
    assert decision.best is not None and decision.best.key == KEY2
    assert decision.candidate is not None and decision.candidate.key == KEY2


def test_given_an_entry_when_forgetting_its_key_then_it_no_longer_matches(matcher: DefaultSemanticMatcher) -> None:
    matcher.remember(P1, CACHED, KEY1, NOW + 60)
    matcher.remember(P2, CACHED, KEY1, NOW + 60)
    matcher.forget(KEY1)
    assert matcher.lookup(P1, ASKED, 0.5, NOW) is None
    assert matcher.lookup(P2, ASKED, 0.5, NOW) is None


def test_given_a_hit_at_the_default_when_the_request_raises_the_threshold_then_it_misses(
    matcher: DefaultSemanticMatcher,
) -> None:
    matcher.remember(P1, CACHED, KEY1, NOW + 60)
    hit = matcher.lookup(P1, ASKED, 0.8, NOW)
    assert hit is not None
    assert matcher.lookup(P1, ASKED, min(1.0, hit.similarity + 0.01), NOW) is None


def test_given_a_number_changed_when_asking_then_the_verifier_rejects_the_neighbour(
    matcher: DefaultSemanticMatcher,
) -> None:
    matcher.remember(P1, "What are good watches for men under $200", KEY1, NOW + 60)
    assert matcher.lookup(P1, "What are good watches for men under $250", 0.5, NOW) is None
    decision = matcher.decide(P1, "What are good watches for men under $250", 0.5, NOW)
    assert decision.verdict is not None and "numbers differ" in decision.verdict.reasons


def test_given_two_near_twin_entries_when_asking_between_them_then_ambiguity_is_a_miss(
    matcher: DefaultSemanticMatcher,
) -> None:
    matcher.remember(P1, "best laptop for students under budget", KEY1, NOW + 60)
    matcher.remember(P1, "best laptop for students under budget today", KEY2, NOW + 60)
    decision = matcher.decide(P1, "best laptop for students under budget now", 0.5, NOW)
    assert decision.candidate is None
    assert decision.verdict is not None and any(r.startswith("ambiguous") for r in decision.verdict.reasons)


def test_given_the_embedder_is_down_when_looking_up_or_remembering_then_semantic_unavailable(
    bow: Any, index: Any
) -> None:
    matcher = DefaultSemanticMatcher(bow, index)
    bow.fail = True
    with pytest.raises(SemanticUnavailable):
        matcher.lookup(P1, ASKED, 0.8, NOW)
    with pytest.raises(SemanticUnavailable):
        matcher.remember(P1, CACHED, KEY1, NOW + 60)


class BrokenClient:
    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("qdrant unreachable (test)")

        return fail


def test_given_the_index_is_down_when_any_operation_then_semantic_unavailable(bow: Any) -> None:
    matcher = DefaultSemanticMatcher(bow, QdrantIndex(client=BrokenClient()))
    with pytest.raises(SemanticUnavailable):
        matcher.remember(P1, CACHED, KEY1, NOW + 60)
    with pytest.raises(SemanticUnavailable):
        matcher.lookup(P1, ASKED, 0.8, NOW)
    with pytest.raises(SemanticUnavailable):
        matcher.forget(KEY1)


def test_given_an_unreachable_qdrant_server_when_looking_up_then_semantic_unavailable(bow: Any) -> None:
    index = QdrantIndex(url="http://127.0.0.1:9", timeout=1)  # discard port: nothing listens
    with pytest.raises(SemanticUnavailable):
        DefaultSemanticMatcher(bow, index).lookup(P1, ASKED, 0.8, NOW)


def test_given_the_upstream_embeddings_fail_or_lie_when_embedding_then_semantic_unavailable() -> None:
    def down(texts: list[str], model: str) -> list[list[float]]:
        raise TimeoutError("provider timed out")

    with pytest.raises(SemanticUnavailable):
        UpstreamEmbedder(down, "m").embed(["x"])
    with pytest.raises(SemanticUnavailable):
        UpstreamEmbedder(lambda texts, model: [], "m").embed(["x"])
    with pytest.raises(SemanticUnavailable):
        UpstreamEmbedder(lambda texts, model: [[float("nan")]], "m").embed(["x"])


def test_given_a_repeated_query_when_embedding_upstream_then_it_is_embedded_once() -> None:
    calls: list[list[str]] = []

    def upstream(texts: list[str], model: str) -> list[list[float]]:
        calls.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]

    embedder = CachingEmbedder(UpstreamEmbedder(upstream, "m"), max_entries=2)
    assert embedder.embed(["a", "bb"]) == [[1.0, 1.0], [2.0, 1.0]]
    assert embedder.embed(["bb", "a"]) == [[2.0, 1.0], [1.0, 1.0]]
    assert calls == [["a", "bb"]]
    embedder.embed(["ccc"])  # evicts the least recently used ("bb")
    embedder.embed(["bb"])
    assert calls[-1] == ["bb"]


def test_given_a_bedrock_client_when_embedding_then_titan_is_invoked_per_text() -> None:
    import io
    import json

    from llmcache.semantic.embedders import BedrockEmbedder

    class FakeBedrock:
        def __init__(self) -> None:
            self.bodies: list[dict[str, Any]] = []

        def invoke_model(self, **kwargs: Any) -> dict[str, Any]:
            assert kwargs["modelId"] == "amazon.titan-embed-text-v2:0"
            self.bodies.append(json.loads(kwargs["body"]))
            return {"body": io.BytesIO(json.dumps({"embedding": [0.6, 0.8]}).encode())}

    fake = FakeBedrock()
    assert BedrockEmbedder(client=fake).embed(["x", "y"]) == [[0.6, 0.8], [0.6, 0.8]]
    assert [b["inputText"] for b in fake.bodies] == ["x", "y"]

    class Down:
        def invoke_model(self, **kwargs: Any) -> Any:
            raise RuntimeError("AccessDeniedException")

    with pytest.raises(SemanticUnavailable):
        BedrockEmbedder(client=Down()).embed(["x"])
