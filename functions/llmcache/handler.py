"""Lambda entry point: the API inside the observability wrapper, nothing else."""

from __future__ import annotations

from typing import Any

from llmcache.api.fast_path import answer
from llmcache.observability import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return answer(event, context)
