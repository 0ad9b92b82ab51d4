"""The verifier's guards, one rule at a time, on pairs of the kind found in Quora duplicates."""

from __future__ import annotations

import pytest

from llmcache.semantic.verifier import Verifier

V = Verifier()


@pytest.mark.parametrize(
    ("query", "cached", "reason"),
    [
        ("What are some good men's watches under $250?", "What are good watches for men under $200?", "numbers differ"),
        (
            "How long did it take you to get 1,000 followers?",
            "How long did it take you to get 9,000 followers?",
            "numbers differ",
        ),
        ("Is Terminator 1 better than the sequel?", "Is Terminator 3 better than the sequel?", "numbers differ"),
        ("Why don't cats like water?", "Why do cats like water?", "negation differs"),
        ("Can I travel to Japan without a visa?", "Can I travel to Japan with a visa?", "negation differs"),
        (
            "Which solar panel installer is good in Albany, California?",
            "Which solar panel installer is good in Merced, California?",
            "names differ",
        ),
        (
            "How do tourist attractions in Norway compare to Slovenia?",
            "How do tourist attractions in Norway compare to Albania?",
            "names differ",
        ),
        ("Why is Jackie Chan so humble?", "Is Jackie Chan humble?", "question type differs"),
    ],
)
def test_given_a_meaning_changing_difference_when_verifying_then_rejected_with_its_reason(
    query: str, cached: str, reason: str
) -> None:
    verdict = V.verify(query, cached, 0.95)
    assert not verdict.accepted
    assert any(r.startswith(reason) for r in verdict.reasons), verdict.reasons


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("How can I stop watching porn?", "How shall I stop watching porn?"),
        ("What are the new features of iPhone 7?", "What are some features of the new iPhone 7?"),
        ("How do I become more spiritual?", "How can I become spiritual?"),
        ("What are the seven levels of hell according to Dante?", "According to Dante, what are the 7 levels of hell?"),
        (
            "Can I get arrested for downloading a movie torrent in India?",
            "Can I get arrested for downloading movies from torent in india?",
        ),
        ("How can I improve my English writing skills?", "What should I do to improve my English writing skill?"),
        ("Who will win World War III?", "Who will win world war three?"),
    ],
)
def test_given_a_paraphrase_when_verifying_then_accepted(query: str, cached: str) -> None:
    verdict = V.verify(query, cached, 0.95, runner_up=0.5, twin=0.5)
    assert verdict.accepted, verdict.reasons


def test_given_a_close_runner_up_when_verifying_then_rejected_as_ambiguous() -> None:
    verdict = V.verify("How do I learn Python?", "How can I learn Python?", 0.95, runner_up=0.93)
    assert not verdict.accepted and verdict.reasons[0].startswith("ambiguous")


def test_given_a_candidate_with_a_near_twin_when_verifying_then_rejected_as_ambiguous() -> None:
    verdict = V.verify("How do I learn Python?", "How can I learn Python?", 0.95, runner_up=0.7, twin=0.9)
    assert not verdict.accepted and "near-twin" in verdict.reasons[0]


def test_given_a_clear_margin_when_verifying_then_not_ambiguous() -> None:
    assert V.verify("How do I learn Python?", "How can I learn Python?", 0.95, runner_up=0.8, twin=0.8).accepted


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("Who wrote Hamlet?", "who wrote hamlet?"),
        ("Is NASA's budget growing?", "Is the NASA budget growing?"),
        ("What do the Smiths sing?", "What does the Smith sing?"),
    ],
)
def test_given_the_same_name_up_to_case_plural_or_possessive_when_verifying_then_accepted(
    query: str, cached: str
) -> None:
    assert V.verify(query, cached, 0.95).accepted


def test_given_many_pairs_when_verifying_then_each_takes_well_under_a_millisecond() -> None:
    import time

    pairs = [
        (f"How do I cook rice number {i} in a pan?", f"What is the way to cook rice {i} in a pot?") for i in range(500)
    ]
    started = time.perf_counter()
    for q, c in pairs:
        V.verify(q, c, 0.95, 0.5, 0.5)
    assert (time.perf_counter() - started) / len(pairs) < 0.002
