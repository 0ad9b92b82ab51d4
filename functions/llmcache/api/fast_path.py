"""The client POST routes (chat, completions, embeddings) answered without the resolver's generic work.

A cache hit is ~50 µs of the gateway's own work; Powertools' resolver adds ~20 µs around it that these
routes never use: matching the path against every route, the middleware stack, and response checks
(CORS, cache-control, compression, which merges the request's headers on every call). None of that is
configured for them. So the Lambda handler sends a POST to a client path straight to the route's own
function (`api._client_call`; Bedrock's `/model/...`: `api.bedrock_runtime`), maps what it raises with the
handlers routes.py registered (the resolver's own lookup), and builds the proxy response with the resolver's
own ResponseBuilder. Every other request (admin routes, health, 404/405) goes through `app.resolve`.
tests/integration/test_fast_path.py holds both paths to the same answers.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter, ResponseBuilder
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from llmcache.api import routes as api

# Each client route is served with and without the /v1 prefix (some SDKs are configured without it).
CLIENT_PATHS = {f"{prefix}/{route}": route for route in api.CLIENT_ROUTES for prefix in ("/v1", "")}
BEDROCK_MODEL_PATHS = "/model/"


def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The API Gateway proxy response for `event`, as `api.app.resolve` would give it."""
    post = event.get("httpMethod") == "POST"
    path = event.get("path", "")
    route = CLIENT_PATHS.get(path) if post else None
    bedrock = post and route is None and path.startswith(BEDROCK_MODEL_PATHS)  # Bedrock's /model/{modelId}/...
    if route is None and not bedrock:
        return api.app.resolve(event, context)
    # Where the resolver puts them (on the class: every router reads them from there).
    current = APIGatewayProxyEvent(event)
    BaseRouter.current_event = current
    BaseRouter.lambda_context = context
    try:
        try:
            response = api._client_call(route) if route is not None else api.bedrock_runtime()
        except Exception as error:
            handler = api.app.exception_handler_manager.lookup_exception_handler(type(error))
            if handler is None:
                raise
            response = handler(error)
        return ResponseBuilder[APIGatewayProxyEvent](response).build(current)
    finally:
        api.app.clear_context()
