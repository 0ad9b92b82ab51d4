"""The seam between the doors and the API, and the measured fast path.

`dispatch` takes the API Gateway REST proxy event (what Lambda gets; the ASGI door builds the same one) and
gives back one `GatewayResponse`, whose body is bytes or a stream. The Lambda door (`handler.py`) turns it into
the proxy answer (`buffered`, then `proxy_events.proxy_response`); the ASGI door (`asgi.py`) writes its bytes
or `relay`s its stream. Neither door sees a Powertools object, and a stream needs no side channel.

A cache hit is ~50 µs of the gateway's own work; Powertools' resolver adds ~20 µs around it that the client
routes never use: matching the path against every route, the middleware stack, and response checks (CORS,
cache-control, compression, which merges the request's headers on every call). So a client POST (and the pass-on
of any other /v1/ path, whose body may stream; and Bedrock's `/model/...` paths) goes straight to its route
function, and what that raises is
mapped here as the resolver's handlers map it (`routes.error_response`). Health, the management routes and
404/405 go through `routes.app.resolve`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from llmcache.api import routes
from llmcache.api.providers import is_bedrock_path
from llmcache.errors import GatewayError
from llmcache.exchange import GatewayResponse


def dispatch(event: dict[str, Any], context: Any = None) -> GatewayResponse:
    """The answer to one request, for either door. A client POST and a passed-on /v1/ path are answered
    directly (their bodies may stream); every other request goes through the resolver."""
    method, path = event.get("httpMethod"), event.get("path") or ""
    route = routes.CLIENT_PATHS.get(path) if method == "POST" else None
    if route is not None:
        return answer_or_error(lambda: routes.client_call(route, event), path)
    if method in routes.PASSED_ON_METHODS and path.startswith("/v1/") and len(path) > len("/v1/"):
        return answer_or_error(lambda: routes.passed_on(event), path)
    if method in routes.PASSED_ON_METHODS and is_bedrock_path(path):  # Amazon Bedrock Runtime's own paths
        return answer_or_error(lambda: routes.bedrock_runtime(event), path)
    return _from_proxy(routes.app.resolve(event, context))


def answer_or_error(answer: Callable[[], GatewayResponse], path: str) -> GatewayResponse:
    """`answer()`, or what it raised as an error in the envelope of the API `path` belongs to."""
    try:
        return answer()
    except GatewayError as error:
        routes.count_error(error)
        return routes.error_response(error, path)
    except RecursionError:
        return routes.error_response(routes.TOO_DEEP, path)
    except Exception as error:
        routes.log_unexpected(error)
        return routes.error_response(routes.INTERNAL, path)


def buffered(response: GatewayResponse, path: str) -> GatewayResponse:
    """The answer with a stream joined into one body (the Lambda door's buffered proxy answer). A stream that
    breaks, even half-way, is the 502/504 that error maps to."""
    stream = response.stream
    if stream is None:
        return response

    def join() -> GatewayResponse:
        try:
            body = b"".join(stream)
        finally:
            stream.close()
        return GatewayResponse(response.status, body, response.content_type, response.headers)

    return answer_or_error(join, path)


def relay(response: GatewayResponse) -> Iterator[bytes]:
    """A streamed answer's pieces for a live door. Its status is already sent when the provider fails
    mid-stream, so the client gets the error as its API's last event (counted and logged as a 502/504 is)."""
    stream = response.stream
    if stream is None:
        yield response.body
        return
    try:
        yield from stream
    except GatewayError as error:
        routes.count_error(error)
        yield stream.error_event(error)
    finally:
        stream.close()


def _from_proxy(proxy: dict[str, Any]) -> GatewayResponse:
    """A resolver route's proxy answer (health, management, 404/405) as a GatewayResponse."""
    headers = {str(k): str(v[-1]) for k, v in (proxy.get("multiValueHeaders") or {}).items() if v}
    headers.update({str(k): str(v) for k, v in (proxy.get("headers") or {}).items()})
    content_type = headers.pop("Content-Type", "")
    text = proxy.get("body") or ""
    body = base64.b64decode(text) if proxy.get("isBase64Encoded") else text.encode("utf-8", "surrogatepass")
    return GatewayResponse(int(proxy["statusCode"]), body, content_type, headers)
