"""`llmcache stats` as something to look at: hit rate and dollars saved over the window as terminal charts, split
by route, model and exact vs semantic. Pure drawing from the stats route's JSON (rich renderables); the
command in `llmcache.cli` fetches and refreshes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

SPARKS = "▁▂▃▄▅▆▇█"
EIGHTHS = " ▏▎▍▌▋▊▉"
BAR_WIDTH = 20


def sparkline(values: list[float]) -> str:
    """One character per value, scaled to the largest; a zero is the lowest block, so a quiet minute shows."""
    top = max(values, default=0.0)
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, round(v / top * (len(SPARKS) - 1)))] for v in values)


def bar(fraction: float | None, width: int = BAR_WIDTH) -> str:
    """A horizontal bar in eighths of a character, padded with a light shade to `width`."""
    if fraction is None:
        return " " * width
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[rest] if rest else "")
    return text + "░" * (width - len(text))


def dollars(amount: float) -> str:
    """Cents for sums that have them; six decimals for the fractions of a cent one hit saves."""
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.6f}"


def duration(seconds: int) -> str:
    """90 -> 1m30s, 3600 -> 1h, 93784 -> 1d2h."""
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f} %"


def _clock(epoch: float, step: int) -> str:
    moment = dt.datetime.fromtimestamp(epoch)
    return moment.strftime("%H:%M" if step < 86400 else "%m-%d %H:%M")


def render(data: dict[str, Any], *, url: str, window: int, updated: dt.datetime | None = None) -> Any:
    """The whole screen for one answer of GET /cache/stats."""
    from rich.console import Group
    from rich.text import Text

    parts: list[Any] = [_heading(data, url, window, updated), Text("")]
    parts += _summary(data)
    series = data.get("series")
    if isinstance(series, dict) and series.get("hits") is not None:
        parts += [Text(""), *_charts(series)]
    split = data.get("split")
    if isinstance(split, dict):
        for name, title in (("route", "by route"), ("model", "by model"), ("match", "exact vs semantic (hits)")):
            rows = split.get(name) or []
            if rows:
                parts += [Text(""), _split_table(title, rows, match=name == "match")]
    elif data.get("split_note"):
        parts += [Text(""), Text(str(data["split_note"]), style="dim")]
    return Group(*parts)


def _heading(data: dict[str, Any], url: str, window: int, updated: dt.datetime | None) -> Any:
    from rich.text import Text

    heading = Text()
    heading.append("llmcache stats", style="bold")
    heading.append(f"  last {duration(window)}  {url}")
    source = data.get("source")
    covered = data.get("covered_seconds")
    if source == "process":
        heading.append("  counted by this gateway", style="dim")
        if isinstance(covered, int) and covered < window:
            heading.append(f" (up {duration(max(covered, 0))}: counts since it started)", style="yellow")
    elif source:
        heading.append(f"  from {source}", style="dim")
    if updated is not None:
        heading.append(f"  updated {updated.strftime('%H:%M:%S')}", style="dim")
    return heading


def _summary(data: dict[str, Any]) -> list[Any]:
    from rich.text import Text

    rate = data.get("hit_rate")
    first = Text("  hit rate  ")
    first.append(f"{percent(rate):>8}", style="bold green" if rate else "bold")
    first.append(f"  {bar(rate)}  ", style="green")
    first.append(
        f"hits {data.get('hits', 0):,} · misses {data.get('misses', 0):,} · bypasses {data.get('bypasses', 0):,}"
    )
    second = Text("  saved     ")
    second.append(f"{dollars(float(data.get('cost_saved_usd') or 0.0)):>8}", style="bold")
    second.append(f"  {data.get('tokens_saved', 0):,} tokens", style="")
    faults, upstream = data.get("backend_errors", 0), data.get("upstream_errors", 0)
    second.append(
        f"   backend faults {faults:,} · upstream errors {upstream:,}",
        style="yellow" if faults or upstream else "dim",
    )
    return [first, second]


def _charts(series: dict[str, Any]) -> list[Any]:
    from rich.text import Text

    step = int(series.get("step_seconds") or 60)
    start = float(series.get("start") or 0)
    hits = [float(v) for v in series.get("hits") or []]
    misses = [float(v) for v in series.get("misses") or []]
    saved = [float(v) for v in series.get("cost_saved_usd") or []]
    end = start + step * len(hits)
    rates = [h / (h + m) if h + m else None for h, m in zip(hits, misses, strict=False)]
    lines = [Text(f"  {_clock(start, step)} → {_clock(end, step)}, one mark per {duration(step)}", style="dim")]
    for label, marks, style, top in (
        ("hits", sparkline(hits), "green", f"max {max(hits, default=0):,.0f}"),
        ("misses", sparkline(misses), "cyan", f"max {max(misses, default=0):,.0f}"),
        ("hit rate", _fixed_scale(rates), "green", "0-100 %, blank: no lookups"),
        ("$ saved", sparkline(saved), "yellow", f"max {dollars(max(saved, default=0.0))}"),
    ):
        line = Text(f"  {label:<9} ")
        line.append(marks, style=style)
        line.append(f"  {top}", style="dim")
        lines.append(line)
    return lines


def _fixed_scale(fractions: list[float | None]) -> str:
    """A sparkline on 0..1 (a rate), so 50 % looks like half whatever the other steps did; a step without a
    lookup has no rate, and no mark."""
    return "".join(" " if f is None else SPARKS[min(len(SPARKS) - 1, round(f * (len(SPARKS) - 1)))] for f in fractions)


def _split_table(title: str, rows: list[dict[str, Any]], *, match: bool) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), title_style="bold")
    table.add_column("", no_wrap=True, max_width=40)
    table.add_column("hits", justify="right")
    if not match:
        table.add_column("misses", justify="right")
        table.add_column("hit rate")
    else:
        table.add_column("share of hits")
    table.add_column("tokens saved", justify="right")
    table.add_column("$ saved", justify="right")
    all_hits = sum(int(row.get("hits") or 0) for row in rows)
    for row in rows[:12]:
        hits = int(row.get("hits") or 0)
        if match:
            share = hits / all_hits if all_hits else None
            middle = [f"{bar(share, 12)} {percent(share):>7}"]
        else:
            rate = row.get("hit_rate")
            middle = [f"{int(row.get('misses') or 0):,}", f"{bar(rate, 12)} {percent(rate):>7}"]
        table.add_row(
            str(row.get("name")),
            f"{hits:,}",
            *middle,
            f"{int(row.get('tokens_saved') or 0):,}",
            dollars(float(row.get("cost_saved_usd") or 0.0)),
        )
    if len(rows) > 12:
        table.add_row(f"... {len(rows) - 12} more", "", *([""] * (2 if not match else 1)), "", "")
    return table
