"""Alarms, topic and dashboard: the metric names and dimensions the code emits, thresholds per env."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_support import Synthesized

from llmcache.constants import (
    ALL_METRICS,
    DIMENSION_ENVIRONMENT,
    DIMENSION_SERVICE,
    METRIC_NAMESPACE,
    SERVICE_NAME,
    Metric,
)


def alarms(s: Synthesized) -> dict[str, dict[str, Any]]:
    prefix = f"llmcache-{s.config.name}-"
    return {
        r["Properties"]["AlarmName"].removeprefix(prefix): r["Properties"]
        for r in s.resources("AWS::CloudWatch::Alarm").values()
    }


def dimensions(env_name: str) -> list[dict[str, str]]:
    return sorted(
        [{"Name": DIMENSION_SERVICE, "Value": SERVICE_NAME}, {"Name": DIMENSION_ENVIRONMENT, "Value": env_name}],
        key=lambda d: d["Name"],
    )


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_given_env_when_synthesized_then_hit_rate_alarm_is_guarded_metric_math(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    s = synthesized[env_name]
    cfg = s.config.alarms
    alarm = alarms(s)["hit-rate"]
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    expression = next(q for q in alarm["Metrics"] if "Expression" in q)

    assert expression["Expression"] == (
        f"IF((FILL(hits, 0) + FILL(misses, 0)) >= {cfg.hit_rate_min_requests}, "
        "100 * FILL(hits, 0) / (FILL(hits, 0) + FILL(misses, 0)))"
    )
    assert expression["ReturnData"] is True
    for query_id, metric_name in (("hits", Metric.CACHE_HIT), ("misses", Metric.CACHE_MISS)):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"] == {"Namespace": METRIC_NAMESPACE, "MetricName": metric_name,
                                  "Dimensions": dimensions(env_name)}  # fmt: skip
        assert stat["Stat"] == "Sum" and stat["Period"] == cfg.period_minutes * 60
        assert queries[query_id]["ReturnData"] is False
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == cfg.hit_rate_min_percent
    assert alarm["TreatMissingData"] == "notBreaching", "a quiet period must not page"
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (cfg.evaluation_periods, cfg.datapoints_to_alarm)


def test_given_dev_and_prod_when_synthesized_then_thresholds_differ_as_configured(
    dev: Synthesized, prod: Synthesized
) -> None:
    def thresholds(s: Synthesized) -> dict[str, float]:
        return {name: a["Threshold"] for name, a in alarms(s).items()}

    assert thresholds(dev) == {
        "hit-rate": 5, "5xx-rate": 10, "upstream-errors": 25, "hit-latency-p99": 1000, "backend-errors": 25,
    }  # fmt: skip
    assert thresholds(prod) == {
        "hit-rate": 20, "5xx-rate": 2, "upstream-errors": 10, "hit-latency-p99": 250, "backend-errors": 5,
    }  # fmt: skip
    assert ">= 20," in json.dumps(alarms(dev)["hit-rate"]["Metrics"])
    assert ">= 200," in json.dumps(alarms(prod)["hit-rate"]["Metrics"])


@pytest.mark.parametrize(
    ("alarm_name", "metric_name", "statistic"),
    [
        ("upstream-errors", Metric.UPSTREAM_ERROR, "Sum"),
        ("backend-errors", Metric.CACHE_BACKEND_ERROR, "Sum"),
        ("hit-latency-p99", Metric.HIT_LATENCY, "p99"),
    ],
)
def test_given_prod_when_synthesized_then_cache_metric_alarms_use_the_emitted_names_and_dimensions(
    prod: Synthesized, alarm_name: str, metric_name: str, statistic: str
) -> None:
    alarm = alarms(prod)[alarm_name]

    assert alarm["Namespace"] == METRIC_NAMESPACE
    assert alarm["MetricName"] == metric_name
    assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == dimensions("prod")
    assert alarm.get("Statistic", alarm.get("ExtendedStatistic")) == statistic
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"


def test_given_prod_when_synthesized_then_5xx_alarm_is_a_guarded_rate_of_the_stage(prod: Synthesized) -> None:
    alarm = alarms(prod)["5xx-rate"]
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    stage = next(iter(prod.resources("AWS::ApiGateway::Stage")))
    cfg = prod.config.alarms

    expression = next(q["Expression"] for q in alarm["Metrics"] if "Expression" in q)
    assert expression == f"IF(requests >= {cfg.server_error_min_requests}, 100 * FILL(errors, 0) / requests)"
    assert queries["errors"]["MetricStat"]["Metric"]["MetricName"] == "5XXError"
    assert queries["requests"]["MetricStat"]["Metric"]["MetricName"] == "Count"
    for q in ("errors", "requests"):
        metric = queries[q]["MetricStat"]["Metric"]
        assert metric["Namespace"] == "AWS/ApiGateway"
        assert {"Name": "Stage", "Value": {"Ref": stage}} in metric["Dimensions"]
    assert alarm["Threshold"] == cfg.server_error_max_percent


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_given_env_when_synthesized_then_every_alarm_notifies_the_sns_topic(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    s = synthesized[env_name]
    topic = next(iter(s.resources("AWS::SNS::Topic")))
    found = alarms(s)

    assert set(found) == {"hit-rate", "5xx-rate", "upstream-errors", "hit-latency-p99", "backend-errors"}
    for name, alarm in found.items():
        assert alarm["AlarmActions"] == [{"Ref": topic}], name
        assert alarm["OKActions"] == [{"Ref": topic}], name


def test_given_an_alarm_email_when_synthesized_then_the_topic_gets_an_email_subscription(
    cdk_context: dict[str, Any], stub_layer: Any
) -> None:
    import dataclasses

    import aws_cdk as cdk

    # A small stack: the monitoring construct alone, over a stand-in stage and function.
    from aws_cdk import aws_apigateway as apigw
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk.assertions import Template
    from infra.config import load_config
    from infra.constructs.monitoring import CacheMonitoring

    config = load_config(cdk_context, "dev")
    alarms_cfg = dataclasses.replace(config.alarms, email="oncall@example.com")
    stack = cdk.Stack(cdk.App(), "Probe")
    fn = lambda_.Function(stack, "Fn", runtime=lambda_.Runtime.PYTHON_3_12, handler="x.y",
                          code=lambda_.Code.from_inline("pass"))  # fmt: skip
    api = apigw.LambdaRestApi(stack, "Api", handler=fn)
    CacheMonitoring(stack, "Monitoring", env_name="dev", alarms=alarms_cfg, stage=api.deployment_stage, function=fn)

    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )


def test_given_dev_and_prod_when_synthesized_then_no_email_subscription_is_made_up(
    dev: Synthesized, prod: Synthesized
) -> None:
    for s in (dev, prod):
        assert s.config.alarms.email is None
        s.template.resource_count_is("AWS::SNS::Subscription", 0)


def test_given_prod_when_synthesized_then_dashboard_shows_every_cache_metric(prod: Synthesized) -> None:
    dashboard = prod.one("AWS::CloudWatch::Dashboard")["Properties"]
    body = json.dumps(dashboard["DashboardBody"])

    assert dashboard["DashboardName"] == "llmcache-prod"
    for name in ALL_METRICS:
        assert f'\\"{name}\\"' in body, name
    for title in ("Hit rate", "Lookups", "Latency by tier", "Tokens saved", "Errors", "Alarms"):
        assert title in body, title
    assert body.count(f'\\"{METRIC_NAMESPACE}\\"') >= len(ALL_METRICS)


def _dashboard_widgets(s: Synthesized) -> list[dict[str, Any]]:
    body = s.one("AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"]
    if isinstance(body, dict):  # Fn::Join of JSON text and tokens (inside strings): the tokens do not matter here
        body = "".join(part if isinstance(part, str) else "token" for part in body["Fn::Join"][1])
    return json.loads(body)["widgets"]


def test_given_prod_when_synthesized_then_dollars_saved_sit_beside_the_hit_rate(prod: Synthesized) -> None:
    widgets = _dashboard_widgets(prod)
    top_row = [w for w in widgets if w["y"] == 0]
    titles = [w["properties"].get("title") for w in top_row]
    assert titles[0] == "Hit rate (%)" and titles[1].startswith("Dollars saved")
    dollars = top_row[1]["properties"]
    assert dollars["view"] == "singleValue" and dollars["setPeriodToTimeRange"] is True
    [metric] = dollars["metrics"]
    assert metric[:2] == [METRIC_NAMESPACE, Metric.COST_SAVED]
    assert {DIMENSION_SERVICE: SERVICE_NAME, DIMENSION_ENVIRONMENT: "prod"}.items() <= dict(
        zip(metric[2:6:2], metric[3:7:2], strict=True)
    ).items()
    assert metric[-1]["stat"] == "Sum"
