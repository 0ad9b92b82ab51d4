"""`make bench` reports medians of alternating rounds; these are the pieces that combine the rounds."""

from __future__ import annotations

from bench.common import median_merge, paired_ratio
from bench.report import build_rows


def test_given_three_rounds_when_merged_then_each_number_is_its_median_and_text_is_the_first_rounds():
    rounds = [
        {"memory_hit_us": {"p50": 70.0, "n": 5000}, "shim": "stubbed", "steps": [{"p50": 1.0}, {"p50": 9.0}]},
        {"memory_hit_us": {"p50": 90.0, "n": 5000}, "shim": "other", "steps": [{"p50": 3.0}, {"p50": 7.0}]},
        {"memory_hit_us": {"p50": 60.0, "n": 5000}, "shim": "third", "steps": [{"p50": 2.0}, {"p50": 8.0}]},
    ]
    merged = median_merge(rounds)
    assert merged == {
        "memory_hit_us": {"p50": 70.0, "n": 5000},
        "shim": "stubbed",
        "steps": [{"p50": 2.0}, {"p50": 8.0}],
    }


def test_given_a_failed_round_or_a_missing_section_when_merged_then_the_other_rounds_still_count():
    merged = median_merge([None, {"redis_hit_us": {"p50": 200.0}, "only_first": 1}, {"redis_hit_us": {"p50": 100.0}}])
    assert merged == {"redis_hit_us": {"p50": 150.0}, "only_first": 1}
    assert median_merge([None, None]) is None


def test_given_rounds_of_both_sides_when_paired_then_the_ratio_is_the_median_of_each_rounds_own():
    # Round 2 ran under load on both sides: its ratio is like the others, while the medians of each side
    # alone (70 and 600) would give a different ratio than any round showed.
    paired = paired_ratio([70.0, 140.0, 60.0], [500.0, 1000.0, 600.0])
    assert paired == {"per_round": [0.14, 0.14, 0.1], "median": 0.14}
    assert paired_ratio([70.0, None], [None, 500.0]) is None


def test_given_paired_ratios_when_the_table_is_built_then_the_hit_rows_use_them_against_the_target():
    results = {
        "rounds": {"count": 3},
        "llmcache": {"memory_hit_us": {"p50": 70.0}, "redis_hit_us": {"p50": 200.0}},
        "litellm": {"memory_hit_us": {"p50": 600.0}, "redis_hit_us": {"p50": 1000.0}},
        "paired_ratios": {"memory_hit_us.p50": {"median": 0.14}, "redis_hit_us.p50": {"median": 0.16}},
        "cold_start": {"paired_import_ratio": {"median": 0.04}, "llmcache": {"import_ms": {"p50": 300.0}}},
    }
    rows = {row["figure"]: row for row in build_rows(results)}
    memory = rows["memory tier vs Cache(local) p50"]
    assert (memory["ratio"], memory["target"], memory["met"]) == (0.14, "≤ 0.15", True)
    assert (rows["Redis tier vs Cache(redis) p50"]["ratio"], rows["Redis tier vs Cache(redis) p50"]["met"]) == (
        0.16,
        False,
    )
    assert rows["import p50 (n=None)"]["met"] is True


def test_given_a_semantic_lookup_result_when_reported_then_the_lookup_row_carries_the_15_ms_goal_and_the_veto_row():
    from bench import semantic_lookup

    timing = {"p50": 7.1, "p90": 8.6, "cpu_p50": 7.1}
    result = {"entries": 2000, "runs": 200, "cpu_flags": "avx2", "embed_ms": timing, "pair_model_ms": timing}
    result |= {"lookup_ms": timing, "vetoed_lookup_ms": {"p50": 3.2, "p90": 3.4, "cpu_p50": 3.2}}

    rows = semantic_lookup.rows({"semantic_lookup": result})

    lookup = [r for r in rows if r["figure"] == "whole lookup, embedding included, p50"]
    assert len(lookup) == 1 and lookup[0]["target"] == "≤ 15 ms" and lookup[0]["met"] is True
    assert [r["llmcache"] for r in rows if r["figure"].startswith("vetoed miss")] == [3.2]
    slow = semantic_lookup.rows({"semantic_lookup": result | {"lookup_ms": {"p50": 16.0, "p90": 20.0}}})
    assert next(r for r in slow if r["figure"] == "whole lookup, embedding included, p50")["met"] is False
    assert "avx2" in semantic_lookup.render(result)


def test_given_a_quick_run_when_its_results_are_written_then_they_go_beside_the_tracked_latest_json():
    """`make bench BENCH_ARGS=--quick` must never overwrite the figures the docs quote (issue #26)."""
    from pathlib import Path

    from bench.__main__ import QUICK_RESULTS, RESULTS, results_path

    assert results_path(None, quick=True) == QUICK_RESULTS != RESULTS
    assert QUICK_RESULTS.parent == RESULTS.parent and QUICK_RESULTS.name == "quick.json"
    assert results_path(None, quick=False) == RESULTS
    assert results_path(Path("/tmp/mine.json"), quick=True) == Path("/tmp/mine.json")  # --out still wins
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().splitlines()
    assert "bench/results/quick.json" in ignored  # a smoke run leaves the clone clean
