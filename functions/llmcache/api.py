"""Routes, request parsing and the one place where domain errors become HTTP answers."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from llmcache import keys, wiring
from llmcache.constants import Metric
from llmcache.engine import ClientRequest, GatewayResponse, require_json_object
from llmcache.errors import (
    UPSTREAM_ERROR_TYPE,
    BadRequest,
    GatewayError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from llmcache.observability import log_answered, logger, record

JSON = "application/json"
MAX_CREDENTIAL_CHARS = 4096
MAX_HEADER_CHARS = 8192  # API Gateway allows 10 KB of headers in all
# Client routes, with and without the /v1 prefix (some SDKs are configured without it).
CLIENT_ROUTES = {
    "chat/completions": ("model", "messages"),
    "completions": ("model", "prompt"),
    "embeddings": ("model", "input"),
}
KNOWN_PATHS: dict[str, set[str]] = {
    **{f"/v1/{r}": {"POST"} for r in CLIENT_ROUTES},
    **{f"/{r}": {"POST"} for r in CLIENT_ROUTES},
    "/health": {"GET"},
    "/cache/flush": {"POST"},
    "/cache/stats": {"GET"},
}

app = APIGatewayRestResolver()


# ----- helpers ---------------------------------------------------------------------------------
def _raw_body() -> bytes:
    event = app.current_event
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the request body is not valid base64") from None
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > wiring.settings().max_request_bytes:
        raise PayloadTooLarge(
            f"the request body is {len(raw)} bytes; this gateway accepts at most "
            f"{wiring.settings().max_request_bytes} (MAX_REQUEST_BYTES)"
        )
    return raw


def _headers() -> dict[str, str]:
    headers = app.current_event.get("headers") or {}
    lowered = {str(k).lower(): str(v) for k, v in headers.items() if v is not None}
    for name, value in lowered.items():
        if len(value) > MAX_HEADER_CHARS:
            raise BadRequest(
                f"header {name} is {len(value)} characters; at most {MAX_HEADER_CHARS} are accepted", param=name
            )
    return lowered


def _credential(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if (
        scheme.lower() != "bearer"
        or not token
        or len(token) > MAX_CREDENTIAL_CHARS
        or not (token.isascii() and token.isprintable())
        or " " in token  # the only whitespace a printable ASCII token can still hold
    ):
        raise Unauthorized("the Authorization header must be `Bearer <your API key>`")
    return token


def _api_key_id() -> str | None:
    context = app.current_event.get("requestContext") or {}
    identity = context.get("identity") if isinstance(context, dict) else None
    key_id = identity.get("apiKeyId") if isinstance(identity, dict) else None
    return key_id if isinstance(key_id, str) and key_id else None


def _to_response(result: GatewayResponse) -> Response[str]:
    # API Gateway REST carries text; stored answers are UTF-8 JSON or SSE, sent without re-serializing.
    return Response(
        status_code=result.status,
        content_type=result.content_type,
        body=result.body.decode("utf-8", errors="replace"),
        headers=result.headers,
    )


def _json(status: int, payload: Any) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps(payload, separators=(",", ":")))


# ----- client routes ---------------------------------------------------------------------------
def _client_call(route: str) -> Response[str]:
    headers = _headers()
    credential = _credential(headers)
    api_key_id = _api_key_id()
    if credential is None and api_key_id is None:
        raise Unauthorized("no credential: send `Authorization: Bearer <your API key>`", code="missing_api_key")
    raw = _raw_body()
    body = require_json_object(raw)
    for field in CLIENT_ROUTES[route]:
        if field not in body or body[field] is None:
            raise BadRequest(f"`{field}` is required for /v1/{route}", param=field)
    if not isinstance(body["model"], str) or not body["model"]:
        raise BadRequest("`model` must be a non-empty string", param="model")
    if route == "chat/completions" and (not isinstance(body["messages"], list) or not body["messages"]):
        raise BadRequest("`messages` must be a non-empty list of messages", param="messages")
    tenant = keys.tenant_id(credential, api_key_id, passthrough=not wiring.settings().managed_upstream_key)
    deadline = time.monotonic() + wiring.settings().request_deadline
    request = ClientRequest(route, body, raw, headers, credential, tenant, deadline)
    result = wiring.engine().handle(request)
    log_answered(
        route=route,
        status=result.status,
        cache=result.headers.get("X-Cache"),
        tier=result.headers.get("X-Cache-Tier"),
        tenant=tenant,
        model=body["model"],
        sample_rate=wiring.settings().log_hit_sample_rate,
    )
    return _to_response(result)


@app.post("/v1/chat/completions")
@app.post("/chat/completions")
def chat_completions() -> Response[str]:
    return _client_call("chat/completions")


@app.post("/v1/completions")
@app.post("/completions")
def completions() -> Response[str]:
    return _client_call("completions")


@app.post("/v1/embeddings")
@app.post("/embeddings")
def embeddings() -> Response[str]:
    return _client_call("embeddings")


@app.get("/health")
def health() -> Response[str]:
    return _json(200, {"status": "ok"})


# ----- management routes -----------------------------------------------------------------------
def _admin() -> Any:
    admin = wiring.admin()
    admin.authorize(_credential(_headers()))
    return admin


def _admin_body() -> dict[str, Any]:
    raw = _raw_body()
    return require_json_object(raw) if raw.strip() else {}


@app.post("/cache/flush")
def flush() -> Response[str]:
    admin = _admin()
    return _json(200, admin.flush(_admin_body()))


@app.get("/cache/stats")
def stats() -> Response[str]:
    admin = _admin()
    raw_window = app.current_event.query_string_parameters.get("window", "3600")
    try:
        window = int(raw_window)
    except ValueError:
        raise BadRequest("`window` must be a whole number of seconds", param="window") from None
    return _json(200, admin.stats(window))


@app.route("/cache/entries/<key>", method=["GET", "PATCH", "DELETE"])
def entry(key: str) -> Response[str]:
    admin = _admin()
    method = app.current_event.http_method
    if method == "GET":
        return _json(200, admin.entry(key))
    if method == "PATCH":
        return _json(200, admin.update_ttl(key, _admin_body()))
    admin.delete(key)
    return Response(status_code=204, content_type=None, body="")


# ----- errors ----------------------------------------------------------------------------------
@app.exception_handler(GatewayError)
def gateway_error(error: GatewayError) -> Response[str]:
    if error.status >= 500:
        logger.warning("upstream or backend failure", extra={"status": error.status, "code": error.code})
    if error.type == UPSTREAM_ERROR_TYPE:  # unreachable, timed out or unreadable: the provider-outage alarm
        record(Metric.UPSTREAM_ERROR)
    return _json(error.status, error.envelope())


@app.not_found
def not_found(_: NotFoundError) -> Response[str]:
    path = app.current_event.path
    allowed = KNOWN_PATHS.get(path) or ({"GET", "PATCH", "DELETE"} if path.startswith("/cache/entries/") else None)
    if allowed:
        error: GatewayError = MethodNotAllowed(
            f"{app.current_event.http_method} is not allowed on {path}; use {', '.join(sorted(allowed))}"
        )
        response = _json(error.status, error.envelope())
        response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    error = NotFound(
        f"unknown route {path}; this gateway serves /v1/chat/completions, /v1/completions, "
        "/v1/embeddings, /health and /cache/*"
    )
    return _json(error.status, error.envelope())


@app.exception_handler(RecursionError)
def too_deep(_: RecursionError) -> Response[str]:
    # Only a body nested hundreds of levels deep gets here (the key normalises it recursively). Checking the
    # depth up front would walk every request on the hit path; Python's own limit is the guard instead.
    error = BadRequest("the request body is nested too deeply to be processed")
    return _json(error.status, error.envelope())


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response[str]:
    # A bug, not an input: log the type and where, never the request. The client gets the envelope.
    logger.exception("unexpected error", extra={"error_type": type(error).__name__})
    return _json(
        500,
        {
            "error": {
                "message": "internal error in the cache gateway; it has been logged",
                "type": "server_error",
                "param": None,
                "code": "internal_error",
            }
        },
    )
