"""The one logger, tracer and metrics, plus this process's counters (`make run`'s stats: `stores.process_stats`).

Nothing here logs prompt text or credentials: callers pass ids and sizes, never bodies.

A cache hit takes a few dozen microseconds of our own work, so the two things every request does here
are built for that: metrics accumulate in a dict and become one EMF line per invocation (the shape
Powertools' `Metrics` prints, without its per-call validation and JSON round trips), and the access line
("answered") is written straight to the logger's stream with the fields Powertools' formatter would give
it, without a LogRecord and the generic formatter's per-record work. Rarer lines (warnings, errors) still
go through the Powertools logger.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import random
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from llmcache.constants import DIMENSION_ENVIRONMENT, DIMENSION_SERVICE, METRIC_NAMESPACE, SERVICE_NAME, Env, Metric
from llmcache.errors import BackendFailure
from llmcache.stores.process_stats import ProcessStats

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME))
# Admin and health calls record no metric; Powertools would warn about that on each of them.
warnings.filterwarnings("ignore", message="No application metrics to publish")
# At DEBUG (dev's level) these libraries log whole request and response bodies: Secrets Manager values,
# cached answers, prompts. The gateway's own logger keeps the configured level; theirs stay at WARNING.
for _chatty in ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "httpcore", "redis"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)


# ----- metrics (CloudWatch EMF) -----------------------------------------------------------------
MAX_VALUES = 100  # EMF: at most 100 metrics per line and 100 values per metric
_COLD_START_METRIC = "ColdStart"


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on", "y", "t")


def _metrics_disabled() -> bool:
    """Powertools' rule: POWERTOOLS_METRICS_DISABLED, or POWERTOOLS_DEV when that is unset."""
    if os.environ.get("POWERTOOLS_METRICS_DISABLED") is not None:
        return _truthy("POWERTOOLS_METRICS_DISABLED")
    return _truthy("POWERTOOLS_DEV")


class EmfMetrics:
    """Values recorded during an invocation, printed as one EMF line when it ends.

    The line is what Powertools' `Metrics.flush_metrics` prints: the namespace, one dimension set
    (environment, service), each metric's name and unit, and its values as a list. The part that only
    depends on which metrics were recorded is serialized once per combination and reused."""

    def __init__(self, namespace: str, service: str, environment: str) -> None:
        self.namespace = namespace
        self.service = service
        self.dimensions: dict[str, str] = {}
        self.disabled = _metrics_disabled()
        self._values: dict[str, list[float]] = {}
        self._templates: dict[tuple[str, ...], str] = {}
        self._lock = threading.Lock()
        self.use_environment(environment)

    def use_environment(self, name: str) -> None:
        """Every metric carries the environment (dev, staging, prod) as a dimension, as the alarms expect."""
        self.dimensions = {DIMENSION_ENVIRONMENT: name, DIMENSION_SERVICE: self.service}
        self._templates = {}

    def add(self, name: str, value: float) -> None:
        value = float(value)
        if not math.isfinite(value):  # EMF (JSON) cannot carry it
            return
        with self._lock:
            values = self._values.setdefault(name, [])
            values.append(value)
            full = len(values) >= MAX_VALUES or len(self._values) >= MAX_VALUES
        if full:  # a long invocation (or `make run`'s threads) publishes early, as Powertools does
            self.flush()

    def pending(self) -> dict[str, list[float]]:
        with self._lock:
            return {name: list(values) for name, values in self._values.items()}

    def flush(self, out: Any = None) -> None:
        """Print what was recorded since the last flush as one EMF line (nothing when nothing was)."""
        with self._lock:
            recorded, self._values = self._values, {}
        if not recorded or self.disabled:
            return
        names = tuple(recorded)
        template = self._templates.get(names)
        if template is None:
            template = self._templates[names] = self._template(names)
        values = tuple(",".join(map(repr, recorded[name])) for name in names)
        stream = out if out is not None else sys.stdout
        stream.write(template % (int(time.time() * 1000), *values))

    def _template(self, names: tuple[str, ...]) -> str:
        """The line for this set of metrics with %-slots for the timestamp and each metric's values: the
        directive, dimensions and names are serialized once per combination."""
        directive = {
            "Namespace": self.namespace,
            "Dimensions": [list(self.dimensions)],
            "Metrics": [{"Name": name, "Unit": _UNITS.get(name, MetricUnit.Count).value} for name in names],
        }

        def text(value: Any) -> str:  # JSON, with % doubled for the %-formatting below
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("%", "%%")

        slots = ",".join(f"{text(name)}:[%s]" for name in names)
        dimensions = text(self.dimensions)[1:-1]
        return f'{{"_aws":{{"Timestamp":%d,"CloudWatchMetrics":[{text(directive)}]}},{dimensions},{slots}}}\n'

    def cold_start(self, function_name: str, out: Any = None) -> None:
        """Powertools' ColdStart line: its own dimension set (function_name, service)."""
        if self.disabled:
            return
        blob = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["function_name", DIMENSION_SERVICE]],
                        "Metrics": [{"Name": _COLD_START_METRIC, "Unit": MetricUnit.Count.value}],
                    }
                ],
            },
            "function_name": function_name,
            DIMENSION_SERVICE: self.service,
            _COLD_START_METRIC: [1.0],
        }
        (out if out is not None else sys.stdout).write(json.dumps(blob, separators=(",", ":")) + "\n")


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
metrics = EmfMetrics(METRIC_NAMESPACE, os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME), "local")


def use_environment(name: str) -> None:
    """Every metric carries the environment (dev, staging, prod) as a dimension, as the alarms expect.

    Reconfiguring (tests, the local runner) replaces the value."""
    metrics.use_environment(name)


use_environment(os.environ.get(Env.ENVIRONMENT, "").strip() or "local")

F = TypeVar("F", bound=Callable[..., Any])

_UNITS = {
    Metric.UPSTREAM_LATENCY: MetricUnit.Milliseconds,
    Metric.HIT_LATENCY: MetricUnit.Milliseconds,
    Metric.COST_SAVED: MetricUnit.NoUnit,  # US dollars: CloudWatch has no currency unit
}


# What this process counted, in one-minute buckets split by route, model and match: the stats of `make run`.
counters = ProcessStats()


def record(name: str, value: float = 1.0) -> None:
    metrics.add(name, value)
    counters.add(name, value)


# ----- the invocation: log context, cold start, one metrics line at the end --------------------
class Invocation:
    """The keys Powertools' inject_lambda_context adds to every log line, set once per invocation."""

    def __init__(self) -> None:
        self.cold_start = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency"
        self.metric_cold_start = True
        self.keys: dict[str, Any] = {}
        self.trace_id: str | None = None

    def begin(self, event: Any, context: Any) -> None:
        request_context = event.get("requestContext") if isinstance(event, dict) else None
        keys = {
            "cold_start": self.cold_start,
            "function_name": getattr(context, "function_name", None),
            "function_memory_size": getattr(context, "memory_limit_in_mb", None),
            "function_arn": getattr(context, "invoked_function_arn", None),
            "function_request_id": getattr(context, "aws_request_id", None),
            # API Gateway REST's request id (Powertools' correlation_paths.API_GATEWAY_REST)
            "correlation_id": request_context.get("requestId") if isinstance(request_context, dict) else None,
        }
        self.cold_start = False
        self.keys = keys
        trace = os.environ.get("_X_AMZN_TRACE_ID")  # set by Lambda for each invocation
        self.trace_id = trace.split(";")[0].replace("Root=", "") if trace else None

    def end(self, context: Any) -> None:
        if self.metric_cold_start:
            self.metric_cold_start = False
            metrics.cold_start(str(getattr(context, "function_name", None) or metrics.service))
        metrics.flush()


invocation = Invocation()


class _InvocationKeys(logging.Filter):
    """Gives the Powertools lines (warnings, errors: rare) the invocation's keys as they are written, instead
    of updating the formatter on every invocation."""

    def filter(self, record: logging.LogRecord) -> bool:
        logger.append_keys(**invocation.keys)
        return True


logging.getLogger(logger.name).addFilter(_InvocationKeys())


def lambda_entry(handler: F) -> F:
    """Around the Lambda handler: log context keys in, traced when tracing is on, metrics out."""
    inner = traced(handler)

    @functools.wraps(handler)
    def entry(event: Any, context: Any) -> Any:
        invocation.begin(event, context)
        try:
            return inner(event, context)
        finally:
            invocation.end(context)

    return cast(F, entry)


# ----- the access line -------------------------------------------------------------------------
ANSWERED = "answered"
_LINE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)  # Powertools' serializer options


class AccessLog:
    """One JSON line per answered client request, written straight to the Powertools handler's stream.

    Same keys, order and timestamp format as the Powertools formatter's lines (level, location, message,
    timestamp, service, the invocation's keys, the request's own fields, xray_trace_id when traced; None
    values left out), so log queries see no difference. `location` names the caller, fixed."""

    def __init__(self, log: Logger, location: str, rng: Callable[[], float] = random.random) -> None:
        self.log = log
        self._level_gate = logging.getLogger(log.name)  # the stdlib logger Powertools configures
        self.location = location
        self.rng = rng
        # Everything up to the timestamp's value is the same on every line.
        self._head = _LINE.encode({"level": "INFO", "location": location, "message": ANSWERED})[:-1] + ',"timestamp":"'
        self._second = -1
        self._stamp = self._zone = ""

    def __call__(self, fields: Mapping[str, Any], *, hit: bool = False, sample_rate: float = 1.0) -> bool:
        """Write the line; False when the level is above INFO or a hit was sampled out."""
        if not self._level_gate.isEnabledFor(logging.INFO):
            return False
        if hit and sample_rate < 1.0 and self.rng() >= sample_rate:
            return False
        rest = {"service": metrics.service, **invocation.keys, **fields, "xray_trace_id": invocation.trace_id}
        for name in [name for name, value in rest.items() if value is None]:
            del rest[name]
        text = f'{self._head}{self._timestamp(time.time())}",{_LINE.encode(rest)[1:]}\n'
        stream = getattr(self.log.registered_handler, "stream", None) or sys.stdout
        stream.write(text)
        stream.flush()
        return True

    def _timestamp(self, now: float) -> str:
        """Powertools' default: '2026-12-01 14:41:36,902+0000' in local time; the seconds part cached."""
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._zone = time.strftime("%z", time.localtime(second))
        return f"{self._stamp},{int((now - second) * 1000):03d}{self._zone}"


access_log = AccessLog(logger, location="_client_call")


def log_answered(
    *,
    route: str,
    status: int,
    cache: str | None,
    tier: str | None,
    tenant: str,
    model: str,
    sample_rate: float = 1.0,
) -> None:
    """The request's access line: ids and sizes only, never prompt text or keys."""
    access_log(
        {
            "route": route,
            "status": status,
            "cache": cache,
            "tier": tier,
            "tenant": tenant,
            # the client's text: a lone surrogate would make the whole log line unwritable
            "model": model[:100].encode("utf-8", "replace").decode(),
        },
        hit=cache == "HIT",  # only plain hits are sampled: every miss, bypass and error is logged
        sample_rate=sample_rate,
    )


# ----- backend failures ------------------------------------------------------------------------
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
