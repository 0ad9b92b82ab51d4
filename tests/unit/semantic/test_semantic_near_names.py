"""Semantic matching never takes a near name for another, and its logs name reasons, never prompt words."""

from __future__ import annotations

import logging
import time

import pytest

from llmcache.semantic.exact_index import ExactIndex
from llmcache.semantic.matcher import DefaultSemanticMatcher
from llmcache.semantic.pair_verifier import PairVerifier
from llmcache.semantic.verifier import Verifier


# ----- 4 and 7. near names are different people, and no prompt words in reasons or logs -------------------
@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("What is the phone number of Priya Raman?", "What is the phone number of Priya Ramaswamy?"),
        ("Where does John Anderson live?", "Where does John Andersen live?"),
        ("How old is Maria Gonzalez?", "How old is Maria Gonzales?"),
    ],
)
def test_given_two_near_but_different_names_when_the_shipped_decision_verifies_then_never_accepted(
    query: str, cached: str
) -> None:
    # the shipped decision (vetoes, kept rules, pair model), with a pair model sure they are the same
    sure = ConfidentPairModel()
    verdict = PairVerifier(model=sure).verify(query, cached, 0.99)
    assert not verdict.accepted and verdict.reasons == ("name differs",)
    assert sure.asked == 0  # refused before the model runs
    assert Verifier().verify(query, cached, 0.99).reasons == ("names differ",)  # the old rule agrees


class ConfidentPairModel:
    asked = 0

    def score(self, query: str, cached: str) -> float:
        self.asked += 1
        return 1.0


class FixedVectorEmbedder:
    name = "fixed"

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0] for _ in texts]


def test_given_debug_logging_when_a_candidate_is_rejected_then_the_log_names_the_reason_kind_not_the_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    matcher = DefaultSemanticMatcher(FixedVectorEmbedder(), ExactIndex())
    matcher.remember("p", "Who founded Vogt Industries?", "k" * 64, time.time() + 60)

    with caplog.at_level(logging.DEBUG, logger="llmcache"):
        found = matcher.lookup("p", "Who founded Voigtlander Industries?", 0.5, time.time())

    assert found is None
    assert "names differ" in caplog.text
    assert "vogt" not in caplog.text.lower() and "voigtlander" not in caplog.text.lower()
