"""The decision after the cosine gate: pair model (when asked), then the kept rules; reasons by kind."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from llmcache.semantic.index import QdrantIndex
from llmcache.semantic.matcher import DefaultSemanticMatcher
from llmcache.semantic.pair_verifier import KEPT_RULES, PAIR_CUT, PairVerifier, reason_kind


class FakePairModel:
    def __init__(self, probability: float) -> None:
        self.probability = probability
        self.asked: list[tuple[str, str]] = []

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        self.asked.extend(pairs)
        return [self.probability for _ in pairs]

    def score(self, query: str, cached: str) -> float:
        return self.scores([(query, cached)])[0]


def test_given_the_shipped_settings_when_verifying_then_the_pair_model_decides_and_the_kept_rules_apply() -> None:
    assert PAIR_CUT == 0.8 and frozenset({"ambiguous", "negation differs"}) == KEPT_RULES
    doubting, sure = FakePairModel(0.79), FakePairModel(0.81)
    verdict = PairVerifier(model=doubting).verify("How can I learn guitar?", "How do I learn guitar?", 0.95)
    assert not verdict.accepted and [reason_kind(r) for r in verdict.reasons] == ["pair model"]
    assert PairVerifier(model=sure).verify("How can I learn guitar?", "How do I learn guitar?", 0.95).accepted
    assert doubting.asked == sure.asked == [("How can I learn guitar?", "How do I learn guitar?")]
    # a kept rule rejects whatever the model says; a dropped one (names: the model decides those) does not
    negated = PairVerifier(model=FakePairModel(1.0)).verify("Can I eat raw eggs?", "Can I not eat raw eggs?", 0.95)
    assert not negated.accepted and [reason_kind(r) for r in negated.reasons] == ["negation differs"]
    assert PairVerifier(model=sure).verify("Is Albany the capital?", "Is Merced the capital?", 0.95).accepted


def test_given_a_pair_cut_when_the_model_doubts_then_the_rejection_names_the_pair_model() -> None:
    verifier = PairVerifier(model=FakePairModel(0.2), cut=0.5)
    verdict = verifier.verify("How can I learn guitar?", "How do I learn guitar?", 0.95)
    assert not verdict.accepted and [reason_kind(r) for r in verdict.reasons] == ["pair model"]
    assert "guitar" not in verdict.reasons[0]
    assert (
        PairVerifier(model=FakePairModel(0.8), cut=0.5)
        .verify("How can I learn guitar?", "How do I learn guitar?", 0.95)
        .accepted
    )


def test_given_a_rule_not_kept_when_it_objects_then_the_candidate_is_still_accepted() -> None:
    only_numbers = PairVerifier(model=FakePairModel(0.9), cut=0.5, rules=frozenset({"numbers differ"}))
    assessment = only_numbers.assess("Is Albany the capital of New York?", "Is Merced the capital of New York?", 0.95)
    assert "names differ" in assessment.rule_kinds and assessment.pair_score == 0.9
    assert only_numbers.decide(assessment).accepted


def test_given_a_rejected_candidate_when_the_matcher_logs_it_then_only_the_kind_is_logged(
    bow: Any, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = PairVerifier(model=FakePairModel(0.1), rules=frozenset({"names differ"}))
    matcher = DefaultSemanticMatcher(bow, QdrantIndex(prefix="pairlog"), verifier)
    matcher.remember("p" * 64, "Is Albany the capital of New York state", "1" * 64, 2e9)
    with caplog.at_level(logging.DEBUG, logger="llmcache.semantic"):
        assert matcher.lookup("p" * 64, "Is Merced the capital of New York state", 0.5, 1.7e9) is None
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "names differ" in logged and "pair model" in logged
    assert "albany" not in logged.lower() and "merced" not in logged.lower()
