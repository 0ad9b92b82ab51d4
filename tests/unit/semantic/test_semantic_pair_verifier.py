"""The decision after the cosine gate: pair model (when asked), then the kept rules; reasons by kind."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from llmcache.semantic.exact_index import ExactIndex
from llmcache.semantic.matcher import DefaultSemanticMatcher
from llmcache.semantic.pair_verifier import KEPT_RULES, VETOES, PairVerifier, reason_kind


class FakePairModel:
    def __init__(self, probability: float) -> None:
        self.probability = probability
        self.asked: list[tuple[str, str]] = []

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        self.asked.extend(pairs)
        return [self.probability for _ in pairs]

    def score(self, query: str, cached: str) -> float:
        return self.scores([(query, cached)])[0]


def test_given_the_shipped_settings_when_verifying_then_vetoes_and_kept_rules_decide_before_the_pair_model() -> None:
    assert frozenset({"ambiguous"}) == KEPT_RULES and "number differs" in VETOES and "name differs" in VETOES
    doubting, sure = FakePairModel(0.1), FakePairModel(0.99)
    verdict = PairVerifier(model=doubting, cut=0.8).verify("How can I learn guitar?", "How do I learn guitar?", 0.95)
    assert not verdict.accepted and [reason_kind(r) for r in verdict.reasons] == ["pair model"]
    accepted = PairVerifier(model=sure, cut=0.8).verify("How can I learn guitar?", "How do I learn guitar?", 0.95)
    assert accepted.accepted and accepted.pair_score == 0.99
    assert doubting.asked == sure.asked == [("How can I learn guitar?", "How do I learn guitar?")]
    # a veto refuses whatever the model says, and the model is not even asked (a miss costs no model call)
    confident = FakePairModel(1.0)
    vetoed = PairVerifier(model=confident, cut=0.8).verify("Is Albany the capital?", "Is Merced the capital?", 0.95)
    assert not vetoed.accepted and [reason_kind(r) for r in vetoed.reasons] == ["name differs"]
    assert vetoed.pair_score is None and confident.asked == []


def test_given_vetoes_turned_off_when_verifying_then_the_pair_model_decides_alone() -> None:
    verifier = PairVerifier(model=FakePairModel(0.9), cut=0.8, vetoes=frozenset())
    assert verifier.verify("Is Albany the capital?", "Is Merced the capital?", 0.95).accepted


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
    only_numbers = PairVerifier(
        model=FakePairModel(0.9), cut=0.5, rules=frozenset({"numbers differ"}), vetoes=frozenset()
    )
    assessment = only_numbers.assess("Is Albany the capital of New York?", "Is Merced the capital of New York?", 0.95)
    assert "names differ" in assessment.rule_kinds and "name differs" in assessment.veto_kinds
    assert assessment.pair_score == 0.9 and only_numbers.decide(assessment).accepted


def test_given_a_rejected_candidate_when_the_matcher_logs_it_then_only_the_kind_is_logged(
    bow: Any, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = PairVerifier(model=FakePairModel(0.1))
    matcher = DefaultSemanticMatcher(bow, ExactIndex(), verifier)
    matcher.remember("p" * 64, "Is Albany the capital of New York state", "1" * 64, 2e9)
    with caplog.at_level(logging.DEBUG, logger="llmcache.semantic"):
        assert matcher.lookup("p" * 64, "Is Merced the capital of New York state", 0.5, 1.7e9) is None
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "name differs" in logged and "pair model" not in logged  # refused before the model ran
    assert "albany" not in logged.lower() and "merced" not in logged.lower()
