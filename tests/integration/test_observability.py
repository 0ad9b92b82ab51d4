"""Metrics are EMF with the contract's names; logs carry no prompt text and no keys."""

from __future__ import annotations

import json

from llmcache.constants import METRIC_NAMESPACE, Metric


def _emf_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            lines.append(json.loads(line))
    return lines


def test_given_a_miss_and_a_hit_when_handled_then_emf_carries_the_contract_metrics(configure, client, capsys):
    configure(CACHE_TIERS="memory", ENVIRONMENT="emftest")
    capsys.readouterr()
    client.chat("metrics please")
    client.chat("metrics please")
    emf = _emf_lines(capsys.readouterr().out)
    names = set()
    for blob in emf:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == METRIC_NAMESPACE
            if any(m["Name"] in (Metric.CACHE_HIT, Metric.CACHE_MISS) for m in directive["Metrics"]):
                assert ["environment", "service"] in directive["Dimensions"]
                assert blob["environment"] == "emftest" and blob["service"] == "llmcache"
            names.update(m["Name"] for m in directive["Metrics"])
    assert {
        Metric.CACHE_MISS,
        Metric.CACHE_HIT,
        Metric.UPSTREAM_LATENCY,
        Metric.HIT_LATENCY,
        Metric.TOKENS_SAVED,
    } <= names


def test_given_a_prompt_and_a_key_when_handled_then_neither_appears_in_logs(configure, client, capsys, log_lines):
    configure(CACHE_TIERS="memory")
    secret_prompt = "my-very-private-question-4711"
    key = "sk-super-secret-key-0815"
    client.chat(secret_prompt, api_key=key)
    client.chat(secret_prompt, api_key=key)
    client.chat(secret_prompt, api_key=key, model="fake-error-500")
    out = capsys.readouterr()
    logged = out.out + out.err + log_lines.getvalue()
    assert "answered" in logged
    assert secret_prompt not in logged
    assert key not in logged


def test_given_the_environment_reconfigured_when_handled_then_emf_carries_the_new_one_without_a_warning(
    configure, client, capsys, recwarn
):
    configure(CACHE_TIERS="memory", ENVIRONMENT="first")
    configure(CACHE_TIERS="memory", ENVIRONMENT="second")
    capsys.readouterr()
    client.chat("which environment")
    blobs = [b for b in _emf_lines(capsys.readouterr().out) if "environment" in b]
    assert blobs and all(b["environment"] == "second" for b in blobs)
    assert not [w for w in recwarn if "already been added" in str(w.message)]


def test_given_a_lone_surrogate_in_the_model_when_handled_then_the_request_is_still_logged(
    configure, client, log_lines
):
    configure(CACHE_TIERS="memory")
    raw = b'{"model": "gpt-4o-mini\\ud800", "messages": [{"role": "user", "content": "hi"}]}'
    answer = client.call("POST", "/v1/chat/completions", raw=raw, headers={"Content-Type": "application/json"})
    assert answer.status == 200
    text = log_lines.getvalue()
    text.encode("utf-8")  # what Lambda's log stream must take; a lone surrogate in it made the line unwritable
    answered = [json.loads(line) for line in text.splitlines() if '"answered"' in line]
    assert answered and answered[-1]["model"].startswith("gpt-4o-mini")


def test_given_hits_sampled_at_zero_when_a_miss_then_a_hit_are_handled_then_only_the_miss_is_logged(
    configure, client, log_lines
):
    configure(CACHE_TIERS="memory", LOG_HIT_SAMPLE_RATE="0")
    first = client.chat("sampled away")
    second = client.chat("sampled away")
    assert (first.cache, second.cache) == ("MISS", "HIT")
    answered = [json.loads(line) for line in log_lines.getvalue().splitlines() if '"answered"' in line]
    assert [line["cache"] for line in answered] == ["MISS"]


def test_given_a_request_when_answered_then_its_line_carries_the_lambda_context_and_request_ids(
    configure, client, log_lines
):
    configure(CACHE_TIERS="memory")
    client.chat("which fields")
    client.chat("which fields")
    answered = [json.loads(line) for line in log_lines.getvalue().splitlines() if '"answered"' in line]
    assert [line["cache"] for line in answered] == ["MISS", "HIT"]
    for line in answered:
        assert line["level"] == "INFO" and line["service"] == "llmcache"
        assert {"function_name", "function_request_id", "correlation_id", "timestamp", "cold_start"} <= set(line)
        assert line["route"] == "chat/completions" and line["status"] == 200 and len(line["tenant"]) == 32
    assert answered[1]["tier"] == "memory"
    assert "which fields" not in log_lines.getvalue()


def test_given_a_hit_when_handled_then_one_emf_line_carries_all_its_metrics(configure, client, capsys):
    configure(CACHE_TIERS="memory", ENVIRONMENT="oneline")
    client.chat("one line please")
    capsys.readouterr()
    client.chat("one line please")
    blobs = [b for b in _emf_lines(capsys.readouterr().out) if "environment" in b]
    assert len(blobs) == 1
    assert {Metric.CACHE_HIT, Metric.HIT_LATENCY, Metric.TOKENS_SAVED} <= set(blobs[0])
    assert blobs[0][Metric.CACHE_HIT] == [1.0]
