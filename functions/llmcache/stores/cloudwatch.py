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
        return self.window(names, window_seconds, window_seconds, now)[0]

    def window(
        self, names: list[str], window_seconds: int, step_seconds: int, now: dt.datetime | None = None
    ) -> tuple[dict[str, float], dict[str, list[float]], int]:
        """Each metric's sum over the window, its sums per step (oldest first), and the first step's start (epoch
        seconds). The window is whole steps ending with the current minute."""
        # CloudWatch aggregates by minute: end on the next whole minute so the current one counts.
        end = (now or dt.datetime.now(dt.UTC)).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        step = max(60, (step_seconds // 60) * 60)
        points = max(1, -(-window_seconds // step))
        start = end - dt.timedelta(seconds=points * step)
        queries = [
            {
                "Id": f"m{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": METRIC_NAMESPACE,
                        "MetricName": name,
                        "Dimensions": self.dimensions,
                    },
                    "Period": step,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for i, name in enumerate(names)
        ]
        totals = dict.fromkeys(names, 0.0)
        series = {name: [0.0] * points for name in names}
        try:
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
                if token:
                    kwargs["NextToken"] = token
                page = self.client.get_metric_data(**kwargs)
                for result in page.get("MetricDataResults", []):
                    name = names[int(result["Id"][1:])]
                    for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                        totals[name] += float(value)
                        point = int((stamp - start).total_seconds() // step)
                        if 0 <= point < points:
                            series[name][point] += float(value)
                token = page.get("NextToken")
                if not token:
                    break
        except Exception as exc:
            raise BackendFailure("cloudwatch", "get_metric_data", exc) from exc
        return totals, series, int(start.timestamp())
