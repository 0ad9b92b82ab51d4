"""Alarms, an SNS topic and a dashboard over the metrics the function emits (EMF).

Metric names, namespace and dimensions come from `llmcache.constants`, the module the code uses,
so a renamed metric breaks the infra tests instead of silently flat-lining an alarm.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions

from constructs import Construct
from infra.config import AlarmConfig
from llmcache.constants import (
    DIMENSION_ENVIRONMENT,
    DIMENSION_SERVICE,
    METRIC_NAMESPACE,
    SERVICE_NAME,
    Metric,
)

# Hit rate in percent, only for periods with at least MIN lookups: IF without an else branch
# returns no datapoint, and missing data is not breaching, so a quiet night never pages.
HIT_RATE_EXPRESSION = (
    "IF((FILL(hits, 0) + FILL(misses, 0)) >= {min_requests}, 100 * FILL(hits, 0) / (FILL(hits, 0) + FILL(misses, 0)))"
)
SERVER_ERROR_RATE_EXPRESSION = "IF(requests >= {min_requests}, 100 * FILL(errors, 0) / requests)"


class CacheMonitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        env_name: str,
        alarms: AlarmConfig,
        stage: apigw.Stage,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, id)
        self.env_name = env_name
        self.period = Duration.minutes(alarms.period_minutes)

        self.topic = sns.Topic(self, "AlarmTopic", display_name=f"llmcache {env_name} alarms", enforce_ssl=True)
        if alarms.email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarms.email))
        alarm_action = actions.SnsAction(self.topic)

        hits = self.cache_metric(Metric.CACHE_HIT)
        misses = self.cache_metric(Metric.CACHE_MISS)
        self.hit_rate = cloudwatch.MathExpression(
            expression=HIT_RATE_EXPRESSION.format(min_requests=alarms.hit_rate_min_requests),
            using_metrics={"hits": hits, "misses": misses},
            label="Hit rate (%)",
            period=self.period,
        )
        self.server_error_rate = cloudwatch.MathExpression(
            expression=SERVER_ERROR_RATE_EXPRESSION.format(min_requests=alarms.server_error_min_requests),
            using_metrics={
                "errors": stage.metric_server_error(statistic="Sum", period=self.period),
                "requests": stage.metric_count(statistic="Sum", period=self.period),
            },
            label="5XX rate (%)",
            period=self.period,
        )

        def alarm(
            name: str,
            metric: cloudwatch.IMetric,
            threshold: float,
            comparison: cloudwatch.ComparisonOperator,
            description: str,
        ) -> cloudwatch.Alarm:
            created = cloudwatch.Alarm(
                self,
                name.title().replace("-", ""),
                alarm_name=f"llmcache-{env_name}-{name}",
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                comparison_operator=comparison,
                evaluation_periods=alarms.evaluation_periods,
                datapoints_to_alarm=alarms.datapoints_to_alarm,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(alarm_action)
            created.add_ok_action(alarm_action)
            return created

        below = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
        above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        self.alarms = [
            alarm(
                "hit-rate",
                self.hit_rate,
                alarms.hit_rate_min_percent,
                below,
                f"Cache hit rate under {alarms.hit_rate_min_percent}% while at least "
                f"{alarms.hit_rate_min_requests} lookups per {alarms.period_minutes} min happened: keys "
                "stopped matching (a client adds a changing field?) or entries expire too soon.",
            ),
            alarm(
                "5xx-rate",
                self.server_error_rate,
                alarms.server_error_max_percent,
                above,
                f"More than {alarms.server_error_max_percent}% of API requests answered 5XX "
                "(502/504 from the provider, or the function failed).",
            ),
            alarm(
                "upstream-errors",
                self.cache_metric(Metric.UPSTREAM_ERROR),
                alarms.upstream_errors_max,
                above,
                f"More than {alarms.upstream_errors_max} failed provider calls per "
                f"{alarms.period_minutes} min: the provider is down, slow or refusing the key.",
            ),
            alarm(
                "hit-latency-p99",
                self.cache_metric(Metric.HIT_LATENCY, statistic="p99"),
                alarms.hit_latency_p99_max_ms,
                above,
                f"p99 of serving a cache hit is above {alarms.hit_latency_p99_max_ms} ms: a storage tier "
                "is slow (DynamoDB throttling, S3 bodies, Redis).",
            ),
            alarm(
                "backend-errors",
                self.cache_metric(Metric.CACHE_BACKEND_ERROR),
                alarms.backend_errors_max,
                above,
                f"More than {alarms.backend_errors_max} cache backend faults per {alarms.period_minutes} "
                "min: requests still succeed from upstream, but the cache is not serving or storing.",
            ),
        ]

        self.dashboard = self._dashboard(stage, function)

    def cache_metric(self, name: str, statistic: str = "Sum") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=name,
            dimensions_map={DIMENSION_SERVICE: SERVICE_NAME, DIMENSION_ENVIRONMENT: self.env_name},
            statistic=statistic,
            period=self.period,
        )

    def _dashboard(self, stage: apigw.Stage, function: lambda_.IFunction) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"llmcache-{self.env_name}",
            default_interval=Duration.hours(6),
        )
        latency = [
            self.cache_metric(metric, statistic=stat).with_(label=f"{label} {stat}")
            for metric, label in ((Metric.HIT_LATENCY, "hit"), (Metric.UPSTREAM_LATENCY, "upstream"))
            for stat in ("p50", "p99")
        ]
        cost_saved = self.cache_metric(Metric.COST_SAVED).with_(label="US$ saved")
        dashboard.add_widgets(
            cloudwatch.SingleValueWidget(title="Hit rate (%)", metrics=[self.hit_rate], width=4, height=6),
            cloudwatch.SingleValueWidget(
                title="Dollars saved (US$, list prices)",
                metrics=[cost_saved],
                set_period_to_time_range=True,  # the sum over the dashboard's time range, not one period
                width=4,
                height=6,
            ),
            cloudwatch.GraphWidget(
                title="Hit rate (%)",
                left=[self.hit_rate],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Lookups",
                left=[
                    self.cache_metric(Metric.CACHE_HIT).with_(label="hits"),
                    self.cache_metric(Metric.CACHE_MISS).with_(label="misses"),
                    self.cache_metric(Metric.CACHE_BYPASS).with_(label="bypass"),
                ],
                stacked=True,
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Latency by tier (ms): cache hit vs upstream call",
                left=latency,
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API Gateway latency (ms)",
                left=[
                    stage.metric_latency(statistic="p99", label="API p99"),
                    stage.metric_integration_latency(statistic="p99", label="integration p99"),
                ],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Tokens saved (left) and US$ saved (right)",
                left=[self.cache_metric(Metric.TOKENS_SAVED).with_(label="tokens saved")],
                right=[cost_saved],
                right_y_axis=cloudwatch.YAxisProps(label="US$", show_units=False),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Errors",
                left=[
                    self.cache_metric(Metric.UPSTREAM_ERROR).with_(label="upstream errors"),
                    self.cache_metric(Metric.CACHE_BACKEND_ERROR).with_(label="cache backend errors"),
                    stage.metric_server_error(statistic="Sum", label="API 5XX"),
                    stage.metric_client_error(statistic="Sum", label="API 4XX"),
                    function.metric_errors(label="function errors"),
                    function.metric_throttles(label="function throttles"),
                ],
                width=16,
            ),
        )
        dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=3))
        return dashboard
