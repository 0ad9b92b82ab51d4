"""Tiers: the memory LRU, the tiered store's fallbacks and refills, generations and single flight."""

from __future__ import annotations

import threading
import time

import pytest

from llmcache.engine.generations import Generations
from llmcache.errors import BackendFailure
from llmcache.stores.base import CacheEntry, Hit
from llmcache.stores.memory import MemoryStore
from llmcache.stores.tiered import TieredStore

NOW = 1_000_000.0


def entry(body: bytes = b'{"choices":[]}', ttl: int = 60, created: float = NOW) -> CacheEntry:
    return CacheEntry.from_answer(body, created_at=created, ttl=ttl, route="chat/completions", model="m", tokens=3)


class FlakyStore:
    """A tier that fails on demand, and remembers what it was asked."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.data: dict[str, CacheEntry] = {}
        self.failing = False
        self.calls: list[str] = []
        self.put_event = threading.Event()

    def _check(self, op: str) -> None:
        self.calls.append(op)
        if self.failing:
            raise BackendFailure(self.name, op, "injected")

    def get(self, key, now):
        self._check("get")
        e = self.data.get(key)
        return Hit(e, self.name) if e and e.is_fresh(now) else None

    def put(self, key, e):
        self._check("put")
        self.data[key] = e
        self.put_event.set()

    def delete(self, key):
        self._check("delete")
        return self.data.pop(key, None) is not None


def test_given_an_entry_when_packed_and_unpacked_then_it_is_equal():
    original = entry(b"x" * 1000)
    assert CacheEntry.unpack(original.pack(), "redis") == original
    assert original.raw_body() == b"x" * 1000
    assert len(original.body) < 100  # compressed


def test_given_corrupt_bytes_when_unpacked_then_a_backend_failure_not_a_crash():
    with pytest.raises(BackendFailure):
        CacheEntry.unpack(b"\x00\x00\x10\x00{not json", "redis")


def test_given_a_full_memory_tier_when_more_is_stored_then_the_least_recently_used_goes():
    store = MemoryStore(max_bytes=1000)
    for i in range(10):
        store.put(f"k{i}", entry(bytes([i]) * 50))
        store.get("k0", NOW)  # keep k0 warm
    assert store.used_bytes <= 1000
    assert store.get("k0", NOW) is not None
    assert store.get("k1", NOW) is None
    assert store.get("k9", NOW) is not None


def test_given_an_expired_memory_entry_when_read_then_it_is_gone():
    store = MemoryStore(max_bytes=10_000)
    store.put("k", entry(ttl=5))
    assert store.get("k", NOW + 4.9) is not None
    assert store.get("k", NOW + 5) is None
    assert len(store) == 0


def test_given_an_entry_larger_than_the_memory_tier_when_stored_then_it_is_skipped():
    store = MemoryStore(max_bytes=100)
    store.put("big", entry(bytes(range(256)) * 10))
    assert len(store) == 0


def test_given_a_hit_in_a_lower_tier_when_read_then_upper_tiers_are_refilled_with_the_same_expiry():
    memory, lower = MemoryStore(10_000), FlakyStore("dynamodb")
    stored = entry(ttl=30)
    lower.data["k"] = stored
    tiered = TieredStore([memory, lower], report_failure=lambda f: None)
    hit = tiered.get("k", NOW)
    assert hit is not None and hit.tier == "dynamodb"
    refilled = memory.get("k", NOW)
    assert refilled is not None and refilled.entry.expires_at == stored.expires_at
    assert memory.get("k", stored.expires_at) is None  # memory never outlives the real expiry


def test_given_a_network_tier_above_when_a_lower_tier_hits_then_it_is_refilled_in_the_background():
    redis, lower = FlakyStore("redis"), FlakyStore("dynamodb")
    lower.data["k"] = entry()
    tiered = TieredStore([redis, lower], report_failure=lambda f: None)
    assert tiered.get("k", NOW).tier == "dynamodb"
    assert redis.put_event.wait(2)
    assert "k" in redis.data


def test_given_a_failing_tier_when_read_then_the_next_tier_answers_and_the_failure_is_reported():
    failures: list[BackendFailure] = []
    broken, lower = FlakyStore("redis"), FlakyStore("dynamodb")
    broken.failing = True
    lower.data["k"] = entry()
    tiered = TieredStore([broken, lower], report_failure=failures.append)
    assert tiered.get("k", NOW).tier == "dynamodb"
    assert failures and {f.tier for f in failures} == {"redis"}


def test_given_a_tier_that_keeps_failing_when_read_then_the_breaker_skips_it():
    broken = FlakyStore("redis")
    broken.failing = True
    tiered = TieredStore([broken], report_failure=lambda f: None)
    for _ in range(10):
        assert tiered.get("k", NOW) is None
    assert broken.calls.count("get") == 3  # opened after three failures


def test_given_an_unexpected_exception_in_a_tier_when_written_then_it_is_contained():
    class Exploding(FlakyStore):
        def put(self, key, e):
            raise KeyError("bug")

    failures: list[BackendFailure] = []
    tiered = TieredStore([Exploding("dynamodb")], report_failure=failures.append)
    tiered.put("k", entry())
    assert failures and failures[0].operation == "put"


def test_given_deletes_when_one_tier_fails_then_the_others_still_delete_and_the_failure_is_raised():
    a, b = FlakyStore("redis"), FlakyStore("dynamodb")
    a.data["k"], b.data["k"] = entry(), entry()
    a.failing = True
    tiered = TieredStore([a, b], report_failure=lambda f: None)
    with pytest.raises(BackendFailure) as failure:  # the entry may survive in redis: neither 204 nor 404 is true
        tiered.delete("k")
    assert failure.value.tier == "redis"
    assert "k" not in b.data


def test_given_a_failing_tier_when_locating_then_a_hit_elsewhere_is_returned_and_absence_is_not_claimed():
    a, b = FlakyStore("redis"), FlakyStore("dynamodb")
    b.data["k"] = entry()
    a.failing = True
    tiered = TieredStore([a, b], report_failure=lambda f: None)
    hit = tiered.locate("k", 0.0)
    assert hit is not None and hit.tier == "dynamodb"
    with pytest.raises(BackendFailure):
        tiered.locate("absent", 0.0)
    a.failing = False
    assert tiered.locate("absent", 0.0) is None


def test_given_cached_generations_when_read_within_the_ttl_then_the_source_is_not_asked():
    source = MemoryStore(0)
    clock = [0.0]
    calls = []
    original = source.get_generations

    def counting(names):
        calls.append(names)
        return original(names)

    source.get_generations = counting  # type: ignore[method-assign]
    gens = Generations(source, ttl=1.0, report_failure=lambda f: None, clock=lambda: clock[0])
    assert gens.current("t", "ns") == "0.0"
    assert gens.current("t", "ns") == "0.0"
    assert len(calls) == 1
    source.bump_generation("*|ns")  # another container flushed
    clock[0] = 1.5
    assert gens.current("t", "ns") == "1.0"


def test_given_a_flush_in_this_container_when_read_then_it_is_seen_at_once():
    gens = Generations(MemoryStore(0), ttl=60, report_failure=lambda f: None)
    before = gens.current("t", "ns")
    gens.bump("ns", "t")
    assert gens.current("t", "ns") != before


def test_given_an_unreadable_generation_source_when_nothing_is_known_then_none():
    class Down:
        def get_generations(self, names):
            raise BackendFailure("dynamodb", "generation", "down")

        def bump_generation(self, name):
            raise BackendFailure("dynamodb", "flush", "down")

    failures: list = []
    gens = Generations(Down(), ttl=1, report_failure=failures.append)  # type: ignore[arg-type]
    assert gens.current("t", "ns") is None
    assert failures


def test_given_a_request_deadline_sooner_than_the_lease_when_waiting_then_the_wait_ends_at_the_deadline():
    from llmcache.engine.leases import Leases

    class HeldForever:
        def held(self, key: str) -> bool:
            return True

    lookups: list[int] = []

    def lookup() -> None:
        lookups.append(1)

    leases = Leases(HeldForever(), lease_seconds=30.0, poll_seconds=0.01, report_failure=lambda f: None)  # type: ignore[arg-type]
    assert leases.wait_for("k", lookup, until=time.monotonic() + 0.1) is None
    # polled for ~0.1 s, not for the lease's 30 s (which would be ~3,000 polls)
    assert 1 <= len(lookups) < 100


class ScriptedGenerations:
    """A generation source that answers from a script (a value, or an exception to raise)."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.reads = 0

    def get_generations(self, names):
        self.reads += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return {n: answer for n in names}

    def bump_generation(self, name):
        return 1


def test_given_a_known_generation_when_a_later_read_fails_then_none_not_the_stale_copy():
    clock = [0.0]
    source = ScriptedGenerations(3, BackendFailure("dynamodb", "generation", "throttled"))
    gens = Generations(source, ttl=1.0, report_failure=lambda f: None, clock=lambda: clock[0])  # type: ignore[arg-type]
    assert gens.current("t", "ns") == "3.3"
    clock[0] = 1.5  # the copy is past its 1 s: a flush made elsewhere may be in force
    assert gens.current("t", "ns") is None
    clock[0] = 1.9  # within a second of the failure: not asked again
    assert gens.current("t", "ns") is None and source.reads == 2


def test_given_a_source_that_lost_its_counters_when_read_then_the_generation_never_goes_back():
    clock = [0.0]
    source = ScriptedGenerations(2, 0)
    gens = Generations(source, ttl=1.0, report_failure=lambda f: None, clock=lambda: clock[0])  # type: ignore[arg-type]
    assert gens.current("t", "ns") == "2.2"
    clock[0] = 1.5
    assert gens.current("t", "ns") == "2.2"  # not "0.0": that would bring back entries flushed since


def test_given_the_lease_tier_failing_when_leases_are_asked_then_its_breaker_stops_the_calls():
    from llmcache.engine.leases import Leases
    from llmcache.stores.breaker import CircuitBreaker

    class SlowRedis:
        name = "redis"
        calls = 0

        def acquire(self, key, token, seconds):
            SlowRedis.calls += 1
            raise BackendFailure("redis", "lease", "timeout")

        def release(self, key, token):
            SlowRedis.calls += 1
            raise BackendFailure("redis", "lease", "timeout")

    failures: list[BackendFailure] = []
    leases = Leases(
        SlowRedis(), lease_seconds=30, poll_seconds=0.01, report_failure=failures.append, breaker=CircuitBreaker()
    )
    for i in range(10):
        token = leases.acquire(f"k{i}")
        assert token is not None  # cannot coordinate: the caller goes ahead alone
        leases.release(f"k{i}", token)
    assert SlowRedis.calls == 3  # three failures open the breaker; the rest are skipped, not waited on
    assert len(failures) == 3  # and a skip is not counted as a new fault
