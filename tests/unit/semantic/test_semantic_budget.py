"""The error budget: SEMANTIC_MAX_FALSE_HIT_RATE picks threshold and pair cut from the shipped curves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcache.semantic import budget
from llmcache.settings import Settings, SettingsError


def _curves(tmp_path: Path) -> Path:
    path = tmp_path / "operating-points.json"
    points = [
        {"threshold": 0.8, "pair_cut": 0.5, "precision": 0.85, "recall": 0.50, "false_hit_rate": 0.08},
        {"threshold": 0.88, "pair_cut": 0.8, "precision": 0.93, "recall": 0.38, "false_hit_rate": 0.025},
        {"threshold": 0.9, "pair_cut": 0.9, "precision": 0.96, "recall": 0.25, "false_hit_rate": 0.01},
    ]
    path.write_text(json.dumps({"default": {"threshold": 0.88, "pair_cut": 0.8}, "points": points}))
    return path


def test_given_a_budget_when_picking_then_the_most_recall_within_it(tmp_path: Path) -> None:
    path = _curves(tmp_path)
    assert budget.point_for_budget(0.03, path).threshold == 0.88
    assert budget.point_for_budget(0.01, path).pair_cut == 0.9
    assert budget.point_for_budget(0.5, path).recall == 0.5
    with pytest.raises(ValueError, match=r"lowest measured is 0\.01"):
        budget.point_for_budget(0.001, path)


def test_given_the_shipped_curves_then_their_default_is_the_settings_default() -> None:
    curves = budget.load_curves()
    assert curves["default"] == {"threshold": Settings().semantic_threshold, "pair_cut": Settings().semantic_pair_cut}
    assert any(
        (p["threshold"], p["pair_cut"]) == (budget.DEFAULT_THRESHOLD, budget.DEFAULT_PAIR_CUT) for p in curves["points"]
    )


def test_given_a_budget_in_the_environment_when_settings_load_then_the_curves_pick_the_point() -> None:
    rate = max(p.false_hit_rate for p in budget.points())
    settings = Settings.from_env({"SEMANTIC_MODE": "on", "SEMANTIC_MAX_FALSE_HIT_RATE": str(rate)})
    point = budget.point_for_budget(rate)
    assert (settings.semantic_threshold, settings.semantic_pair_cut) == (point.threshold, point.pair_cut)
    assert settings.semantic_max_false_hit_rate == rate


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SEMANTIC_MAX_FALSE_HIT_RATE": "0.02", "SEMANTIC_THRESHOLD": "0.9"}, "not both"),
        ({"SEMANTIC_MAX_FALSE_HIT_RATE": "0.02", "SEMANTIC_EMBEDDER": "upstream"}, "needs SEMANTIC_EMBEDDER=local"),
        ({"SEMANTIC_MAX_FALSE_HIT_RATE": "lots"}, "must be a number"),
        ({"SEMANTIC_MAX_FALSE_HIT_RATE": "1.5"}, r"between 0\.0 and 1\.0"),
        ({"SEMANTIC_MAX_FALSE_HIT_RATE": "0"}, "lowest measured"),
    ],
)
def test_given_a_bad_budget_when_settings_load_then_a_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
