"""The flush generation under a throttled table: clients keep their HITs within a stated bound, and a
flush made by another container still takes effect within it (docs/scale.md). Clocks are injected."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from pynamodb.connection.base import Connection

from llmcache import wiring
from llmcache.constants import Metric
from llmcache.engine.generations import Generations, copy_name
from llmcache.observability import counters
from llmcache.stores.dynamodb import DynamoDbStore

THROTTLING_CODES = ["ProvisionedThroughputExceededException", "ThrottlingException"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class GenerationReadThrottle:
    """Stands in for pynamodb's API call: a BatchGetItem of generation items fails when `failing(n)` is true
    for the n-th such read (as DynamoDB answers a hot partition); every other call goes to moto."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.reads = 0
        self.failing: Any = lambda n: False
        self.real = Connection._make_api_call

    def call(self, connection: Connection, operation: str, kwargs: Any, *args: Any, **more: Any) -> Any:
        if operation == "BatchGetItem" and _reads_generations(kwargs):
            self.reads += 1
            if self.failing(self.reads):
                raise ClientError({"Error": {"Code": self.code, "Message": "Rate exceeded"}}, operation)
        return self.real(connection, operation, kwargs, *args, **more)


def _reads_generations(kwargs: Any) -> bool:
    tables = kwargs.get("RequestItems", {}).values()
    return any(key["pk"]["S"].startswith("g#") for table in tables for key in table.get("Keys", []))


@pytest.fixture
def fleet(configure, monkeypatch):
    """A gateway on memory + DynamoDB with its generation clock injected, and another container's flush."""

    def start(code: str) -> tuple[Clock, GenerationReadThrottle, Generations]:
        settings = configure(CACHE_TIERS="memory,dynamodb")
        clock = Clock()
        generations = wiring.engine().generations
        generations.clock = clock
        throttle = GenerationReadThrottle(code)
        monkeypatch.setattr(Connection, "_make_api_call", lambda *args, **kwargs: throttle.call(*args, **kwargs))
        table = DynamoDbStore(settings.cache_table, None, settings.inline_max_bytes)
        elsewhere = Generations(table, settings.generation_ttl, lambda f: None, copies=settings.generation_copies)
        return clock, throttle, elsewhere

    return start


def _faults() -> int:
    return int(counters.snapshot().get(Metric.CACHE_BACKEND_ERROR, 0))


@pytest.mark.parametrize("code", THROTTLING_CODES)
def test_given_half_the_generation_reads_throttled_when_clients_ask_then_hits_not_bypass(fleet, client, code):
    clock, throttle, _ = fleet(code)
    assert client.chat("hot question").cache == "MISS"
    throttle.failing = lambda n: n % 2 == 0  # every second read of the counter is throttled
    faults = _faults()
    seen = []
    for step in range(1, 41):  # 20 s of traffic, a request every 0.5 s
        clock.now = step * 0.5
        seen.append(client.chat("hot question").cache)
    assert seen == ["HIT"] * 40
    assert _faults() > faults  # each throttled read was counted
    assert throttle.reads <= 1 + 20  # one read per second (the ttl) at most, throttled or not


@pytest.mark.parametrize("code", THROTTLING_CODES)
def test_given_throttled_generation_reads_when_another_container_flushes_then_it_takes_effect_within_the_bound(
    fleet, client, code
):
    clock, throttle, elsewhere = fleet(code)
    generations = wiring.engine().generations
    bound = generations.ttl + generations.stale
    before = client.chat("flushed elsewhere").headers["x-cache-key"]
    throttle.failing = lambda n: n % 3 != 0  # two reads in three throttled
    elsewhere.bump("default", None)
    flushed_at = clock.now
    answers = []
    for step in range(1, 31):
        clock.now = step * 0.5
        answer = client.chat("flushed elsewhere")
        answers.append(answer.cache)
        if answer.headers.get("x-cache-key") != before:
            break
    assert "BYPASS" not in answers
    assert answers[-1] == "MISS", "the flush never took effect"
    assert clock.now - flushed_at <= bound


@pytest.mark.parametrize("code", THROTTLING_CODES)
def test_given_every_generation_read_throttled_when_the_bound_passes_then_bypass_never_a_flushed_entry(
    fleet, client, code
):
    clock, throttle, elsewhere = fleet(code)
    generations = wiring.engine().generations
    client.chat("unreadable counter")
    read_at = clock.now
    throttle.failing = lambda n: True
    elsewhere.bump("default", None)  # a flush this container cannot learn of
    answers = {}
    for step in range(1, 21):
        clock.now = step * 0.5
        answers[clock.now] = client.chat("unreadable counter").cache
    bound = generations.ttl + generations.stale
    assert {a for t, a in answers.items() if t - read_at < bound} == {"HIT"}  # the kept value, within the bound
    assert {a for t, a in answers.items() if t - read_at >= bound} == {"BYPASS"}  # past it: never served


def test_given_a_flush_on_dynamodb_when_it_is_done_then_every_copy_holds_it_and_none_is_ever_lowered(
    configure,
):
    settings = configure(CACHE_TIERS="dynamodb")
    table = DynamoDbStore(settings.cache_table, None, settings.inline_max_bytes)
    gens = Generations(table, 1.0, lambda f: None, copies=4)
    gens.bump("ns", "t")
    gens.bump("ns", "t")
    table.raise_generation("t|ns#2", 1)  # a slower concurrent flush arrives late
    names = [copy_name("t|ns", c) for c in range(4)]
    assert table.get_generations(names) == dict.fromkeys(names, 2)


@pytest.mark.redis
def test_given_a_flush_on_redis_when_it_is_done_then_every_copy_holds_it_and_none_is_ever_lowered(redis_url):
    from llmcache.stores.redis import RedisStore

    store = RedisStore(redis_url, timeout=2.0)
    gens = Generations(store, 1.0, lambda f: None, copies=3)
    gens.bump("ns", None)
    gens.bump("ns", None)
    store.raise_generation("*|ns#1", 1)
    names = [copy_name("*|ns", c) for c in range(3)]
    assert store.get_generations(names) == dict.fromkeys(names, 2)
