"""Each hit records what the answer it replaced would have cost: EMF `CostSaved`, and `/cache/stats`."""

from __future__ import annotations

import json

import pytest

from llmcache.constants import Metric
from llmcache.savings import PriceTable

ADMIN = "admin-secret"


def _emf_values(text: str, name: str) -> list[float]:
    values = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blob = json.loads(line)
            names = {m["Name"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
            if name in names:
                value = blob[name]
                values.extend(value if isinstance(value, list) else [value])
    return values


def test_given_a_priced_model_when_its_answer_is_served_from_the_cache_then_emf_carries_its_cost(
    configure, client, capsys
):
    configure(CACHE_TIERS="memory")
    capsys.readouterr()
    miss = client.chat("what does a hit save", model="gpt-4o-mini")
    assert _emf_values(capsys.readouterr().out, Metric.COST_SAVED) == []  # a miss saved nothing
    hit = client.chat("what does a hit save", model="gpt-4o-mini")
    assert (miss.cache, hit.cache) == ("MISS", "HIT")

    usage = hit.json()["usage"]
    price = PriceTable.shipped().price("gpt-4o-mini")
    assert price is not None
    expected = price.cost(usage["prompt_tokens"], 0, usage["completion_tokens"])
    assert _emf_values(capsys.readouterr().out, Metric.COST_SAVED) == [pytest.approx(expected)]


def test_given_hits_when_stats_are_read_then_cost_saved_usd_sums_them(configure, client):
    configure(CACHE_TIERS="memory,dynamodb")
    before = client.call("GET", "/cache/stats", api_key=ADMIN).json()
    client.chat("priced twice", model="gpt-4o")
    first = client.chat("priced twice", model="gpt-4o")
    second = client.chat("priced twice", model="gpt-4o")
    after = client.call("GET", "/cache/stats", api_key=ADMIN).json()

    usage = first.json()["usage"]
    price = PriceTable.shipped().price("gpt-4o")
    assert price is not None and (first.cache, second.cache) == ("HIT", "HIT")
    saved = after["cost_saved_usd"] - before["cost_saved_usd"]
    assert saved == pytest.approx(2 * price.cost(usage["prompt_tokens"], 0, usage["completion_tokens"]), abs=2e-6)


def test_given_an_override_price_when_a_hit_is_served_then_the_deployments_price_is_used(configure, client, capsys):
    configure(CACHE_TIERS="memory", PRICES='{"gpt-4o-mini": {"input": 1000, "output": 1000}}')
    client.chat("an expensive model")
    capsys.readouterr()
    hit = client.chat("an expensive model")
    total = hit.json()["usage"]["total_tokens"]
    assert _emf_values(capsys.readouterr().out, Metric.COST_SAVED) == [pytest.approx(total * 1000 / 1e6)]


def test_given_a_model_missing_from_the_table_when_its_hits_are_served_then_tokens_count_and_no_dollars(
    configure, client, capsys, log_lines
):
    configure(CACHE_TIERS="memory")
    for _ in range(3):
        client.chat("an unpriced model", model="acme-unpriced-1")
    out = capsys.readouterr().out
    assert len(_emf_values(out, Metric.TOKENS_SAVED)) == 2
    assert _emf_values(out, Metric.COST_SAVED) == []
    missing = [line for line in log_lines.getvalue().splitlines() if "missing from the price table" in line]
    assert len(missing) == 1 and "acme-unpriced-1" in missing[0]
