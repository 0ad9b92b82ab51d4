"""The evaluation: its scoring rules (with a fake embedder) and, with the real model, its last line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmcache.semantic.evaluate import Observation, cross_validate, evaluate, main, sweep
from llmcache.semantic.index import QdrantIndex
from llmcache.semantic.matcher import DefaultSemanticMatcher

ROWS = [
    {
        "a": "How do I reset my router password at home",
        "b": "How do I reset my router password at home please",
        "label": 1,
    },
    {"a": "What is the capital city of France", "b": "What is the capital city of France today", "label": 0},
    {"a": "Best pizza dough recipe with yeast", "b": "A completely unrelated question about tax forms", "label": 1},
]


def test_given_rows_when_evaluating_then_own_label1_hits_are_correct_and_label0_hits_are_false(bow: Any) -> None:
    matcher = DefaultSemanticMatcher(bow, QdrantIndex(prefix="evaltest"))
    result = evaluate(ROWS, 0.8, matcher=matcher)
    for side in ("cosine", "verified"):
        s = result[side]
        assert s["hits"] == 2 and s["false_hits"] == 1  # row 1 correct, row 2 a false hit, row 3 a miss
        assert s["precision"] == 0.5 and s["recall"] == 0.5 and s["false_hit_rate"] == 1.0
    assert result["rows"] == 3 and result["threshold"] == 0.8


@pytest.mark.semantic
def test_given_a_small_file_when_running_the_module_then_the_last_line_is_the_json_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], local_embedder: Any
) -> None:
    data = tmp_path / "pairs.jsonl"
    rows = [
        {"a": "How can I learn to play the guitar?", "b": "How do I learn to play guitar?", "label": 1},
        {"a": "What are good watches for men under $200?", "b": "What are good men's watches under $250?", "label": 0},
        {"a": "What is the boiling point of water?", "b": "Who painted the Mona Lisa?", "label": 0},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main([str(data), "--threshold", "0.8"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert {"precision", "recall", "false_hit_rate", "threshold", "rows", "seconds"} <= summary.keys()
    assert summary["rows"] == 3 and summary["threshold"] == 0.8
    assert summary["false_hit_rate"] == 0.0 and summary["recall"] == 1.0
    assert any(line.startswith("cosine alone") for line in lines)
    assert any(line.startswith("cosine + verifier") for line in lines)


@pytest.mark.semantic
def test_given_the_local_model_when_matching_then_paraphrase_hits_and_changed_number_misses(
    local_embedder: Any,
) -> None:
    matcher = DefaultSemanticMatcher(local_embedder, QdrantIndex(prefix="localtest"))
    now = 1_700_000_000.0
    matcher.remember("p" * 64, "How can I learn to play the guitar?", "1" * 64, now + 60)
    matcher.remember("p" * 64, "What are good watches for men under $200?", "2" * 64, now + 60)
    hit = matcher.lookup("p" * 64, "How do I learn to play guitar?", 0.85, now)
    assert hit is not None and hit.key == "1" * 64
    assert matcher.lookup("p" * 64, "What are good watches for men under $250?", 0.85, now) is None
    assert matcher.lookup("q" * 64, "How do I learn to play guitar?", 0.0, now) is None


def test_given_observations_when_cross_validating_then_each_fold_picks_its_threshold_on_the_others() -> None:
    # label-1 rows whose own entry is nearest at 0.95 (accepted), label-0 rows with a false candidate at 0.88:
    # every training split shows that 0.89+ keeps all correct hits and drops every false one.
    observations = [Observation(1, True, 0.95, True) for _ in range(20)]
    observations += [Observation(0, True, 0.88, True) for _ in range(20)]
    observations += [Observation(1, False, None, False) for _ in range(5)]  # empty partition: a miss
    held_out = cross_validate(observations, folds=5)
    assert held_out["folds"] == 5 and len(held_out["thresholds"]) == 5
    assert all(0.88 < t <= 0.95 for t in held_out["thresholds"])
    assert held_out["precision"] == 1.0 and held_out["precision_sd"] == 0.0
    assert 0.7 <= held_out["recall"] <= 0.9


def test_given_rows_when_evaluating_with_folds_then_a_held_out_estimate_is_reported(bow: Any) -> None:
    matcher = DefaultSemanticMatcher(bow, QdrantIndex(prefix="evalfolds"))
    rows = ROWS * 4
    result = evaluate(rows, 0.8, matcher=matcher, folds=2)
    assert result["held_out"] is not None and result["held_out"]["folds"] == 2
    assert (
        evaluate(ROWS, 0.8, matcher=DefaultSemanticMatcher(bow, QdrantIndex(prefix="evalnofolds")), folds=0)["held_out"]
        is None
    )


def test_given_observations_when_sweeping_then_each_threshold_scores_cosine_alone_and_with_the_verifier() -> None:
    observations = [Observation(1, True, 0.95, True) for _ in range(6)]  # correct, accepted
    observations += [Observation(0, True, 0.93, False) for _ in range(2)]  # false, rejected by the verifier
    observations += [Observation(1, False, 0.85, True) for _ in range(2)]  # nearest is another row's entry
    table = {row["threshold"]: row for row in sweep(observations, grid=(0.84, 0.90, 0.96))}
    assert table[0.84]["cosine_hits"] == 10 and table[0.84]["cosine_precision"] == 0.6
    assert table[0.84]["verified_hits"] == 8 and table[0.84]["verified_precision"] == 0.75
    assert table[0.90]["cosine_precision"] == 0.75 and table[0.90]["verified_precision"] == 1.0
    assert table[0.90]["verified_recall"] == 0.75  # 6 of the 8 label-1 rows
    assert table[0.96]["verified_hits"] == 0 and table[0.96]["verified_recall"] == 0.0


def test_given_a_hit_on_another_rows_entry_when_evaluating_then_it_is_counted_as_such(bow: Any) -> None:
    rows = [*ROWS, {"a": "Cheap flights to Lisbon in May", "b": "What is the capital city of France today", "label": 1}]
    result = evaluate(rows, 0.8, matcher=DefaultSemanticMatcher(bow, QdrantIndex(prefix="evalother")), folds=0)
    # row 2's b is nearest to its own a (a label-0 false hit); row 4 asks the same b, so its hit is on row 2's a
    assert result["cosine"]["false_hits"] == 2 and result["cosine"]["false_hits_on_other_entries"] == 1
    assert [r["threshold"] for r in result["sweep"]][:2] == [0.8, 0.82]
