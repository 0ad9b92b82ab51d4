"""Identical concurrent calls share one (engine.coalesce): one leader calls, the followers get its answer."""

from __future__ import annotations

import threading
import time

from tests.servers import wait_until

from llmcache.engine.coalesce import SingleFlight


def test_given_concurrent_identical_calls_when_coalesced_then_one_call_serves_all():
    flight: SingleFlight[int] = SingleFlight()
    calls = []
    entered: list[int] = []

    def slow_call() -> int:
        calls.append(1)
        # the leader holds the flight until every caller has arrived, however slowly the threads start
        wait_until(lambda: len(entered) == 8, timeout=60, interval=0.01, what="all eight callers")
        return 42

    def caller() -> None:
        entered.append(1)
        results.append(flight.run("k", slow_call, 60))

    results: list[tuple[int, bool]] = []
    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert [r[0] for r in results] == [42] * 8
    assert sum(1 for r in results if r[1]) == 7


def test_given_a_leader_that_takes_too_long_when_waiting_then_the_follower_makes_its_own_call():
    flight: SingleFlight[str] = SingleFlight()
    gate = threading.Event()
    leader = threading.Thread(target=lambda: flight.run("k", lambda: gate.wait(2) and "leader", 5))
    leader.start()
    time.sleep(0.1)
    assert flight.run("k", lambda: "own", 0.1) == ("own", False)
    gate.set()
    leader.join()


def test_given_a_leader_with_an_outcome_not_to_share_when_waiting_then_the_follower_calls_itself():
    flight: SingleFlight[int] = SingleFlight()
    gate = threading.Event()
    calls: list[str] = []

    def leader_call() -> int:
        calls.append("leader")
        gate.wait(2)
        return 401

    def follower_call() -> int:
        calls.append("follower")
        return 200

    results: list[tuple[int, bool]] = []
    leader = threading.Thread(target=lambda: results.append(flight.run("k", leader_call, 5, lambda r: r < 400)))
    leader.start()
    time.sleep(0.05)
    follower = threading.Thread(target=lambda: results.append(flight.run("k", follower_call, 5, lambda r: r < 400)))
    follower.start()
    time.sleep(0.05)
    gate.set()
    leader.join(2)
    follower.join(2)
    assert sorted(results) == [(200, False), (401, False)] and sorted(calls) == ["follower", "leader"]
