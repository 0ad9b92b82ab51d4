"""The HTTP <-> API Gateway proxy event translation now lives in `llmcache.proxy_events` (the ASGI app uses it
on Lambda too); this name stays for the tests and benchmarks that drive the Lambda handler directly."""

from llmcache.proxy_events import (
    DEFAULT_STAGE,
    MALFORMED_RESPONSE_STATUS,
    PROXY_RESOURCE,
    HttpResponse,
    LocalLambdaContext,
    error_envelope,
    request_to_event,
    result_to_response,
)

__all__ = [
    "DEFAULT_STAGE",
    "MALFORMED_RESPONSE_STATUS",
    "PROXY_RESOURCE",
    "HttpResponse",
    "LocalLambdaContext",
    "error_envelope",
    "request_to_event",
    "result_to_response",
]
