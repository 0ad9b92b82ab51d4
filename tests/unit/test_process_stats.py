"""The local gateway's stats: one-minute buckets, so a window means what it says, split by route, model, match."""

from __future__ import annotations

import pytest

from llmcache.constants import Metric
from llmcache.stores.process_stats import BUCKET_SECONDS, MAX_WINDOW_SECONDS, OTHER, ProcessStats, step_seconds


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def hit(stats: ProcessStats, route: str, model: str, *, match: str = "exact", dollars: float = 0.0) -> None:
    with stats.labelled(route, model) as tally:
        stats.add(Metric.CACHE_HIT, 1)
        if dollars:
            stats.add(Metric.COST_SAVED, dollars)
            stats.add(Metric.TOKENS_SAVED, 100)
        tally.match = match


def miss(stats: ProcessStats, route: str, model: str) -> None:
    with stats.labelled(route, model):
        stats.add(Metric.CACHE_MISS, 1)


NAMES = [Metric.CACHE_HIT, Metric.CACHE_MISS, Metric.COST_SAVED]


def test_given_counts_two_hours_apart_when_the_last_hour_is_asked_then_only_the_recent_ones_count() -> None:
    clock = Clock()
    stats = ProcessStats(clock)
    miss(stats, "chat/completions", "gpt-4o-mini")
    clock.now += 2 * 3600
    hit(stats, "chat/completions", "gpt-4o-mini", dollars=0.5)

    hour = stats.window(3600, NAMES)
    day = stats.window(86400, NAMES)

    assert hour["totals"] == {Metric.CACHE_HIT: 1, Metric.CACHE_MISS: 0, Metric.COST_SAVED: 0.5}
    assert day["totals"][Metric.CACHE_MISS] == 1 and day["totals"][Metric.CACHE_HIT] == 1
    assert hour["covered_seconds"] == 3600  # up two hours: the hour is whole
    assert day["covered_seconds"] == 2 * 3600  # up two hours of the day asked


def test_given_requests_of_two_routes_and_models_when_split_then_each_row_has_its_own_counts() -> None:
    stats = ProcessStats(Clock())
    hit(stats, "chat/completions", "gpt-4o-mini", dollars=0.25)
    hit(stats, "chat/completions", "gpt-4o-mini", match="semantic", dollars=0.25)
    miss(stats, "chat/completions", "gpt-4o-mini")
    miss(stats, "messages", "claude-sonnet-4-5")

    split = stats.window(3600, NAMES)["split"]

    routes = {row["name"]: row for row in split["route"]}
    assert routes["chat/completions"]["hits"] == 2 and routes["chat/completions"]["misses"] == 1
    assert routes["chat/completions"]["hit_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert routes["messages"]["hit_rate"] == 0.0
    assert split["route"][0]["name"] == "chat/completions"  # most dollars first
    assert {row["name"] for row in split["model"]} == {"gpt-4o-mini", "claude-sonnet-4-5"}
    matches = {row["name"]: row for row in split["match"]}
    assert set(matches) == {"exact", "semantic"}  # misses have no match
    assert matches["semantic"]["hits"] == 1 and matches["semantic"]["cost_saved_usd"] == 0.25


def test_given_counts_outside_a_request_when_split_then_they_are_in_the_totals_and_under_other() -> None:
    stats = ProcessStats(Clock())
    stats.add(Metric.CACHE_BYPASS, 1)  # a passed-on call

    window = stats.window(3600, [Metric.CACHE_BYPASS])

    assert window["totals"][Metric.CACHE_BYPASS] == 1
    assert window["split"]["route"] == [
        {
            "name": OTHER,
            "hits": 0,
            "misses": 0,
            "bypasses": 1,
            "hit_rate": None,
            "tokens_saved": 0,
            "cost_saved_usd": 0.0,
        }
    ]


def test_given_a_request_that_raises_when_it_ends_then_its_counts_are_kept() -> None:
    stats = ProcessStats(Clock())
    with pytest.raises(RuntimeError), stats.labelled("responses", "gpt-4.1-mini"):
        stats.add(Metric.CACHE_MISS, 1)
        raise RuntimeError("the provider failed")

    assert stats.window(60, [Metric.CACHE_MISS])["totals"][Metric.CACHE_MISS] == 1


def test_given_more_model_names_than_the_cap_when_counted_then_the_rest_count_as_other() -> None:
    stats = ProcessStats(Clock(), max_models=2)
    for model in ("a", "b", "c", "d"):
        miss(stats, "chat/completions", model)

    names = [row["name"] for row in stats.window(3600, NAMES)["split"]["model"]]

    assert names == ["a", "b", OTHER]


def test_given_a_window_when_charted_then_each_step_sums_its_minutes_and_the_last_step_is_now() -> None:
    clock = Clock(1_800_000_000.0 - 1_800_000_000.0 % 60)
    stats = ProcessStats(clock)
    hit(stats, "chat/completions", "m")
    clock.now += 10 * 60
    hit(stats, "chat/completions", "m")
    hit(stats, "chat/completions", "m")

    series = stats.window(3600, NAMES)["series"]

    assert series["step_seconds"] == 60 and len(series["hits"]) == 60
    assert series["hits"][-1] == 2 and series["hits"][-11] == 1 and sum(series["hits"]) == 3
    assert series["start"] + 60 * 60 == clock.now + 60  # the last step is the current minute


def test_given_counts_older_than_the_longest_window_when_a_new_minute_starts_then_they_are_dropped() -> None:
    clock = Clock()
    stats = ProcessStats(clock)
    miss(stats, "chat/completions", "m")
    clock.now += MAX_WINDOW_SECONDS + 2 * BUCKET_SECONDS
    miss(stats, "chat/completions", "m")

    assert stats.snapshot()[Metric.CACHE_MISS] == 1


@pytest.mark.parametrize(("window", "step"), [(60, 60), (3600, 60), (86400, 1440), (14 * 86400, 20160)])
def test_given_a_window_when_its_step_is_chosen_then_at_most_sixty_whole_minutes_steps(window: int, step: int) -> None:
    assert step_seconds(window) == step
    assert window / step <= 60
