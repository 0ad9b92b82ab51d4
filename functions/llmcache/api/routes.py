"""Routes, request parsing and the one place where domain errors become HTTP answers."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from llmcache import keys, wiring
from llmcache.api import bedrock
from llmcache.api.passthrough import dialect_of_path, pass_on
from llmcache.constants import Metric
from llmcache.dialects.base import Dialect
from llmcache.dialects.bedrock import bedrock_error
from llmcache.dialects.registry import dialect_for, routes
from llmcache.engine.core import ClientRequest, GatewayResponse, require_json_object
from llmcache.errors import (
    UPSTREAM_ERROR_TYPE,
    BadRequest,
    GatewayError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from llmcache.observability import log_answered, logger, record

JSON = "application/json"
MAX_HEADER_CHARS = 8192  # API Gateway allows 10 KB of headers in all
# Client routes (one per dialect) and the body fields each requires; served with and without the /v1 prefix
# (some SDKs are configured without it).
CLIENT_ROUTES = {route: dialect_for(route).required for route in routes() if not dialect_for(route).own_paths}
KNOWN_PATHS: dict[str, set[str]] = {
    **{f"/v1/{r}": {"POST"} for r in CLIENT_ROUTES},
    **{f"/{r}": {"POST"} for r in CLIENT_ROUTES},
    "/health": {"GET"},
    "/cache/flush": {"POST"},
    "/cache/stats": {"GET"},
}

app = APIGatewayRestResolver()

# Set by a transport that writes a streamed body as it comes (the ASGI app): the route leaves its stream
# here instead of joining it. Unset (the Lambda handler), a stream is joined into one buffered answer.
live_streams: ContextVar[list[GatewayResponse] | None] = ContextVar("live_streams", default=None)


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


def _api_key_id() -> str | None:
    context = app.current_event.get("requestContext") or {}
    identity = context.get("identity") if isinstance(context, dict) else None
    key_id = identity.get("apiKeyId") if isinstance(identity, dict) else None
    return key_id if isinstance(key_id, str) and key_id else None


def _to_response(result: GatewayResponse) -> Response[str]:
    # API Gateway REST carries text; stored answers are UTF-8 JSON or SSE, sent without re-serializing.
    body = result.body
    if result.stream is not None:
        sink = live_streams.get()
        if sink is not None:
            sink.append(result)  # the transport writes it as it comes, through `relay_live`
        else:
            try:  # buffered: a stream that breaks, even half-way, is the 502/504 the error handler maps
                body = b"".join(result.stream)
            finally:
                result.stream.close()
    return Response(
        status_code=result.status, content_type=result.content_type, body=_text(body), headers=result.headers
    )


def _text(body: bytes) -> Any:
    """UTF-8 text as text; anything else (a passed-on file or audio) as bytes, which Powertools sends base64."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def relay_live(result: GatewayResponse) -> Iterator[bytes]:
    """A streamed answer's pieces for a live transport. Its status is already sent when the provider fails
    mid-stream, so the client gets the error as its API's last event (counted and logged as a 502/504 is)."""
    stream = result.stream
    if stream is None:
        yield result.body
        return
    try:
        yield from stream
    except GatewayError as error:
        _count(error)
        yield stream.error_event(error)
    finally:
        stream.close()


def _json(status: int, payload: Any) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps(payload, separators=(",", ":")))


# ----- client routes ---------------------------------------------------------------------------
def _client_credential(dialect: Dialect, headers: dict[str, str]) -> tuple[str | None, str | None]:
    """The caller's key (as its API sends it) and the API Gateway API key id; Unauthorized when neither."""
    api_key_id = _api_key_id()
    if api_key_id is not None:
        # Deployed with API keys, `x-api-key` is API Gateway's (it chose the tenant), never a provider key:
        # an Anthropic key then comes as a bearer token, which is what the anthropic SDK sends for `api_key`.
        headers = {name: value for name, value in headers.items() if name != "x-api-key"}
    credential = dialect.credential(headers)
    if credential is None and api_key_id is None:
        how = (
            "`x-api-key: <your API key>`"
            if dialect.provider == "anthropic"
            else "`Authorization: Bearer <your API key>`"
        )
        raise Unauthorized(f"no credential: send {how}", code="missing_api_key")
    return credential, api_key_id


def _client_call(route: str) -> Response[str]:
    headers = _headers()
    dialect = dialect_for(route)
    credential, api_key_id = _client_credential(dialect, headers)
    raw = _raw_body()
    body = require_json_object(raw)
    for field in dialect.required:
        if field not in body or body[field] is None:
            raise BadRequest(f"`{field}` is required for /v1/{route}", param=field)
    if not isinstance(body["model"], str) or not body["model"]:
        raise BadRequest("`model` must be a non-empty string", param="model")
    dialect.validate(body)
    settings = wiring.settings()
    # Passthrough is per provider: a managed OpenAI key says nothing of the Anthropic key a caller sends.
    managed = settings.managed_anthropic_key if dialect.provider == "anthropic" else settings.managed_upstream_key
    tenant = keys.tenant_id(credential, api_key_id, passthrough=not managed)
    deadline = time.monotonic() + settings.request_deadline
    request = ClientRequest(route, body, raw, headers, credential, tenant, deadline)
    result = wiring.engine().handle(request)
    log_answered(
        route=route,
        status=result.status,
        cache=result.headers.get("X-Cache"),
        tier=result.headers.get("X-Cache-Tier"),
        tenant=tenant,
        model=body["model"],
        sample_rate=settings.log_hit_sample_rate,
    )
    return _to_response(result)


def _client_route(route: str) -> None:
    def answer() -> Response[str]:
        return _client_call(route)

    answer.__name__ = route.replace("/", "_")
    app.post(f"/v1/{route}")(app.post(f"/{route}")(answer))


for _route in routes():
    _client_route(_route)


# Every other path under /v1/, any method: passed on uncached. A regex group makes it a "dynamic" route, which
# Powertools tries after the static ones above.
@app.route("/v1/(.+)", method=["GET", "POST", "PUT", "PATCH", "DELETE"])
def passed_on() -> Response[str]:
    event = app.current_event
    headers = _headers()
    credential, _ = _client_credential(dialect_of_path(event.path), headers)
    raw = _raw_body()
    # API Gateway's multi-value form keeps every value of a repeated name (and commas inside values).
    pairs = event.multi_value_query_string_parameters or {k: [v] for k, v in event.query_string_parameters.items()}
    query = urlencode(pairs, doseq=True)
    deadline = time.monotonic() + wiring.settings().request_deadline
    result = pass_on(wiring.engine(), event.http_method, event.path, query, raw, headers, credential, deadline)
    logger.info("passed on", extra={"path": event.path[:200], "status": result.status, "cache": "BYPASS"})
    return _to_response(result)


# Amazon Bedrock Runtime's API, under its own paths (`/model/{modelId}/converse`, ...): see api/bedrock.py.
@app.route("/model/(.+)", method=["GET", "POST", "PUT", "PATCH", "DELETE"])
@app.route("/guardrail/(.+)", method=["GET", "POST", "PUT", "PATCH", "DELETE"])
@app.route("/async-invoke(.*)", method=["GET", "POST", "PUT", "PATCH", "DELETE"])
def bedrock_runtime(*_: str) -> Response[str]:
    event = app.current_event
    pairs = event.multi_value_query_string_parameters or {k: [v] for k, v in event.query_string_parameters.items()}
    result = bedrock.answer(
        event.http_method, event.path, urlencode(pairs, doseq=True), _raw_body(), _headers(), _api_key_id()
    )
    return _to_response(result)


@app.get("/health")
def health() -> Response[str]:
    return _json(200, {"status": "ok"})


# ----- management routes -----------------------------------------------------------------------
def _admin() -> Any:
    admin = wiring.admin()
    admin.authorize(dialect_for("chat/completions").credential(_headers()))  # the admin key as a bearer token
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
def _count(error: GatewayError) -> None:
    if error.status >= 500:
        logger.warning("upstream or backend failure", extra={"status": error.status, "code": error.code})
    if error.type == UPSTREAM_ERROR_TYPE:  # unreachable, timed out or unreadable: the provider-outage alarm
        record(Metric.UPSTREAM_ERROR)


def _error(error: GatewayError) -> Response[str]:
    """The error in the envelope of the API the path belongs to: Anthropic's on /v1/messages, Bedrock's (with
    the `x-amzn-ErrorType` header botocore reads the code from) on its paths, else OpenAI's."""
    path = app.current_event.path
    if bedrock.is_bedrock_path(path):
        body, headers = bedrock_error(error.status, error.message)
        response = _json(error.status, body)
        response.headers.update(headers)
        return response
    return _json(error.status, dialect_of_path(path).error_body(error))


@app.exception_handler(GatewayError)
def gateway_error(error: GatewayError) -> Response[str]:
    _count(error)
    return _error(error)


@app.not_found
def not_found(_: NotFoundError) -> Response[str]:
    path = app.current_event.path
    allowed = KNOWN_PATHS.get(path) or ({"GET", "PATCH", "DELETE"} if path.startswith("/cache/entries/") else None)
    if allowed:
        error: GatewayError = MethodNotAllowed(
            f"{app.current_event.http_method} is not allowed on {path}; use {', '.join(sorted(allowed))}"
        )
        response = _error(error)
        response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    error = NotFound(f"unknown route {path}; this gateway serves /v1/* (its API routes), /health and /cache/*")
    return _error(error)


@app.exception_handler(RecursionError)
def too_deep(_: RecursionError) -> Response[str]:
    # Only a body nested hundreds of levels deep gets here (the key normalises it recursively). Checking the
    # depth up front would walk every request on the hit path; Python's own limit is the guard instead.
    return _error(BadRequest("the request body is nested too deeply to be processed"))


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response[str]:
    # A bug, not an input: log the type and where, never the request. The client gets the envelope.
    logger.exception("unexpected error", extra={"error_type": type(error).__name__})
    return _error(InternalError("internal error in the cache gateway; it has been logged"))
