"""The one logger, tracer and metrics, plus process counters for `make run`'s stats.

Nothing here logs prompt text or credentials: callers pass ids and sizes, never bodies.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from llmcache.constants import DIMENSION_ENVIRONMENT, METRIC_NAMESPACE, SERVICE_NAME, Env, Metric
from llmcache.errors import BackendFailure

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME))
# Admin and health calls record no metric; Powertools would warn about that on each of them.
warnings.filterwarnings("ignore", message="No application metrics to publish")
# At DEBUG (dev's level) these libraries log whole request and response bodies: Secrets Manager values,
# cached answers, prompts. The gateway's own logger keeps the configured level; theirs stay at WARNING.
for _chatty in ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "httpcore", "redis"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)


def _make_tracer() -> Tracer | None:
    """X-Ray SDK subsegments cost ~0.5 s of cold start (the SDK imports botocore and patches it),
    so they are opt-in: POWERTOOLS_TRACE_DISABLED=false on Lambda. Lambda's active tracing still
    records each invocation's segment without the SDK."""
    in_lambda = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    wanted = os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() in ("0", "false", "no")
    if in_lambda and wanted:
        return Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME))
    return None


def traced(handler: F) -> F:
    """The Powertools tracer around the Lambda handler when tracing is on; the handler itself when off."""
    if tracer is None:
        return handler
    return cast(F, tracer.capture_lambda_handler(handler, capture_response=False, capture_error=False))


tracer = _make_tracer()
metrics = Metrics(namespace=METRIC_NAMESPACE, service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME))


def use_environment(name: str) -> None:
    """Every metric carries the environment (dev, staging, prod) as a dimension, as the alarms expect.

    Reconfiguring (tests, the local runner) replaces the value; Powertools warns when a dimension is added
    twice, so the old one is dropped first."""
    if metrics.default_dimensions.get(DIMENSION_ENVIRONMENT) == name:
        return
    metrics.dimension_set.pop(DIMENSION_ENVIRONMENT, None)
    metrics.set_default_dimensions(**{DIMENSION_ENVIRONMENT: name})


use_environment(os.environ.get(Env.ENVIRONMENT, "").strip() or "local")

F = TypeVar("F", bound=Callable[..., Any])

_UNITS = {
    Metric.UPSTREAM_LATENCY: MetricUnit.Milliseconds,
    Metric.HIT_LATENCY: MetricUnit.Milliseconds,
    Metric.COST_SAVED: MetricUnit.NoUnit,  # US dollars: CloudWatch has no currency unit
}


class ProcessCounters:
    """What this process has counted since it started (the stats route's source under `make run`)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.totals: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, name: str, value: float) -> None:
        with self._lock:
            self.totals[name] = self.totals.get(name, 0.0) + value

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self.totals)


counters = ProcessCounters()


def record(name: str, value: float = 1.0) -> None:
    metrics.add_metric(name=name, unit=_UNITS.get(name, MetricUnit.Count), value=value)
    counters.add(name, value)


class FailureLog:
    """Count every backend failure; log one line per tier and operation per burst, not per request."""

    def __init__(self, quiet_seconds: float = 10.0) -> None:
        self.quiet_seconds = quiet_seconds
        self._last_logged: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, failure: BackendFailure) -> None:
        record(Metric.CACHE_BACKEND_ERROR)
        what = f"{failure.tier}.{failure.operation}"
        now = time.monotonic()
        with self._lock:
            if now - self._last_logged.get(what, -1e9) < self.quiet_seconds:
                self._suppressed[what] += 1
                return
            self._last_logged[what] = now
            suppressed = self._suppressed.pop(what, 0)
        logger.warning(
            "cache backend failed; answering without it",
            extra={
                "tier": failure.tier,
                "operation": failure.operation,
                "error": _describe(failure),
                "suppressed_since_last": suppressed,
            },
        )


def _describe(failure: BackendFailure) -> str:
    cause = failure.__cause__
    return type(cause).__name__ if cause is not None else str(failure)[:200]


report_backend_failure = FailureLog()
