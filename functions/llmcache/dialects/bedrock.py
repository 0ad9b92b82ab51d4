"""What the Amazon Bedrock Runtime dialects share: the paths, who the client is, the error envelope, the stream's
exception events, and which stop reasons make an answer worth keeping.

Bedrock's API is REST-JSON under `/model/{modelId}/<operation>`, the model id percent-encoded in the path as
botocore sends it (`anthropic.claude-3-5-haiku-20241022-v1%3A0`). Its errors are `{"message": ...}` with the
error's name in the `x-amzn-ErrorType` header (what botocore reads as the error code); a stream's errors are
exception events of the AWS event-stream framing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from llmcache.dialects import eventstream
from llmcache.dialects.base import Dialect
from llmcache.dialects.wire import bearer_token
from llmcache.errors import BadRequest, GatewayError, Unauthorized, UpstreamUnavailable

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

ERROR_TYPE_HEADER = "x-amzn-ErrorType"
# The four cached operations; every other path under /model/ (count-tokens, ...) and the rest of the Bedrock
# Runtime API (guardrails, async invoke) is passed on.
CACHED_OPERATIONS = ("converse", "converse-stream", "invoke", "invoke-with-response-stream")
# The longest identifier Bedrock takes (an inference profile or provisioned model ARN is ~2048 characters).
MAX_MODEL_ID_CHARS = 2048
# The model segment may hold a slash: an ARN (`...:inference-profile/us.anthropic...`) that botocore sends as
# `%2F`, which a door may have decoded already (API Gateway REST keeps the path encoded, uvicorn decodes it).
_MODEL_PATH = re.compile(r"^/model/(?P<model>.+)/(?P<operation>[a-z-]+)$")
_MODEL_ID = re.compile(r"^[A-Za-z0-9:._+\-]+$")
_MODEL_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:[0-9]{0,12}:[a-z-]+/[A-Za-z0-9:._+\-]+$")

# Why an answer may be kept, per Converse `stopReason` (docs/apis.md renders these; the unit tests check them).
STORABLE_STOP_REASONS: dict[str, str] = {
    "end_turn": "the model finished its answer",
    "stop_sequence": "the answer reached a stop sequence the request asked for: the same request stops there again",
    "tool_use": "the model asks for a tool call: a complete turn, which the caller answers with the tool's result",
}
UNSTORABLE_STOP_REASONS: dict[str, str] = {
    "max_tokens": "the answer was cut at the token limit: callers retry or continue such an answer, and a kept "
    "copy would hand the same fragment back every time",
    "model_context_window_exceeded": "the answer was cut at the model's context window",
    "guardrail_intervened": "a guardrail replaced the answer with its blocked message: the guardrail's policy "
    "(and version) may change, and the block says nothing the next caller should get from the cache",
    "content_filtered": "a content filter removed (part of) the answer",
    "malformed_model_output": "the model produced an answer Bedrock could not parse: asking again may succeed",
    "malformed_tool_use": "the model produced a tool call Bedrock could not parse: asking again may succeed",
}

# The gateway's status -> Bedrock's error name (the `x-amzn-ErrorType` header botocore turns into the code).
_ERROR_TYPES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    405: "ValidationException",
    408: "ModelTimeoutException",
    413: "ValidationException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    502: "ServiceUnavailableException",
    503: "ServiceUnavailableException",
    504: "ModelTimeoutException",
}


@dataclass(frozen=True)
class ModelPath:
    model_id: str  # decoded: `anthropic.claude-3-5-haiku-20241022-v1:0`, an inference profile or an ARN
    operation: str  # converse | converse-stream | invoke | invoke-with-response-stream | count-tokens | ...


def parse_model_path(path: str) -> ModelPath | None:
    """`/model/{modelId}/{operation}` with the model id decoded; None when `path` is not of that form.

    BadRequest for a model id that decodes to something no Bedrock model is named (a slash, `..`, a control
    character, a `?`): it would otherwise change the path the gateway signs and sends."""
    match = _MODEL_PATH.match(path)
    if match is None:
        return None
    return ModelPath(checked_id(match["model"], "model id"), match["operation"])


def checked_id(segment: str, what: str = "identifier") -> str:
    """A path's identifier (a model id, a guardrail id or version, an ARN), decoded; BadRequest when it decodes to
    anything else (a slash outside an ARN, `..`, a control character, a `?`): it would change the path signed."""
    decoded = unquote(segment, errors="strict")
    well_formed = _MODEL_ID.match(decoded) or _MODEL_ARN.match(decoded)
    if len(decoded) > MAX_MODEL_ID_CHARS or not well_formed or ".." in decoded:
        raise BadRequest(f"the {what} in the path is not a Bedrock name or ARN")
    return decoded


def model_path(model_id: str, operation: str) -> str:
    """The upstream path for `operation` on `model_id`, encoded as botocore encodes it (`:` -> `%3A`)."""
    return f"/model/{quote(model_id, safe='')}/{operation}"


# ----- who the client is ---------------------------------------------------------------------------------------
SIGV4_PREFIX = "AWS4-HMAC-SHA256 "
_SCOPE = re.compile(
    r"Credential=(?P<key>[A-Za-z0-9]{1,128})/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request"
)


def sigv4_access_key(authorization: str) -> str | None:
    """The access key id of a SigV4 `Authorization` header's credential scope; None when it is not SigV4.

    Only the scope is read: the gateway cannot check the signature (it never holds the client's secret key), so
    this names a caller, it does not prove one. It is used where no other proof exists, under `make run`."""
    if not authorization.startswith(SIGV4_PREFIX):
        return None
    match = _SCOPE.search(authorization)
    if match is None:
        raise Unauthorized("the SigV4 Authorization header has no readable credential scope")
    return match["key"]


def bedrock_credential(headers: dict[str, str]) -> tuple[str | None, str | None]:
    """(a Bedrock API key sent as `Authorization: Bearer`, the access key id of a SigV4-signed request).

    At most one is set; (None, None) when the request carries no Authorization header."""
    value = headers.get("authorization")
    if value is None:
        return None, None
    access_key = sigv4_access_key(value.strip())
    if access_key is not None:
        return None, access_key
    return bearer_token(value), None


# ----- errors --------------------------------------------------------------------------------------------------
def error_type(status: int) -> str:
    return _ERROR_TYPES.get(status) or ("InternalServerException" if status >= 500 else "ValidationException")


def bedrock_error(status: int, message: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Bedrock's error envelope for `status`: the body and the header that names the error."""
    return {"message": message}, {ERROR_TYPE_HEADER: error_type(status)}


def stream_exception(status: int, message: str, *, invoke: bool) -> bytes:
    """A failure after the stream began, as the exception event botocore raises `EventStreamError` on.

    Each stream has its own exception members: ConverseStream has no `modelTimeoutException`."""
    if status == 504:
        name = "modelTimeoutException" if invoke else "modelStreamErrorException"
    elif status in (502, 503):
        name = "serviceUnavailableException"
    elif status == 429:
        name = "throttlingException"
    elif status < 500:
        name = "validationException"
    else:
        name = "internalServerException"
    return eventstream.exception_frame(name, message)


def stop_reason_storable(reason: Any) -> bool:
    """Only the reasons of a finished answer; an unknown (new) reason is not kept until it is understood."""
    return isinstance(reason, str) and reason in STORABLE_STOP_REASONS


# ----- what the two Bedrock dialects share ---------------------------------------------------------------------
class BedrockDialect(Dialect[eventstream.Message]):
    """Bedrock Runtime's transport: the request's model id in the path, AWS event-stream frames for a stream,
    `{"message": ...}` errors. The body the engine sees holds the path's model id as `model` (what the key and
    the price table read); the body sent upstream is the client's, byte for byte."""

    provider = "bedrock"
    own_paths = True
    required = ()
    stream_content_type = eventstream.CONTENT_TYPE
    # botocore ends a stream quietly wherever its bytes end: one cut before `metadata` (Converse) or the chunk
    # with Bedrock's metrics (InvokeModel) gets an exception event, so the client never takes it for whole.
    final_event_required = True
    invoke = False  # which stream's exception events this API has (InvokeModel's has modelTimeoutException)

    def operation(self, stream: bool) -> str:
        raise NotImplementedError

    def upstream_path(self, body: dict[str, Any]) -> str:
        return model_path(str(body["model"]), self.operation(body.get("stream") is True)).lstrip("/")

    def events(self, chunks: Iterable[bytes]) -> Iterator[eventstream.Message]:
        try:
            yield from eventstream.iter_messages(chunks)
        except eventstream.FrameError as exc:
            raise UpstreamUnavailable(f"the provider's event stream was malformed: {exc}") from None

    def relay(self, event: eventstream.Message, body: dict[str, Any]) -> bytes | None:
        return event.raw  # the provider's frame, CRCs and padding included

    def error_body(self, error: GatewayError) -> dict[str, Any]:
        return bedrock_error(error.status, error.message)[0]

    def error_event(self, error: GatewayError) -> bytes:
        return stream_exception(error.status, error.message, invoke=self.invoke)
