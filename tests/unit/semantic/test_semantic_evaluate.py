"""The evaluation: its scoring rule (with a fake embedder and a fake pair model) and, with the real
models, its printed table and last line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from llmcache.semantic.exact_index import ExactIndex
from llmcache.semantic.matcher import DefaultSemanticMatcher
from llmcache.semantic.offline.evaluate import (
    COSINE,
    PAIR,
    RULES,
    Observation,
    cross_validate,
    evaluate,
    fold,
    main,
    score,
    shipped,
    sweep,
)

ROWS = [
    {
        "a": "How do I reset my router password at home",
        "b": "How do I reset my router password at home please",
        "label": 1,
    },
    {"a": "What is the capital city of France", "b": "What is the capital city of France today", "label": 0},
    {"a": "Best pizza dough recipe with yeast", "b": "A completely unrelated question about tax forms", "label": 1},
]


class FixedPairModel:
    """A fake pair model: the same probability for every pair, or per cached text."""

    def __init__(self, default: float = 0.99, by_cached: dict[str, float] | None = None) -> None:
        self.default = default
        self.by_cached = by_cached or {}

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return [self.by_cached.get(cached, self.default) for _, cached in pairs]

    def score(self, query: str, cached: str) -> float:
        return self.scores([(query, cached)])[0]


def _evaluate(bow: Any, rows: list[dict[str, Any]], prefix: str, **kwargs: Any) -> dict[str, Any]:
    matcher = DefaultSemanticMatcher(bow, ExactIndex())
    kwargs.setdefault("pair_model", FixedPairModel())
    kwargs.setdefault("folds", 0)
    return evaluate(rows, 0.8, matcher=matcher, **kwargs)


def test_given_rows_when_evaluating_then_own_label1_hits_are_correct_and_label0_hits_are_false(bow: Any) -> None:
    result = _evaluate(bow, ROWS, "evaltest", timed=2)
    for name in (COSINE.name, RULES.name, shipped().name):
        s = result["methods"][name]
        assert s["hits"] == 2 and s["false_hits"] == 1  # row 1 correct, row 2 a false hit, row 3 a miss
        assert s["precision"] == 0.5 and s["recall"] == 0.5 and s["false_hit_rate"] == 1.0
    assert result["rows"] == 3 and result["threshold"] == 0.8
    assert result["timing"]["lookups"] == 2 and result["timing"]["p50_ms"] > 0


def test_given_a_pair_model_rejecting_a_candidate_when_evaluating_then_only_the_paths_asking_it_drop_it(
    bow: Any,
) -> None:
    model = FixedPairModel(by_cached={"What is the capital city of France": 0.1})
    result = _evaluate(bow, ROWS, "evalpair", pair_model=model, timed=0)
    assert result["methods"][COSINE.name]["false_hits"] == 1
    with_pair = result["methods"][PAIR.name]
    assert with_pair["hits"] == 1 and with_pair["false_hits"] == 0 and with_pair["precision"] == 1.0
    assert with_pair["recall"] == 0.5
    assert result["methods"][RULES.name]["false_hits"] == 1  # the old rule path does not ask the pair model
    assert result["methods"][shipped().name]["false_hits"] == 0  # the shipped one does (PAIR_CUT is set)
    assert [c["hits"] for c in result["cuts"]][:1] == [1]


def test_given_texts_differing_in_case_spaces_and_end_punctuation_when_folding_then_they_are_equal() -> None:
    assert fold("How do I  post a question in Quora?") == fold("how do i post a question in quora ?!")
    assert fold("Why is the sky blue?") != fold("Why is the sea blue?")


def test_given_a_hit_on_another_row_asking_the_same_question_when_scoring_then_it_is_correct(bow: Any) -> None:
    rows = [
        {"a": "How do I post a question in Quora?", "b": "Zebra migration patterns explained", "label": 0},
        {"a": "What is a good laptop for students", "b": "how do i post a question in quora", "label": 0},
    ]
    result = _evaluate(bow, rows, "evalsame", timed=0)
    s = result["methods"][COSINE.name]
    # row 2's b is row 1's a after folding: serving that answer is right, whatever row 2's label says
    assert s["hits"] == 1 and s["false_hits"] == 0 and s["precision"] == 1.0 and s["false_hit_rate"] == 0.0


@pytest.mark.semantic
def test_given_a_small_file_when_running_the_module_then_the_table_and_the_json_summary_are_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "pairs.jsonl"
    rows = [
        {"a": "How can I learn to play the guitar?", "b": "How do I learn to play guitar?", "label": 1},
        {"a": "What are good watches for men under $200?", "b": "What are good men's watches under $250?", "label": 0},
        {"a": "What is the boiling point of water?", "b": "Who painted the Mona Lisa?", "label": 0},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main([str(data), "--threshold", "0.8", "--folds", "0", "--timed", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert {
        "precision",
        "recall",
        "false_hit_rate",
        "threshold",
        "rows",
        "seconds",
        "cosine",
        "rules",
    } <= summary.keys()
    assert summary["rows"] == 3 and summary["threshold"] == 0.8
    assert summary["false_hit_rate"] == 0.0 and summary["recall"] == 1.0
    for name in ("cosine alone", "cosine + rules (old)", "cosine + pair model"):
        assert any(line.startswith(name) for line in lines)
    assert any(line.startswith("lookup, embedding not cached") for line in lines)


@pytest.mark.semantic
def test_given_the_local_model_when_matching_then_paraphrase_hits_and_changed_number_misses(
    local_embedder: Any,
) -> None:
    from llmcache.semantic.pair_verifier import PairVerifier

    matcher = DefaultSemanticMatcher(local_embedder, ExactIndex(), PairVerifier())
    now = 1_700_000_000.0
    matcher.remember("p" * 64, "How can I learn to play the guitar?", "1" * 64, now + 60)
    matcher.remember("p" * 64, "What are good watches for men under $200?", "2" * 64, now + 60)
    hit = matcher.lookup("p" * 64, "How do I learn to play guitar?", 0.85, now)
    assert hit is not None and hit.key == "1" * 64
    assert matcher.lookup("p" * 64, "What are good watches for men under $250?", 0.85, now) is None
    assert matcher.lookup("q" * 64, "How do I learn to play guitar?", 0.0, now) is None


def _obs(
    label: int, correct: bool, similarity: float | None, kinds: frozenset[str] = frozenset(), pair: float = 0.9
) -> Observation:
    return Observation(label, correct, similarity, kinds, pair)


def test_given_observations_when_cross_validating_then_each_fold_picks_threshold_and_cut_on_the_others() -> None:
    # label-1 rows correct at 0.95 with a confident pair model; label-0 rows false at 0.88 that the pair model doubts
    observations = [_obs(1, True, 0.95, pair=0.97) for _ in range(20)]
    observations += [_obs(0, False, 0.88, pair=0.35) for _ in range(20)]
    observations += [_obs(1, False, None) for _ in range(5)]  # empty partition: a miss
    held_out = cross_validate(observations, folds=5)
    assert held_out["folds"] == 5 and len(held_out["chosen"]) == 5
    assert held_out["precision"] == 1.0 and held_out["precision_sd"] == 0.0
    assert 0.7 <= held_out["recall"] <= 0.9


def test_given_observations_when_sweeping_then_each_threshold_scores_every_method() -> None:
    observations = [_obs(1, True, 0.95) for _ in range(6)]  # correct, accepted by all
    observations += [_obs(0, False, 0.93, frozenset({"names differ"}), pair=0.2) for _ in range(2)]
    observations += [_obs(1, False, 0.85) for _ in range(2)]  # nearest is another question
    new = shipped(0.5, frozenset())
    table = {row["threshold"]: row for row in sweep(observations, (COSINE, RULES, new), grid=(0.84, 0.90, 0.96))}
    assert table[0.84][COSINE.name]["hits"] == 10 and table[0.84][COSINE.name]["precision"] == 0.6
    assert table[0.84][RULES.name]["hits"] == 8 and table[0.84][RULES.name]["precision"] == 0.75
    assert table[0.84][new.name]["hits"] == 8 and table[0.84][new.name]["precision"] == 0.75
    assert table[0.90][new.name]["precision"] == 1.0 and table[0.90][new.name]["recall"] == 0.75
    assert table[0.96][new.name]["hits"] == 0 and table[0.96][new.name]["recall"] == 0.0


def test_given_a_kept_and_a_dropped_rule_when_scoring_then_only_the_kept_one_rejects() -> None:
    observations = [_obs(0, False, 0.95, frozenset({"names differ"})), _obs(1, True, 0.95, frozenset({"ambiguous"}))]
    kept_names = shipped(0.5, frozenset({"names differ"}))
    assert (
        score(observations, kept_names, 0.9)["hits"] == 1 and score(observations, kept_names, 0.9)["precision"] == 1.0
    )
    assert score(observations, shipped(0.5, frozenset()), 0.9)["hits"] == 2
    assert score(observations, RULES, 0.9)["hits"] == 0


def test_given_vetoed_hard_negatives_when_scoring_then_this_release_refuses_them_and_counts_false_hits_by_kind() -> (
    None
):
    from llmcache.semantic.offline.evaluate import PREVIOUS

    number = Observation(0, False, 0.95, frozenset(), 0.99, True, frozenset({"number differs"}), "number")
    entity = Observation(0, False, 0.95, frozenset(), 0.99, True, frozenset(), "entity")  # nothing objects
    previous, this = score([number, entity], PREVIOUS, 0.88), score([number, entity], shipped(), 0.88)
    assert previous["false_hits_by_kind"] == {"entity": 1, "number": 1} and previous["false_hit_rate"] == 1.0
    assert this["false_hits_by_kind"] == {"entity": 1} and this["false_hit_rate"] == 0.5
