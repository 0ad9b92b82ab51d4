"""Domain errors. Raised anywhere below the API layer; mapped to HTTP in one place (api/routes.py)."""

from __future__ import annotations


class GatewayError(Exception):
    """An error the client sees, in OpenAI's envelope."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code:
            self.code = code

    def envelope(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class BadRequest(GatewayError):
    status = 400


class Unauthorized(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(GatewayError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class NotFound(GatewayError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "request_too_large"


class TooManyRequests(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


UPSTREAM_ERROR_TYPE = "upstream_error"


class RequestTimeout(GatewayError):
    status = 408
    code = "request_timeout"


class UpstreamUnavailable(GatewayError):
    status = 502
    type = UPSTREAM_ERROR_TYPE
    code = "upstream_unavailable"


class UpstreamTimeout(GatewayError):
    status = 504
    type = UPSTREAM_ERROR_TYPE
    code = "upstream_timeout"


class InternalError(GatewayError):
    """A bug in the gateway (never an input): the client gets this envelope, the log gets the details."""

    status = 500
    type = "server_error"
    code = "internal_error"


class BackendFailure(Exception):
    """A cache tier failed (I/O, throttling, corrupt bytes). Never reaches the client."""

    def __init__(self, tier: str, operation: str, cause: BaseException | str) -> None:
        super().__init__(f"{tier}.{operation}: {cause}")
        self.tier = tier
        self.operation = operation


class ServiceUnavailable(GatewayError):
    status = 503
    type = "service_unavailable"
    code = "backend_unavailable"
