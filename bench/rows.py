"""One row of the bench table: a figure beside its anchor, the ratio, the target and whether it is met.

Its own module so that the bench sections (ttft, semantic_lookup, ...) build rows without importing the table
that lists them (bench/report.py imports the sections' row builders).
"""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]


def get(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def num(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and abs(value) >= 100:
        digits = 0
    text = f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    return f"{text} {unit}".strip()


def ratio_of(ours: Any, theirs: Any) -> float | None:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float) or theirs == 0:
        return None
    return ours / theirs


def row(
    section: str,
    figure: str,
    ours: Any,
    theirs: Any = None,
    *,
    unit: str = "",
    target: str = "",
    met: bool | None = None,
    ratio: float | str | None = "auto",
    digits: int = 1,
) -> Row:
    value = ratio_of(ours, theirs) if ratio == "auto" else ratio
    return {
        "section": section,
        "figure": figure,
        "llmcache": ours,
        "anchor": theirs,
        "unit": unit,
        "ratio": round(value, 3) if isinstance(value, float) else value,
        "target": target,
        "met": met,
        "llmcache_text": num(ours, unit, digits),
        "anchor_text": "—" if theirs is None else num(theirs, unit, digits),
    }
