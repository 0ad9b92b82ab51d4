"""Lambda entry point: Powertools decorators around the resolver, nothing else."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from llmcache.api import app
from llmcache.observability import logger, metrics, traced


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@traced
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
