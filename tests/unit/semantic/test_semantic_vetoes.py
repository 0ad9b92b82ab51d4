"""The hard vetoes, one kind at a time: each answer-changing edit is refused with its kind, and the same
question in other words (or the same value written another way) is not refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcache.semantic import vetoes as v
from llmcache.semantic.vetoes import vetoes

HAND_WRITTEN = Path(v.__file__).resolve().parent / "offline" / "data" / "hand_written.jsonl"


def kinds(query: str, cached: str) -> tuple[str, ...]:
    return vetoes(query, cached)


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("How do I get a loan of 15000 dollars?", "How do I get a loan of 1500 dollars?"),
        ("Which watches can I buy under $250?", "Which watches can I buy under $200?"),
        ("Is 50 mg of melatonin safe?", "Is 5 mg of melatonin safe?"),
        ("Is 5 g of melatonin safe?", "Is 5 mg of melatonin safe?"),  # same value, another unit
        ("How much is fifteen thousand rupees in dollars?", "How much is 1500 rupees in dollars?"),
        ("Can I use a 5G phone here?", "Can I use a 4G phone here?"),
        ("What was the cause of World War II?", "What was the cause of World War I?"),
    ],
)
def test_given_a_changed_number_or_quantity_when_vetoing_then_number_differs(query: str, cached: str) -> None:
    assert v.NUMBER in kinds(query, cached)


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("How do I get a loan of $15,000?", "How do I get a loan of 15k dollars?"),
        ("Is fifteen thousand dollars enough?", "Is 15000 dollars enough?"),
        ("Is $3.50 a fair price for coffee?", "Is $3.5 a fair price for coffee?"),
    ],
)
def test_given_one_value_written_two_ways_when_vetoing_then_no_number_veto(query: str, cached: str) -> None:
    assert v.NUMBER not in kinds(query, cached)


def test_given_a_changed_year_month_or_day_when_vetoing_then_date_differs() -> None:
    assert v.DATE in kinds("Who won the World Cup in 2022?", "Who won the World Cup in 2018?")
    assert v.DATE in kinds("What is the weather tomorrow in Paris?", "What is the weather today in Paris?")
    assert v.DATE in kinds("Are banks open on Sunday in Berlin?", "Are banks open on Saturday in Berlin?")
    assert v.DATE in kinds("What happened in June 2020?", "What happened in July 2020?")
    assert kinds("What happened in Jan 2020?", "What happened in January 2020?") == ()


def test_given_a_changed_version_when_vetoing_then_version_differs() -> None:
    assert kinds("What is new in Python 3.12?", "What is new in Python 3.11?") == (v.VERSION,)
    assert v.VERSION in kinds("How do I upgrade to v2 of the API?", "How do I upgrade to v3 of the API?")
    assert v.VERSION in kinds("Is node 18.2.0 stable?", "Is node 18.1.0 stable?")


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("What is the phone number of Priya Ramaswamy?", "What is the phone number of Priya Raman?"),
        ("What is the email of John Andersen?", "What is the email of John Anderson?"),
        ("What is the capital of Australia?", "What is the capital of Austria?"),
        ("Which is better for a startup, AWS or GCP?", "Which is better for a startup, AWS or Azure?"),
    ],
)
def test_given_a_changed_or_near_name_when_vetoing_then_name_differs(query: str, cached: str) -> None:
    assert v.NAME in kinds(query, cached)


def test_given_the_same_name_in_another_case_or_a_headline_when_vetoing_then_no_name_veto() -> None:
    assert kinds("How do I learn python quickly?", "How do I learn Python quickly?") == ()
    assert kinds("What Is The Best Way To Learn Cooking?", "What is the best way to learn cooking?") == ()
    assert kinds("Priya's phone number please", "What is Priya's phone number?") == ()


def test_given_swapped_ends_of_a_direction_when_vetoing_then_direction_differs() -> None:
    assert kinds("Cheapest flight from Boston to Denver?", "Cheapest flight from Denver to Boston?") == (v.DIRECTION,)
    assert kinds("Is Java faster than Python?", "Is Python faster than Java?") == (v.DIRECTION,)
    assert kinds("How do I convert Fahrenheit to Celsius?", "How do I convert Celsius to Fahrenheit?") == (v.DIRECTION,)
    # the same words reordered without a directional word between them: a paraphrase, not a direction
    assert v.DIRECTION not in kinds("Where can I listen to good music online?", "Online, where can I listen to music?")


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("Sort a list in descending order in Python", "Sort a list in ascending order in Python"),
        ("Side effects of decreasing the dose of metformin", "Side effects of increasing the dose of metformin"),
        ("Which is the most expensive hotel in Rome?", "Which is the cheapest hotel in Rome?"),
        ("How do I find the minimum of a column?", "How do I find the maximum of a column?"),
        ("Should I eat after a run?", "Should I eat before a run?"),
        ("Is it better to buy or rent?", "Is it worse to buy or rent?"),
        ("Which stocks are above their average?", "Which stocks are below their average?"),
        ("What are the pros of remote work?", "What are the pros and cons of remote work?"),
    ],
)
def test_given_an_opposite_word_when_vetoing_then_comparison_differs(query: str, cached: str) -> None:
    assert v.COMPARISON in kinds(query, cached)


def test_given_a_negation_added_or_removed_when_vetoing_then_negation_differs() -> None:
    assert kinds("Why doesn't my car start in the cold?", "Why does my car start in the cold?") == (v.NEGATION,)
    assert kinds("Can I take ibuprofen without food?", "Can I take ibuprofen with food?") == (v.NEGATION,)
    assert kinds("Is it not safe to swim here?", "Is it safe to swim here?") == (v.NEGATION,)
    assert kinds("Why can't I sleep at night?", "Why can I not sleep at night?") == ()  # negated on both sides


def test_given_paraphrases_when_vetoing_then_nothing_is_refused() -> None:
    for query, cached in [
        ("How can I learn guitar?", "How do I learn guitar?"),
        ("What is the best way to lose weight?", "How can I lose weight fast?"),
        ("How do I reset my router password?", "How can I reset the password of my router?"),
    ]:
        assert kinds(query, cached) == (), (query, cached)


def test_given_the_hand_written_pairs_when_vetoing_then_every_one_is_refused_with_its_kind() -> None:
    expected = {"number": {v.NUMBER}, "date": {v.DATE, v.VERSION}, "entity": {v.NAME}}
    expected |= {"direction": {v.DIRECTION}, "comparison": {v.COMPARISON}, "negation": {v.NEGATION}}
    rows = [json.loads(line) for line in HAND_WRITTEN.read_text().splitlines() if line.strip()]
    assert len(rows) == 20
    for row in rows:
        assert set(kinds(row["b"], row["a"])) & expected[row["kind"]], row


def test_given_a_pair_when_vetoing_then_it_is_fast_and_says_kinds_only() -> None:
    found = kinds("What is the phone number of Priya Ramaswamy?", "What is the phone number of Priya Raman?")
    assert found and all(kind in v.KINDS for kind in found)
    assert not any("priya" in kind.lower() or "raman" in kind.lower() for kind in found)
