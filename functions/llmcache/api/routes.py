"""Routes, request parsing and the one place where domain errors become HTTP answers.

Client POSTs (`client_call`) and the pass-on of other /v1/ paths (`passed_on`) are called directly by
`api.fast_path.dispatch`, the seam between the doors and the API; health and the management routes are the
Powertools resolver's (`app`).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from llmcache import keys, wiring
from llmcache.api import bedrock, passthrough
from llmcache.api.body import parse_json_object
from llmcache.api.passthrough import dialect_of_path
from llmcache.api.path_guard import checked_path
from llmcache.api.providers import is_bedrock_path
from llmcache.api.stream_limits import held_while_streaming, tenant_streams
from llmcache.constants import HEADER_CACHE_MATCH, Metric
from llmcache.dialects.base import Dialect
from llmcache.dialects.bedrock import bedrock_error
from llmcache.dialects.registry import dialect_for, routes
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
from llmcache.exchange import ClientRequest, GatewayResponse
from llmcache.observability import counters, log_answered, logger, record

if TYPE_CHECKING:
    from llmcache.engine.admin import Admin

Event = Mapping[str, Any]  # an API Gateway REST proxy event (a dict, or Powertools' wrapper of one)

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


def error_response(error: GatewayError, path: str) -> GatewayResponse:
    """The error in the envelope of the API the path belongs to: Anthropic's on /v1/messages, Bedrock's on its
    paths (with the `x-amzn-ErrorType` header botocore reads the code from), else OpenAI's. Also what a door
    refuses before the API reads the request (413, 408)."""
    if is_bedrock_path(path):
        body, headers = bedrock_error(error.status, error.message)
        return GatewayResponse(error.status, _compact(body), JSON, headers)
    return GatewayResponse(error.status, _compact(dialect_of_path(path).error_body(error)))


def _compact(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


# ----- helpers ---------------------------------------------------------------------------------
def _raw_body(event: Event) -> bytes:
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


def _headers(event: Event) -> dict[str, str]:
    headers = event.get("headers") or {}
    lowered = {str(k).lower(): str(v) for k, v in headers.items() if v is not None}
    for name, value in lowered.items():
        if len(value) > MAX_HEADER_CHARS:
            raise BadRequest(
                f"header {name} is {len(value)} characters; at most {MAX_HEADER_CHARS} are accepted", param=name
            )
    return lowered


def _api_key_id(event: Event) -> str | None:
    context = event.get("requestContext") or {}
    identity = context.get("identity") if isinstance(context, dict) else None
    key_id = identity.get("apiKeyId") if isinstance(identity, dict) else None
    return key_id if isinstance(key_id, str) and key_id else None


def _json(status: int, payload: Any) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps(payload, separators=(",", ":")))


# ----- client routes ---------------------------------------------------------------------------
def _client_credential(event: Event, dialect: Dialect[Any], headers: dict[str, str]) -> tuple[str | None, str | None]:
    """The caller's key (as its API sends it) and the API Gateway API key id; Unauthorized when neither."""
    api_key_id = _api_key_id(event)
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


def client_call(route: str, event: Event) -> GatewayResponse:
    headers = _headers(event)
    dialect = dialect_for(route)
    credential, api_key_id = _client_credential(event, dialect, headers)
    raw = _raw_body(event)
    body = parse_json_object(raw)
    for field in dialect.required:
        if field not in body or body[field] is None:
            raise BadRequest(f"`{field}` is required for /v1/{route}", param=field)
    if not isinstance(body["model"], str) or not body["model"]:
        raise BadRequest("`model` must be a non-empty string", param="model")
    dialect.validate(body)
    passthrough.check_cached_call(dialect, raw, body, credential)
    settings = wiring.settings()
    # Passthrough is per provider: a managed OpenAI key says nothing of the Anthropic key a caller sends.
    managed = settings.managed_anthropic_key if dialect.provider == "anthropic" else settings.managed_upstream_key
    tenant = keys.tenant_id(credential, api_key_id, passthrough=not managed)
    deadline = time.monotonic() + settings.request_deadline
    request = ClientRequest(dialect, body, raw, headers, credential, tenant, deadline)
    with counters.labelled(route, body["model"]) as counted:  # the stats' split by route, model and match
        if request.stream:  # relayed as it arrives on a miss: one of the tenant's stream slots
            result = held_while_streaming(tenant_streams(settings), tenant, lambda: wiring.engine().handle(request))
        else:
            result = wiring.engine().handle(request)
        counted.match = result.headers.get(HEADER_CACHE_MATCH) or ""
    log_answered(
        route=route,
        status=result.status,
        cache=result.headers.get("X-Cache"),
        tier=result.headers.get("X-Cache-Tier"),
        tenant=tenant,
        model=body["model"],
        sample_rate=settings.log_hit_sample_rate,
    )
    return result


# Each client route is served with and without the /v1 prefix (some SDKs are configured without it).
CLIENT_PATHS = {f"{prefix}/{route}": route for route in CLIENT_ROUTES for prefix in ("/v1", "")}
# Every other path under /v1/, with these methods: passed on uncached.
PASSED_ON_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def passed_on(event: Event) -> GatewayResponse:
    """The pass-on of any other /v1/ path (`passthrough.py`); its errors in its provider's envelope."""
    try:
        return _passed_on(event)
    except GatewayError as error:
        count_error(error)
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}
        dialect = passthrough.error_dialect(str(event.get("path")), headers, _api_key_id(event) is not None)
        return GatewayResponse(error.status, _compact(dialect.error_body(error)))


def _passed_on(event: Event) -> GatewayResponse:
    path, method = str(event.get("path")), str(event.get("httpMethod"))
    headers = _headers(event)
    provider = passthrough.provider_of(path, headers, _api_key_id(event) is not None)
    credential, api_key_id = _client_credential(event, dialect_for(provider.error_route), headers)
    raw = _raw_body(event)
    # API Gateway's multi-value form keeps every value of a repeated name (and commas inside values).
    single = event.get("queryStringParameters") or {}
    pairs = event.get("multiValueQueryStringParameters") or {k: [v] for k, v in single.items()}
    request = passthrough.PassedOn(
        method=method,
        path=path,
        raw_path=event.get("rawPath"),
        query=urlencode(pairs, doseq=True),
        body=raw,
        headers=headers,
        credential=credential,
        api_key_id=api_key_id,
        deadline=time.monotonic() + wiring.settings().request_deadline,
    )
    result = passthrough.pass_on(wiring.engine(), request)
    logger.info("passed on", extra={"path": path[:200], "status": result.status, "cache": "BYPASS"})
    return result


def bedrock_runtime(event: Event) -> GatewayResponse:
    """Amazon Bedrock Runtime's API, under its own paths (`/model/{modelId}/converse`, ...): api/bedrock.py."""
    single = event.get("queryStringParameters") or {}
    pairs = event.get("multiValueQueryStringParameters") or {k: [v] for k, v in single.items()}
    return bedrock.answer(
        str(event.get("httpMethod")),
        str(event.get("path")),
        urlencode(pairs, doseq=True),
        _raw_body(event),
        _headers(event),
        _api_key_id(event),
    )


@app.get("/health")
def health() -> Response[str]:
    return _json(200, {"status": "ok"})


# ----- management routes -----------------------------------------------------------------------
def _admin() -> Admin:
    admin = wiring.admin()
    headers = _headers(app.current_event)
    admin.authorize(dialect_for("chat/completions").credential(headers))  # the admin key as a bearer token
    return admin


def _admin_body() -> dict[str, Any]:
    raw = _raw_body(app.current_event)
    return parse_json_object(raw) if raw.strip() else {}


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
def count_error(error: GatewayError) -> None:
    if error.status >= 500:
        logger.warning("upstream or backend failure", extra={"status": error.status, "code": error.code})
    if error.type == UPSTREAM_ERROR_TYPE:  # unreachable, timed out or unreadable: the provider-outage alarm
        record(Metric.UPSTREAM_ERROR)


def _error(error: GatewayError) -> Response[str]:
    """`error_response` for the resolver's routes."""
    return _json(error.status, dialect_of_path(app.current_event.path).error_body(error))


def log_unexpected(error: Exception) -> None:
    # A bug, not an input: log the type and where, never the request. The client gets the envelope.
    logger.exception("unexpected error", extra={"error_type": type(error).__name__})


@app.exception_handler(GatewayError)
def gateway_error(error: GatewayError) -> Response[str]:
    count_error(error)
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
    if path.startswith("/v1/"):  # under /v1/ only a path that cannot be passed on is unmatched (a new line in it)
        try:
            checked_path(path)
        except GatewayError as refused:
            return _error(refused)
    error = NotFound(f"unknown route {path}; this gateway serves /v1/* (its API routes), /health and /cache/*")
    return _error(error)


@app.exception_handler(RecursionError)
def too_deep(_: RecursionError) -> Response[str]:
    return _error(TOO_DEEP)


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response[str]:
    log_unexpected(error)
    return _error(INTERNAL)


# Only a body nested hundreds of levels deep raises RecursionError (the key normalises it recursively). Checking
# the depth up front would walk every request on the hit path; Python's own limit is the guard instead.
TOO_DEEP = BadRequest("the request body is nested too deeply to be processed")
INTERNAL = InternalError("internal error in the cache gateway; it has been logged")
