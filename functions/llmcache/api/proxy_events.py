"""HTTP request -> API Gateway REST proxy event (payload v1.0); an answer -> the proxy output -> HTTP response.

The event has the shape API Gateway sends to a Lambda proxy integration on a `/{proxy+}` resource,
so the local run and a deployment go through one code path. Reference: "Input format of a Lambda
function for proxy integration" and "Output format of a Lambda function for proxy integration" in
the API Gateway developer guide.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from llmcache.exchange import GatewayResponse

DEFAULT_STAGE = "local"
PROXY_RESOURCE = "/{proxy+}"
# What API Gateway answers when the integration's reply is not a valid proxy response.
MALFORMED_RESPONSE_STATUS = 502


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The last value of a header, case-insensitively (None when absent)."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None


@dataclass
class LocalLambdaContext:
    """The parts of `awslambdaric`'s LambdaContext that handlers and Powertools read."""

    function_name: str = "llmcache-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:llmcache-local"
    log_group_name: str = "/aws/lambda/llmcache-local"
    log_stream_name: str = "local"
    timeout_seconds: float = 30.0
    started_at: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_seconds - (time.monotonic() - self.started_at)
        return max(0, int(left * 1000))


def _multi(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def _body_field(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def request_to_event(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes = b"",
    *,
    source_ip: str = "127.0.0.1",
    stage: str = DEFAULT_STAGE,
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Build the REST proxy event for one HTTP request.

    `target` is the request line's target (path and optional query string). Header names keep the
    case the client sent, as API Gateway does; `headers` holds the last value of each name and
    `multiValueHeaders` all of them. A body that is not UTF-8 is base64 with `isBase64Encoded`.
    """
    split = urlsplit(target)
    path = unquote(split.path) or "/"
    if not path.startswith("/"):
        path = "/" + path
    header_pairs = list(headers)
    multi_headers = _multi(header_pairs)
    query_pairs = parse_qsl(split.query, keep_blank_values=True)
    multi_query = _multi(query_pairs)
    body_text, is_b64 = _body_field(body)
    epoch = time.time() if now is None else now
    request_id = request_id or str(uuid.uuid4())
    if path == "/":
        resource, path_parameters = "/", None
    else:
        resource, path_parameters = PROXY_RESOURCE, {"proxy": path.lstrip("/")}
    user_agent = next((v for k, v in reversed(header_pairs) if k.lower() == "user-agent"), None)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "extendedRequestId": request_id,
            "httpMethod": method.upper(),
            "identity": {
                "accessKey": None,
                "accountId": None,
                "apiKey": None,
                "apiKeyId": None,
                "caller": None,
                "sourceIp": source_ip,
                "user": None,
                "userAgent": user_agent,
                "userArn": None,
            },
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch)),
            "requestTimeEpoch": int(epoch * 1000),
            "resourceId": "local",
            "resourcePath": resource,
            "stage": stage,
        },
        "body": body_text,
        "isBase64Encoded": is_b64,
    }


def proxy_response(response: GatewayResponse) -> dict[str, Any]:
    """A whole answer as the Lambda proxy integration's output (what Powertools' ResponseBuilder writes for REST):
    UTF-8 text as text; anything else (a passed-on file or audio) base64-encoded."""
    try:
        body, encoded = response.body.decode("utf-8"), False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(response.body).decode(), True
    headers = {name: [value] for name, value in response.headers.items()}
    if response.content_type:
        headers.setdefault("Content-Type", [response.content_type])
    return {"statusCode": response.status, "body": body, "isBase64Encoded": encoded, "multiValueHeaders": headers}


def error_envelope(message: str, type_: str, code: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "code": code}}).encode()


def _malformed(reason: str) -> HttpResponse:
    body = error_envelope(
        f"The gateway's function returned a malformed proxy response ({reason}).",
        "server_error",
        "malformed_lambda_response",
    )
    return HttpResponse(MALFORMED_RESPONSE_STATUS, [("Content-Type", "application/json")], body)


def result_to_response(result: Any) -> HttpResponse:
    """Turn the handler's return value into the HTTP response API Gateway would send.

    `headers` and `multiValueHeaders` are merged; for a name present in both, the multi-value
    list wins (API Gateway's documented rule). A malformed result becomes a 502, as on AWS.
    """
    if not isinstance(result, Mapping):
        return _malformed(f"expected an object, got {type(result).__name__}")
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return _malformed(f"statusCode {status!r}")
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        return _malformed("headers must be objects")
    merged: list[tuple[str, str]] = []
    multi_names = {str(k).lower() for k in multi}
    for name, values in multi.items():
        items = values if isinstance(values, list | tuple) else [values]
        merged.extend((str(name), _header_value(v)) for v in items)
    for name, value in single.items():
        if str(name).lower() not in multi_names:
            merged.append((str(name), _header_value(value)))
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif isinstance(raw_body, str):
        if result.get("isBase64Encoded"):
            try:
                body = base64.b64decode(raw_body, validate=True)
            except ValueError:
                return _malformed("body is not valid base64")
        else:
            body = raw_body.encode("utf-8")
    else:
        return _malformed(f"body must be a string, got {type(raw_body).__name__}")
    return HttpResponse(status, merged, body)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
