"""`llmcache stats` drawn: sparklines, bars, and the screen for a stats answer (issue #26)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from llmcache.cli.charts import bar, duration, render, sparkline


def test_given_counts_when_drawn_then_the_largest_is_a_full_block_and_zeros_the_lowest() -> None:
    assert sparkline([0, 1, 2, 4, 8]) == "▁▂▃▅█"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""


@pytest.mark.parametrize(("fraction", "drawn"), [(0.5, "█████░░░░░"), (1.0, "██████████"), (0.0, "░░░░░░░░░░")])
def test_given_a_rate_when_drawn_as_a_bar_then_its_length_is_the_share_of_the_width(fraction: float, drawn: str):
    assert bar(fraction, 10) == drawn
    assert bar(0.55, 10) == "█████▌░░░░"  # eighths of a character
    assert bar(None, 4) == "    "


@pytest.mark.parametrize(("seconds", "shown"), [(45, "45s"), (90, "1m30s"), (3600, "1h"), (93784, "1d2h")])
def test_given_seconds_when_shown_then_the_two_largest_units(seconds: int, shown: str) -> None:
    assert duration(seconds) == shown


def screen(data: dict, window: int = 3600) -> str:
    out = io.StringIO()
    Console(file=out, width=140, color_system=None).print(render(data, url="http://127.0.0.1:8080", window=window))
    return out.getvalue()


ANSWER = {
    "source": "process",
    "window_seconds": 3600,
    "covered_seconds": 600,
    "hits": 3,
    "misses": 1,
    "bypasses": 0,
    "hit_rate": 0.75,
    "tokens_saved": 1200,
    "cost_saved_usd": 0.0123,
    "backend_errors": 0,
    "upstream_errors": 0,
    "series": {"step_seconds": 60, "start": 1_800_000_000, "hits": [0, 1, 2, 0], "misses": [1, 0, 0, 0],
               "bypasses": [0, 0, 0, 0], "tokens_saved": [0, 400, 800, 0], "cost_saved_usd": [0, 0.004, 0.0083, 0]},
    "split": {
        "route": [{"name": "chat/completions", "hits": 3, "misses": 1, "bypasses": 0, "hit_rate": 0.75,
                   "tokens_saved": 1200, "cost_saved_usd": 0.0123}],
        "model": [{"name": "gpt-4o", "hits": 3, "misses": 1, "bypasses": 0, "hit_rate": 0.75,
                   "tokens_saved": 1200, "cost_saved_usd": 0.0123}],
        "match": [{"name": "exact", "hits": 2, "misses": 0, "bypasses": 0, "hit_rate": 1.0, "tokens_saved": 800,
                   "cost_saved_usd": 0.008},
                  {"name": "semantic", "hits": 1, "misses": 0, "bypasses": 0, "hit_rate": 1.0,
                   "tokens_saved": 400, "cost_saved_usd": 0.0043}],
    },
}  # fmt: skip


def test_given_a_local_answer_when_drawn_then_rate_dollars_charts_and_each_split_are_on_the_screen() -> None:
    text = screen(ANSWER)

    assert "last 1h" in text and "up 10m: counts since it started" in text  # never a silent shorter window
    assert "75.0 %" in text and "$0.012300" in text and "1,200 tokens" in text
    assert "hits      ▁▅█▁  max 2" in text and "$ saved   ▁▄█▁" in text
    assert "hit rate  ▁██   0-100 %" in text  # 0 %, 100 %, 100 %, then a step without lookups: no mark
    assert "by route" in text and "chat/completions" in text and "by model" in text and "gpt-4o" in text
    assert "exact vs semantic (hits)" in text and "semantic" in text and "33.3 %" in text  # 1 of 3 hits


def test_given_a_cloudwatch_answer_when_drawn_then_it_says_why_there_is_no_split() -> None:
    deployed = {**ANSWER, "source": "cloudwatch", "covered_seconds": 3600, "split": None,
                "split_note": "no split by route, model or match from CloudWatch"}  # fmt: skip

    text = screen(deployed)

    assert "from cloudwatch" in text and "no split by route, model or match from CloudWatch" in text
    assert "chat/completions" not in text and "counts since it started" not in text
