"""Lambda door (buffered deployments): the proxy event to the API, its answer back as the proxy output.

A streamed answer is joined into one body here; the ASGI door (`asgi.py`) relays it instead. Both doors go
through `api.fast_path.dispatch` inside one invocation context (`observability.lambda_entry`'s begin and end).
"""

from __future__ import annotations

from typing import Any

from llmcache.api.fast_path import buffered, dispatch
from llmcache.api.proxy_events import proxy_response
from llmcache.observability import lambda_entry


@lambda_entry
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return proxy_response(buffered(dispatch(event, context), event.get("path") or ""))
