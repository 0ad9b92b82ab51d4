"""Flush generations at fleet scale: copies read at random, a bounded stale copy, a bounded memory."""

from __future__ import annotations

import pytest

from llmcache.engine.generations import MAX_KNOWN_GENERATIONS, Generations, copy_name
from llmcache.errors import BackendFailure
from llmcache.stores.memory import MemoryStore


class Throttled(MemoryStore):
    """A generation source whose reads fail while `throttled` is set (as a hot DynamoDB item does)."""

    def __init__(self) -> None:
        super().__init__(0)
        self.throttled = False
        self.reads: list[list[str]] = []

    def get_generations(self, names: list[str]) -> dict[str, int]:
        self.reads.append(names)
        if self.throttled:
            raise BackendFailure("dynamodb", "generation", "ProvisionedThroughputExceededException")
        return super().get_generations(names)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_given_a_flush_when_written_then_every_copy_holds_the_new_generation():
    source = MemoryStore(0)
    gens = Generations(source, ttl=1.0, report_failure=lambda f: None, copies=4)
    assert gens.bump("ns", None) == 1
    names = [copy_name("*|ns", c) for c in range(4)]
    assert source.get_generations(names) == dict.fromkeys(names, 1)


def test_given_a_copy_ahead_of_a_flush_when_raised_then_it_is_never_lowered():
    source = MemoryStore(0)
    source.raise_generation("*|ns#1", 7)  # a concurrent flush got there first
    Generations(source, ttl=1.0, report_failure=lambda f: None, copies=2).bump("ns", None)
    assert source.get_generations(["*|ns#1"]) == {"*|ns#1": 7}


def test_given_copies_when_refreshed_then_the_first_read_is_the_primary_and_later_ones_the_picked_copy():
    source, clock = Throttled(), Clock()
    gens = Generations(source, ttl=1.0, report_failure=lambda f: None, clock=clock, copies=8, pick=lambda n: 5)
    gens.current("t", "ns")
    clock.now = 1.5
    gens.current("t", "ns")
    assert source.reads == [["*|ns", "t|ns"], ["*|ns#5", "t|ns#5"]]


def test_given_a_copy_a_flush_never_reached_when_read_first_then_the_primary_still_decides():
    source = MemoryStore(0)
    source.bump_generation("*|ns")  # a flush from before copies existed: only the primary holds it
    gens = Generations(source, ttl=1.0, report_failure=lambda f: None, copies=8, pick=lambda n: 3)
    assert gens.current("t", "ns") == "1.0"


def test_given_a_throttled_refresh_within_the_stale_bound_when_asked_then_the_last_value_and_a_fault():
    source, clock, faults = Throttled(), Clock(), []
    gens = Generations(source, ttl=1.0, report_failure=faults.append, clock=clock, copies=4, stale=5.0)
    assert gens.current("t", "ns") == "0.0"
    source.throttled = True
    clock.now = 5.9  # read 5.9 s ago: under ttl + stale (6 s)
    assert gens.current("t", "ns") == "0.0"
    assert len(faults) == 1
    clock.now = 6.0  # past the bound: a flush made elsewhere may be in force
    assert gens.current("t", "ns") is None


def test_given_a_throttled_source_when_asked_many_times_then_one_read_per_ttl_not_one_per_request():
    source, clock = Throttled(), Clock()
    gens = Generations(source, ttl=1.0, report_failure=lambda f: None, clock=clock, copies=4, stale=5.0)
    gens.current("t", "ns")
    source.throttled = True
    for step in range(1, 41):  # 40 requests over 4 s
        clock.now = 1.0 + step * 0.1
        assert gens.current("t", "ns") == "0.0"
    assert len(source.reads) <= 1 + 4  # the first read, then at most one per ttl


def test_given_nothing_ever_read_when_the_source_is_throttled_then_none():
    source = Throttled()
    source.throttled = True
    gens = Generations(source, ttl=1.0, report_failure=lambda f: None, copies=4, stale=60.0)
    assert gens.current("t", "ns") is None


@pytest.mark.parametrize("share", [2, 3])
def test_given_a_share_of_reads_throttled_when_another_container_flushes_then_seen_within_ttl_plus_stale(share):
    source, clock = Throttled(), Clock()
    gens = Generations(source, ttl=1.0, report_failure=lambda f: None, clock=clock, copies=4, stale=5.0)
    elsewhere = Generations(source, ttl=1.0, report_failure=lambda f: None, copies=4)
    before = gens.current("t", "ns")
    elsewhere.bump("ns", None)
    flushed_at, seen_at = clock.now, None
    for step in range(1, 200):
        clock.now = step * 0.1
        source.throttled = step % share != 0  # all but one in `share` reads fail
        tag = gens.current("t", "ns")
        assert tag is not None, "a partly throttled counter must not turn requests into BYPASS"
        if tag != before:
            seen_at = clock.now
            break
    assert seen_at is not None and seen_at - flushed_at <= gens.ttl + gens.stale


def test_given_more_partitions_than_the_bound_when_used_then_memory_stays_bounded_and_recent_ones_stay():
    gens = Generations(MemoryStore(0), ttl=60.0, report_failure=lambda f: None)
    for i in range(50_000):  # 50,000 tenants: 50,001 counters (one namespace counter for all)
        gens.current(f"tenant-{i}", "ns")
    assert len(gens._known) <= MAX_KNOWN_GENERATIONS == 10_000
    assert "tenant-49999|ns" in gens._known and "*|ns" in gens._known  # used on every request: never dropped
