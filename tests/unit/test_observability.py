"""The EMF line and the access line: the same output the Powertools classes gave, built without them."""

from __future__ import annotations

import io
import json
import warnings
from types import SimpleNamespace
from typing import Any

import pytest

from llmcache import observability
from llmcache.constants import METRIC_NAMESPACE, Metric
from llmcache.observability import AccessLog, EmfMetrics, Invocation

CONTEXT = SimpleNamespace(
    function_name="llmcache-test",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:llmcache-test",
    aws_request_id="req-123",
)
EVENT = {"requestContext": {"requestId": "apigw-req-456"}, "body": "a prompt that must not be logged"}


def _powertools_line(recorded: list[tuple[str, str, float]], environment: str, capsys: Any) -> dict[str, Any]:
    """What Powertools' Metrics printed for the same values (the reference the EMF line must equal)."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    AmazonCloudWatchEMFProvider.clear_metrics(Metrics(namespace=METRIC_NAMESPACE, service="llmcache").provider)
    reference = Metrics(namespace=METRIC_NAMESPACE, service="llmcache")
    reference.set_default_dimensions(environment=environment)
    for name, unit, value in recorded:
        reference.add_metric(name=name, unit=unit, value=value)
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.flush_metrics()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    reference.clear_default_dimensions()
    assert len(lines) == 1
    return lines[0]


def _emf_line(recorded: list[tuple[str, str, float]], environment: str) -> dict[str, Any]:
    metrics = EmfMetrics(METRIC_NAMESPACE, "llmcache", environment)
    for name, _, value in recorded:
        metrics.add(name, value)
    out = io.StringIO()
    metrics.flush(out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


@pytest.mark.parametrize(
    "recorded",
    [
        [
            (Metric.CACHE_HIT, "Count", 1),
            (Metric.HIT_LATENCY, "Milliseconds", 0.125),
            (Metric.TOKENS_SAVED, "Count", 42),
        ],
        [(Metric.CACHE_MISS, "Count", 1), (Metric.UPSTREAM_LATENCY, "Milliseconds", 812.5)],
        [
            (Metric.CACHE_BACKEND_ERROR, "Count", 1),
            (Metric.CACHE_BACKEND_ERROR, "Count", 1),
            (Metric.CACHE_BYPASS, "Count", 1),
        ],
    ],
)
def test_given_metrics_of_an_invocation_when_flushed_then_the_line_equals_what_powertools_printed(recorded, capsys):
    ours = _emf_line(recorded, "prod")
    theirs = _powertools_line(recorded, "prod", capsys)
    assert isinstance(ours["_aws"].pop("Timestamp"), int)
    theirs["_aws"].pop("Timestamp")
    assert ours == theirs
    assert list(ours) == list(theirs)  # same key order: dimensions, then metric values


def test_given_nothing_recorded_when_flushed_then_no_line_is_printed():
    metrics = EmfMetrics(METRIC_NAMESPACE, "llmcache", "dev")
    out = io.StringIO()
    metrics.flush(out)
    assert out.getvalue() == ""


def test_given_a_flushed_invocation_when_the_next_one_flushes_then_it_carries_only_its_own_values():
    metrics = EmfMetrics(METRIC_NAMESPACE, "llmcache", "dev")
    metrics.add(Metric.CACHE_MISS, 1)
    metrics.flush(io.StringIO())
    metrics.add(Metric.CACHE_HIT, 1)
    out = io.StringIO()
    metrics.flush(out)
    line = json.loads(out.getvalue())
    assert Metric.CACHE_HIT in line and Metric.CACHE_MISS not in line


def test_given_a_hundred_values_of_one_metric_when_recorded_then_a_line_is_published_early():
    metrics = EmfMetrics(METRIC_NAMESPACE, "llmcache", "dev")
    out = io.StringIO()
    metrics.flush = lambda stream=None, flush=metrics.flush: flush(out)  # type: ignore[method-assign]
    for _ in range(100):
        metrics.add(Metric.CACHE_HIT, 1)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 1 and len(lines[0][Metric.CACHE_HIT]) == 100
    assert metrics.pending() == {}


def test_given_a_value_that_is_not_finite_when_recorded_then_the_line_stays_valid_json():
    metrics = EmfMetrics(METRIC_NAMESPACE, "llmcache", "dev")
    metrics.add(Metric.HIT_LATENCY, float("nan"))
    metrics.add(Metric.CACHE_HIT, 1)
    out = io.StringIO()
    metrics.flush(out)
    line = json.loads(out.getvalue())
    assert Metric.HIT_LATENCY not in line and line[Metric.CACHE_HIT] == [1.0]


def test_given_the_environment_changed_when_flushed_then_the_dimension_follows():
    metrics = EmfMetrics(METRIC_NAMESPACE, "llmcache", "first")
    metrics.add(Metric.CACHE_HIT, 1)
    metrics.flush(io.StringIO())
    metrics.use_environment("second")
    metrics.add(Metric.CACHE_HIT, 1)
    out = io.StringIO()
    metrics.flush(out)
    assert json.loads(out.getvalue())["environment"] == "second"


def test_given_powertools_metrics_disabled_when_flushed_then_nothing_is_printed(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics = EmfMetrics(METRIC_NAMESPACE, "llmcache", "dev")
    metrics.add(Metric.CACHE_HIT, 1)
    out = io.StringIO()
    metrics.flush(out)
    metrics.cold_start("fn", out)
    assert out.getvalue() == ""


# ----- the access line -------------------------------------------------------------------------
class _Captured:
    """The access log with its output captured and the invocation's keys set from a Lambda context."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, draws: list[float] | None = None) -> None:
        self.stream = io.StringIO()
        handler = observability.logger.registered_handler
        monkeypatch.setattr(handler, "stream", self.stream)
        invocation = Invocation()
        invocation.begin(EVENT, CONTEXT)
        monkeypatch.setattr(observability, "invocation", invocation)
        pending = list(draws or [])
        self.log = AccessLog(observability.logger, "_client_call", rng=lambda: pending.pop(0))

    def answered(self, cache: str | None = "HIT", sample_rate: float = 1.0, **fields: Any) -> bool:
        values = {"route": "chat/completions", "status": 200, "cache": cache, "tier": "memory", "tenant": "t" * 32}
        return self.log({**values, "model": "gpt-4o-mini", **fields}, hit=cache == "HIT", sample_rate=sample_rate)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


def test_given_an_answered_request_when_logged_then_the_line_has_powertools_fields_and_the_request_ids(
    monkeypatch,
):
    captured = _Captured(monkeypatch)
    captured.answered()
    (line,) = captured.lines()
    assert list(line)[:5] == ["level", "location", "message", "timestamp", "service"]
    assert line["level"] == "INFO" and line["message"] == "answered" and line["service"] == "llmcache"
    assert line["cold_start"] is True
    assert line["function_name"] == "llmcache-test"
    assert line["function_memory_size"] == 512
    assert line["function_arn"] == CONTEXT.invoked_function_arn
    assert line["function_request_id"] == "req-123"
    assert line["correlation_id"] == "apigw-req-456"
    assert {k: line[k] for k in ("route", "status", "cache", "tier", "tenant", "model")} == {
        "route": "chat/completions",
        "status": 200,
        "cache": "HIT",
        "tier": "memory",
        "tenant": "t" * 32,
        "model": "gpt-4o-mini",
    }
    assert "a prompt that must not be logged" not in captured.stream.getvalue()


def test_given_a_timestamp_when_formatted_then_it_is_the_powertools_default_format(monkeypatch):
    import logging

    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    stamp = 1_796_136_146.3219
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.created, record.msecs = stamp, (stamp - int(stamp)) * 1000
    expected = LambdaPowertoolsFormatter().formatTime(record)
    assert AccessLog(observability.logger, "x")._timestamp(stamp) == expected


def test_given_a_miss_without_a_tier_when_logged_then_the_empty_field_is_left_out_as_powertools_does(monkeypatch):
    captured = _Captured(monkeypatch)
    captured.answered(cache="MISS", tier=None)
    (line,) = captured.lines()
    assert line["cache"] == "MISS" and "tier" not in line


def test_given_a_second_invocation_when_logged_then_it_is_not_a_cold_start(monkeypatch):
    captured = _Captured(monkeypatch)
    observability.invocation.begin(EVENT, CONTEXT)
    captured.answered()
    assert captured.lines()[0]["cold_start"] is False


def test_given_hits_sampled_at_a_half_when_logged_then_only_the_draws_under_it_write_a_line(monkeypatch):
    captured = _Captured(monkeypatch, draws=[0.1, 0.7, 0.49, 0.5])
    written = [captured.answered(sample_rate=0.5) for _ in range(4)]
    assert written == [True, False, True, False]
    assert len(captured.lines()) == 2


@pytest.mark.parametrize("outcome", ["MISS", "BYPASS", None])
def test_given_hits_sampled_at_zero_when_a_non_hit_is_answered_then_it_is_still_logged(monkeypatch, outcome):
    captured = _Captured(monkeypatch)  # no draws: a sampling decision would fail the test
    assert captured.answered(cache=outcome, sample_rate=0.0)
    assert len(captured.lines()) == 1


def test_given_hits_sampled_at_zero_when_a_hit_is_answered_then_no_line_is_written(monkeypatch):
    captured = _Captured(monkeypatch, draws=[0.0])
    assert not captured.answered(sample_rate=0.0)
    assert captured.lines() == []


def test_given_the_level_above_info_when_answered_then_no_line_is_written(monkeypatch):
    captured = _Captured(monkeypatch)
    previous = observability.logger.log_level
    observability.logger.setLevel("WARNING")
    try:
        assert not captured.answered(cache="MISS")
    finally:
        observability.logger.setLevel(previous)
    assert captured.lines() == []


def test_given_the_same_request_when_logged_by_powertools_then_its_line_matches_the_access_line(monkeypatch):
    import logging

    from aws_lambda_powertools import Logger

    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8")
    captured = _Captured(monkeypatch)
    observability.invocation.begin(EVENT, CONTEXT)
    fields = {"route": "chat/completions", "status": 200, "cache": "MISS", "tier": None, "tenant": "t" * 32}
    fields["model"] = "gpt-4o-mini"
    captured.log(fields)
    reference_stream = io.StringIO()
    # Its own service, hence its own stdlib logger: the app's "llmcache" one is configured already.
    reference = Logger(service="reference", logger_handler=logging.StreamHandler(reference_stream), level="INFO")
    reference.append_keys(**observability.invocation.keys)
    reference.info("answered", extra=fields)
    ours, theirs = captured.lines()[0], json.loads(reference_stream.getvalue())
    assert (ours.pop("service"), theirs.pop("service")) == ("llmcache", "reference")
    for line in (ours, theirs):
        line.pop("timestamp"), line.pop("location")
    assert ours == theirs
    assert list(ours) == list(theirs)
    assert ours["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"


def test_given_an_invocation_when_a_powertools_warning_is_logged_then_it_carries_the_invocations_keys(monkeypatch):
    captured = _Captured(monkeypatch)
    second = SimpleNamespace(**{**vars(CONTEXT), "aws_request_id": "req-789"})
    observability.invocation.begin(EVENT, second)
    observability.logger.warning("a backend failed")
    (line,) = captured.lines()
    assert line["message"] == "a backend failed" and line["level"] == "WARNING"
    assert line["function_request_id"] == "req-789" and line["correlation_id"] == "apigw-req-456"


def test_given_a_percent_sign_in_the_environment_when_flushed_then_the_line_still_equals_powertools(capsys):
    recorded = [(Metric.CACHE_HIT, "Count", 1), (Metric.HIT_LATENCY, "Milliseconds", 2.5)]
    ours = _emf_line(recorded, "100%s-%d")
    theirs = _powertools_line(recorded, "100%s-%d", capsys)
    ours["_aws"].pop("Timestamp"), theirs["_aws"].pop("Timestamp")
    assert ours == theirs and ours["environment"] == "100%s-%d"
