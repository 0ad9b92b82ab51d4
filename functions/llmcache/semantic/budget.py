"""The operating point: threshold and pair cut, from the curves measured with the shipped models.

`model/operating-points.json` (written by `make eval-semantic`) holds the shipped decision (cosine gate,
hard vetoes, ambiguity guard, pair model) scored at every threshold and pair cut of a grid, on the Quora
dev sample: precision, recall and false-hit rate (false hits on different-question pairs / those pairs).
`SEMANTIC_MAX_FALSE_HIT_RATE` picks the point with the most recall whose measured false-hit rate is within
the budget, instead of a raw threshold. Import-light (json only): settings reads it at start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

CURVES_FILE = Path(__file__).resolve().parent / "model" / "operating-points.json"
# The shipped default point (also `default` in the curves file: a test holds the two together).
DEFAULT_THRESHOLD = 0.88
DEFAULT_PAIR_CUT = 0.75


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    pair_cut: float
    precision: float
    recall: float
    false_hit_rate: float


@lru_cache(maxsize=4)
def load_curves(path: Path = CURVES_FILE) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def points(path: Path = CURVES_FILE) -> list[OperatingPoint]:
    return [
        OperatingPoint(p["threshold"], p["pair_cut"], p["precision"], p["recall"], p["false_hit_rate"])
        for p in load_curves(path)["points"]
    ]


def point_for_budget(max_false_hit_rate: float, path: Path = CURVES_FILE) -> OperatingPoint:
    """The most recall within the budget (ties: more precision, then the higher threshold).

    ValueError when no measured point keeps false hits within the budget."""
    within = [p for p in points(path) if p.false_hit_rate <= max_false_hit_rate]
    if not within:
        lowest = min(p.false_hit_rate for p in points(path))
        raise ValueError(
            f"no measured operating point keeps false hits at or under {max_false_hit_rate}; "
            f"the lowest measured is {lowest} ({path.name})"
        )
    return max(within, key=lambda p: (p.recall, p.precision, p.threshold, p.pair_cut))
