"""GET /cache/stats as `llmcache stats` draws it: a window that means what it says, a series to chart, and the
split by route, model and exact vs semantic (issue #26), through both entry points."""

from __future__ import annotations

import uuid
from typing import Any

ADMIN_KEY = "admin-secret"  # what the integration `configure` sets


def stats(client: Any, window: int = 3600) -> dict[str, Any]:
    answer = client.call("GET", f"/cache/stats?window={window}", api_key=ADMIN_KEY)
    assert answer.status == 200, answer.body
    return answer.json()


def row(data: dict[str, Any], split: str, name: str) -> dict[str, Any]:
    return next((r for r in data["split"][split] if r["name"] == name), {"hits": 0, "misses": 0, "bypasses": 0})


def test_given_chat_and_messages_traffic_when_stats_are_read_then_each_route_and_model_has_its_row(configure, client):
    configure(CACHE_TIERS="memory")
    before = stats(client)
    question = f"split me {uuid.uuid4().hex}"
    client.chat(question)
    client.chat(question)  # a HIT
    messages = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": question}]}
    sent = client.call("POST", "/v1/messages", messages, headers={"anthropic-version": "2023-06-01"})
    assert sent.status == 200 and sent.cache == "MISS"

    after = stats(client)

    assert after["window_seconds"] == 3600 and after["source"] == "process"
    chat_before, chat_after = row(before, "route", "chat/completions"), row(after, "route", "chat/completions")
    assert (chat_after["hits"] - chat_before["hits"], chat_after["misses"] - chat_before["misses"]) == (1, 1)
    assert row(after, "route", "messages")["misses"] - row(before, "route", "messages")["misses"] == 1
    assert row(after, "model", "claude-sonnet-4-5")["misses"] - row(before, "model", "claude-sonnet-4-5")["misses"] == 1
    assert row(after, "match", "exact")["hits"] - row(before, "match", "exact")["hits"] == 1
    assert "misses" not in {r["name"] for r in after["split"]["match"]}  # a match is a hit's, never a miss's
    series = after["series"]
    assert series["step_seconds"] == 60 and len(series["hits"]) == 60
    assert sum(series["hits"]) - sum(before["series"]["hits"]) >= 1  # the hit is in the chart's steps


def test_given_a_window_longer_than_the_gateway_has_run_when_read_then_it_is_kept_and_the_coverage_is_said(
    configure, client
):
    configure(CACHE_TIERS="memory")

    day = stats(client, 86400)

    assert day["window_seconds"] == 86400  # never silently the process's lifetime
    assert 0 <= day["covered_seconds"] <= 86400
    assert day["series"]["step_seconds"] == 1440 and len(day["series"]["misses"]) == 60


def test_given_a_window_over_fourteen_days_when_read_then_400_says_the_bounds(configure, client):
    configure(CACHE_TIERS="memory")

    answer = client.call("GET", f"/cache/stats?window={30 * 86400}", api_key=ADMIN_KEY)

    assert answer.status == 400 and "(1m to 14d)" in answer.json()["error"]["message"]
