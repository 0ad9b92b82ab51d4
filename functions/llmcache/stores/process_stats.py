"""What this process has counted, in one-minute buckets, split by route, model and match: the stats of `make run`.

Deployed, many Lambda containers serve one environment and `/cache/stats` reads CloudWatch; under `make run` one
process serves it all, and these buckets are the answer. A window means what it says: `--window 1h` sums the
buckets of the last hour (and says so when the gateway has been up for less).

A request's counts are labelled with its route, model and, for hits, exact or semantic: `labelled(route, model)`
around the engine's work collects them, and they are added to the buckets, labels and all, when it ends. Counts
made outside a labelled request (passed-on calls, errors mapped after the engine) go in unlabelled: they are in
the totals, and under "(other)" in the splits.

Bounded whatever clients send: buckets older than the longest window are dropped, and only the first
`max_models` model names get a label of their own (a model is the client's text), the rest count as "(other)".
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from llmcache.constants import Metric

BUCKET_SECONDS = 60
MAX_WINDOW_SECONDS = 14 * 86_400  # the stats route's longest window (CloudWatch keeps 1-minute data 15 days)
MAX_MODELS = 50
MAX_LABEL_CHARS = 100
MAX_POINTS = 60  # the chart's resolution: a window is drawn as at most this many steps
OTHER = "(other)"
SPLITS = ("route", "model", "match")
# What a split row and a series carry: the lookups and what the hits saved.
SPLIT_METRICS = (Metric.CACHE_HIT, Metric.CACHE_MISS, Metric.CACHE_BYPASS, Metric.TOKENS_SAVED, Metric.COST_SAVED)

Labels = tuple[str, str, str]  # route, model, match ("exact" | "semantic" for hits, "" otherwise)
_UNLABELLED: Labels = (OTHER, OTHER, "")


@dataclass
class RequestTally:
    """The counts of one request, held until it ends, then added with its labels."""

    route: str
    model: str
    match: str = ""
    counts: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))


_current: ContextVar[RequestTally | None] = ContextVar("llmcache_request_tally", default=None)


class ProcessStats:
    def __init__(self, clock: Callable[[], float] = time.time, max_models: int = MAX_MODELS) -> None:
        self.clock = clock
        self.started = clock()
        self.max_models = max_models
        self._buckets: dict[int, defaultdict[tuple[str, Labels], float]] = {}
        self._models: set[str] = set()
        self._lock = threading.Lock()

    # ----- counting ---------------------------------------------------------------------------------
    def add(self, name: str, value: float) -> None:
        tally = _current.get()
        if tally is not None:
            tally.counts[name] += value
            return
        self._add({name: value}, _UNLABELLED)

    @contextmanager
    def labelled(self, route: str, model: str) -> Iterator[RequestTally]:
        """Collect what the request inside counts; add it, labelled, when it ends (also when it raises). The
        caller sets `match` on the tally once it knows how a hit was found."""
        tally = RequestTally(route, model[:MAX_LABEL_CHARS])
        token = _current.set(tally)
        try:
            yield tally
        finally:
            _current.reset(token)
            if tally.counts:
                self._add(tally.counts, (tally.route, self._model_label(tally.model), tally.match))

    def _model_label(self, model: str) -> str:
        with self._lock:
            if model in self._models:
                return model
            if len(self._models) < self.max_models:
                self._models.add(model)
                return model
        return OTHER

    def _add(self, counts: Mapping[str, float], labels: Labels) -> None:
        now = self.clock()
        minute = int(now // BUCKET_SECONDS)
        with self._lock:
            bucket = self._buckets.get(minute)
            if bucket is None:
                bucket = self._buckets[minute] = defaultdict(float)
                self._drop_older_than(minute - MAX_WINDOW_SECONDS // BUCKET_SECONDS)
            for name, value in counts.items():
                bucket[(name, labels)] += value

    def _drop_older_than(self, oldest: int) -> None:
        for minute in [m for m in self._buckets if m < oldest]:
            del self._buckets[minute]

    # ----- reading ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, float]:
        """Everything counted since the process started (within the longest window), per metric."""
        with self._lock:
            totals: defaultdict[str, float] = defaultdict(float)
            for bucket in self._buckets.values():
                for (name, _), value in bucket.items():
                    totals[name] += value
        return dict(totals)

    def window(self, seconds: int, names: list[str]) -> dict[str, Any]:
        """Totals of `names` over the last `seconds`, a series for the chart, and the splits."""
        now = self.clock()
        last = int(now // BUCKET_SECONDS)
        count = max(1, -(-seconds // BUCKET_SECONDS))  # buckets touched by the window, the current one included
        first = last - count + 1
        step = step_seconds(seconds)
        per_step = step // BUCKET_SECONDS
        points = -(-count // per_step)
        totals = dict.fromkeys(names, 0.0)
        series = {name: [0.0] * points for name in SPLIT_METRICS}
        splits: dict[str, dict[str, defaultdict[str, float]]] = {split: {} for split in SPLITS}
        with self._lock:
            buckets = [(m, dict(b)) for m, b in self._buckets.items() if first <= m <= last]
        for minute, bucket in buckets:
            point = points - 1 - (last - minute) // per_step
            for (name, labels), value in bucket.items():
                if name in totals:
                    totals[name] += value
                if name not in series:
                    continue
                series[name][point] += value
                for split, label in zip(SPLITS, labels, strict=True):
                    if split == "match" and name != Metric.CACHE_HIT and name not in _SAVINGS:
                        continue  # exact or semantic is a property of a hit, and of what it saved
                    if split == "match" and not label:
                        continue
                    splits[split].setdefault(label, defaultdict(float))[name] += value
        return {
            "totals": totals,
            "covered_seconds": int(min(seconds, now - self.started)),
            "series": {
                "step_seconds": step,
                "start": (last + 1) * BUCKET_SECONDS - points * step,
                **{SERIES_NAMES[name]: [round(v, 6) for v in values] for name, values in series.items()},
            },
            "split": {
                split: [_row(label, counts) for label, counts in _ordered(rows)] for split, rows in splits.items()
            },
        }


_SAVINGS = (Metric.TOKENS_SAVED, Metric.COST_SAVED)
SERIES_NAMES = {
    Metric.CACHE_HIT: "hits",
    Metric.CACHE_MISS: "misses",
    Metric.CACHE_BYPASS: "bypasses",
    Metric.TOKENS_SAVED: "tokens_saved",
    Metric.COST_SAVED: "cost_saved_usd",
}


def step_seconds(window: int) -> int:
    """The chart's step for a window: whole minutes, at most MAX_POINTS steps."""
    minutes = max(1, -(-window // BUCKET_SECONDS))
    return -(-minutes // MAX_POINTS) * BUCKET_SECONDS


def hit_rate(hits: float, misses: float) -> float | None:
    lookups = hits + misses
    return round(hits / lookups, 4) if lookups else None


def summary(counts: Mapping[str, float]) -> dict[str, Any]:
    """Lookups and what they saved, as the stats route gives them (totals, and each split row)."""
    hits, misses = counts.get(Metric.CACHE_HIT, 0.0), counts.get(Metric.CACHE_MISS, 0.0)
    return {
        "hits": int(hits),
        "misses": int(misses),
        "bypasses": int(counts.get(Metric.CACHE_BYPASS, 0.0)),
        "hit_rate": hit_rate(hits, misses),
        "tokens_saved": int(counts.get(Metric.TOKENS_SAVED, 0.0)),
        "cost_saved_usd": round(counts.get(Metric.COST_SAVED, 0.0), 6),  # at the price table's list prices
    }


def _row(label: str, counts: Mapping[str, float]) -> dict[str, Any]:
    return {"name": label, **summary(counts)}


def _ordered(rows: dict[str, defaultdict[str, float]]) -> list[tuple[str, defaultdict[str, float]]]:
    """Most dollars saved first, then most lookups; "(other)" last."""

    def rank(item: tuple[str, defaultdict[str, float]]) -> tuple[bool, float, float, str]:
        label, counts = item
        lookups = counts[Metric.CACHE_HIT] + counts[Metric.CACHE_MISS] + counts[Metric.CACHE_BYPASS]
        return (label == OTHER, -counts[Metric.COST_SAVED], -lookups, label)

    return sorted(rows.items(), key=rank)
