"""Reads the gateway's own EMF metrics back from CloudWatch, for the admin stats route.

Many Lambda containers serve one environment, so no container's counters are the answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from llmcache.constants import DIMENSION_ENVIRONMENT, DIMENSION_SERVICE, METRIC_NAMESPACE
from llmcache.errors import BackendFailure


class MetricsReader:
    def __init__(self, service: str, environment: str, client: Any = None) -> None:
        self.dimensions = [
            {"Name": DIMENSION_SERVICE, "Value": service},
            {"Name": DIMENSION_ENVIRONMENT, "Value": environment},
        ]
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("cloudwatch")
        return self._client

    def sums(self, names: list[str], window_seconds: int, now: dt.datetime | None = None) -> dict[str, float]:
        # CloudWatch aggregates by minute: end on the next whole minute so the current one counts.
        end = (now or dt.datetime.now(dt.UTC)).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        start = end - dt.timedelta(seconds=window_seconds)
        period = max(60, (window_seconds // 60) * 60)
        queries = [
            {
                "Id": f"m{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": METRIC_NAMESPACE,
                        "MetricName": name,
                        "Dimensions": self.dimensions,
                    },
                    "Period": period,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for i, name in enumerate(names)
        ]
        totals = dict.fromkeys(names, 0.0)
        try:
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
                if token:
                    kwargs["NextToken"] = token
                page = self.client.get_metric_data(**kwargs)
                for result in page.get("MetricDataResults", []):
                    name = names[int(result["Id"][1:])]
                    totals[name] += float(sum(result.get("Values", [])))
                token = page.get("NextToken")
                if not token:
                    break
        except Exception as exc:
            raise BackendFailure("cloudwatch", "get_metric_data", exc) from exc
        return totals
