"""The offline provider's Amazon Bedrock Runtime: Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream in Bedrock's own wire format, so boto3's `bedrock-runtime` client works against
`make run` with no AWS account. Served by fake_provider.py for the paths under `/model/` (and Bedrock's other
roots: `/guardrail/`, `/async-invoke`). Standard library only, plus botocore to check signatures.

- Streams are AWS event-stream frames (prelude, headers, payload, both CRC32s) sent as chunked HTTP, one
  frame per chunk; every event's JSON carries Bedrock's `p` padding field (which parsers ignore).
  InvokeModelWithResponseStream sends `chunk` events whose `bytes` are the model's own JSON, base64-encoded,
  the last one with `amazon-bedrock-invocationMetrics`.
- InvokeModel speaks each model family's own body: Anthropic (`anthropic.*`, Messages API shape), Amazon Nova
  (`amazon.nova*`). Converse answers for any model id.
- Errors are Bedrock's: `{"message": ...}` with the `x-amzn-ErrorType` header.
- Credentials: a SigV4 signature (its scope must name the service `bedrock`; checked against the secret when
  the access key is one the fake knows, `KNOWN_SECRETS`) or a Bedrock API key (`Authorization: Bearer`).
  Each request is recorded with a synthetic `x-fake-bedrock-auth` header saying which it was:
  `{"scheme": "sigv4", "service": "bedrock", "region": ..., "access_key": ..., "verified": true}` or
  `{"scheme": "bearer", "key": "***last4"}`.

Faults, forced (`set_fault`) or by model id (`fake-<fault>`), as for the other APIs: `error-<status>`,
`broken-stream` (the connection drops half-way: a cut stream), `exception-<name>` (half the events, then that
exception event, e.g. `exception-throttlingException`, `exception-modelStreamErrorException`),
`stream-no-finish` (ends without `messageStop`/`metadata`), `stop-<reason>` (that `stopReason`, e.g.
`stop-max_tokens`, `stop-guardrail_intervened`), `slowstream-<ms>`.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from llmcache.dialects import eventstream
from llmcache.local import fake_apis

if TYPE_CHECKING:
    from llmcache.local.fake_provider import _FakeHandler

BEDROCK_ROOTS = ("/model/", "/guardrail/", "/async-invoke")
AUTH_RECORD_HEADER = "x-fake-bedrock-auth"
SIGV4_PREFIX = "AWS4-HMAC-SHA256 "
# Access keys whose secret the fake knows, so it checks their signatures: the local run's and the tests'.
KNOWN_SECRETS = {"testing": "testing"}
INVALID_KEY_PREFIX = "sk-invalid"
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_ERROR_NAMES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def serves(path: str) -> bool:
    return path.startswith(BEDROCK_ROOTS)


# ----------------------------------------------------------------------------------------------- answers
def _padding(count: int) -> str:
    return _PADDING[: 1 + count % len(_PADDING)]


def _converse_text(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), list):
            return " ".join(str(b["text"]) for b in message["content"] if isinstance(b, dict) and "text" in b)
    return ""


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _has_cache_point(body: dict[str, Any]) -> bool:
    return '"cachePoint"' in json.dumps(body)


class ConverseAnswer:
    """The answer to Converse / ConverseStream: a message, plain or as Bedrock's event sequence."""

    def __init__(self, body: dict[str, Any], stop_reason: str | None = None) -> None:
        self.question = _converse_text(body.get("messages"))
        system = " ".join(str(b.get("text", "")) for b in body.get("system") or [] if isinstance(b, dict))
        self.input_tokens = fake_apis._tokens(self.question) + fake_apis._tokens(system) + 7
        self.content: list[dict[str, Any]] = []
        inference = _object(body.get("inferenceConfig"))
        tool = self._tool(body)
        if tool is not None:
            spec = tool["toolSpec"]
            schema = (spec.get("inputSchema") or {}).get("json")
            tool_input = fake_apis._arguments(schema, self.question)
            self.content.append(
                {
                    "toolUse": {
                        "toolUseId": "tooluse_" + uuid.uuid4().hex[:22],
                        "name": spec.get("name"),
                        "input": tool_input,
                    }
                }
            )
            self.stop_reason = "tool_use"
        else:
            text, cut = fake_apis._cut(fake_apis.ANSWER_PREFIX + self.question[:80], inference.get("maxTokens"))
            self.content.append({"text": text})
            self.stop_reason = "max_tokens" if cut else "end_turn"
        if stop_reason is not None:
            self.stop_reason = stop_reason
        self.caching = _has_cache_point(body)

    @staticmethod
    def _tool(body: dict[str, Any]) -> dict[str, Any] | None:
        config = _object(body.get("toolConfig"))
        tools = [t for t in config.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("toolSpec"), dict)]
        choice = _object(config.get("toolChoice"))
        forced = choice["tool"].get("name") if isinstance(choice.get("tool"), dict) else None
        named = [{**t["toolSpec"], "input_schema": None} for t in tools]
        picked = fake_apis._named_tool(named, forced, _converse_text(body.get("messages")), "any" in choice)
        return next((t for t in tools if picked and t["toolSpec"].get("name") == picked.get("name")), None)

    def usage(self) -> dict[str, Any]:
        output = sum(fake_apis._tokens(json.dumps(block)) // 4 + 1 for block in self.content)
        usage = {"inputTokens": self.input_tokens, "outputTokens": output, "totalTokens": self.input_tokens + output}
        if self.caching:
            usage.update(cacheReadInputTokens=0, cacheWriteInputTokens=0)
        return usage

    def plain(self) -> dict[str, Any]:
        return {
            "output": {"message": {"role": "assistant", "content": self.content}},
            "stopReason": self.stop_reason,
            "usage": self.usage(),
            "metrics": {"latencyMs": 321},
        }

    def events(self, *, finish: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
        yield "messageStart", {"role": "assistant"}
        for index, block in enumerate(self.content):
            if "toolUse" in block:
                tool = block["toolUse"]
                start = {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}
                yield "contentBlockStart", {"contentBlockIndex": index, "start": start}
                arguments = json.dumps(tool["input"])
                third = max(1, len(arguments) // 3)
                for i in range(0, len(arguments), third):
                    delta = {"toolUse": {"input": arguments[i : i + third]}}
                    yield "contentBlockDelta", {"contentBlockIndex": index, "delta": delta}
            else:
                for word in fake_apis._words(block["text"]):
                    yield "contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": word}}
            yield "contentBlockStop", {"contentBlockIndex": index}
        if finish:
            yield "messageStop", {"stopReason": self.stop_reason}
            yield "metadata", {"usage": self.usage(), "metrics": {"latencyMs": 321}}


def _family(model_id: str) -> str:
    """`anthropic`, `nova` or `` (a model whose InvokeModel body the fake does not speak)."""
    base = model_id.rsplit("/", 1)[-1]
    base = re.sub(r"^(us|eu|apac|global|jp|au|ca|us-gov)\.", "", base)
    if base.startswith("anthropic."):
        return "anthropic"
    if base.startswith("amazon.nova"):
        return "nova"
    return ""


def _invoke_answer(
    model_id: str, body: dict[str, Any], stop_reason: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]], int, int]:
    """(the plain answer, its streamed chunks without the metrics, input tokens, output tokens): Anthropic's
    Messages shape, else Nova's (Converse's message, its own usage names, its stream events as chunks)."""
    if _family(model_id) == "anthropic":
        base = model_id.rsplit("/", 1)[-1].split("anthropic.", 1)[-1]
        answer = fake_apis.MessagesAnswer({**body, "model": re.sub(r"-v\d+(:\d+)?$", "", base)})
        plain = answer.plain()
        if stop_reason is not None:
            plain["stop_reason"] = answer.stop_reason = stop_reason
        chunks = [payload for _, payload in answer.events() if payload.get("type") != "ping"]
        usage = plain["usage"]
        return plain, chunks, usage["input_tokens"], usage["output_tokens"]
    converse = ConverseAnswer(body, stop_reason)
    usage = converse.usage() | {"cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0}
    plain = {
        "output": {"message": {"role": "assistant", "content": converse.content}},
        "stopReason": converse.stop_reason,
        "usage": usage,
    }
    chunks = [{kind: payload} for kind, payload in converse.events() if kind != "metadata"]
    chunks.append({"metadata": {"usage": usage, "metrics": {}, "trace": {}}})
    return plain, chunks, usage["inputTokens"], usage["outputTokens"]


# ----------------------------------------------------------------------------------------------- wire
def _error(handler: _FakeHandler, status: int, message: str, name: str | None = None) -> None:
    error = name or _ERROR_NAMES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
    handler._send_bytes(
        status,
        json.dumps({"message": message}).encode(),
        "application/json",
        {
            "x-amzn-ErrorType": f"{error}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-RequestId": str(uuid.uuid4()),
        },
    )


def _frames(handler: _FakeHandler, frames: list[bytes], fault: str | None, extra: dict[str, str] | None = None) -> None:
    """An event stream: one frame per HTTP chunk, with the faults of a stream applied."""
    handler.send_response(200)
    handler.send_header("Content-Type", eventstream.CONTENT_TYPE)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("x-amzn-RequestId", str(uuid.uuid4()))
    for name, value in (extra or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    half = max(1, len(frames) // 2)
    pause = _seconds(fault) if fault and fault.startswith("slowstream-") else handler.server.token_delay
    for count, frame in enumerate(frames):
        if fault == "broken-stream" and count >= half:
            return handler._drop()  # the connection closes mid-answer, without the chunked body's end
        if fault and fault.startswith("exception-") and count == half:
            handler._chunk(
                eventstream.exception_frame(
                    fault.removeprefix("exception-"), "The stream failed (injected by the fake provider)."
                )
            )
            break
        if pause and count:
            time.sleep(pause)
        handler._chunk(frame)
    with handler.server.state.lock:
        handler.server.state.stream_ends.append(time.time())
    handler._chunk(b"")


def _seconds(fault: str) -> float:
    tail = fault.rsplit("-", 1)[-1]
    return int(tail) / 1000 if tail.isdigit() else 1.0


def _event(kind: str, payload: dict[str, Any], count: int) -> bytes:
    return eventstream.event_frame(kind, {**payload, "p": _padding(count)})


# ----------------------------------------------------------------------------------------------- auth
def _auth(handler: _FakeHandler, method: str, raw: bytes) -> tuple[dict[str, Any], str | None]:
    """What credential the request carried (recorded), and the error message when Bedrock would refuse it."""
    value = handler.headers.get("Authorization", "")
    if value.startswith("Bearer "):
        token = value[7:].strip()
        if not token or token.startswith(INVALID_KEY_PREFIX):
            return {
                "scheme": "bearer",
                "key": "***" + token[-4:],
            }, "Invalid API Key format: Must start with pre-defined prefix"
        return {"scheme": "bearer", "key": "***" + token[-4:]}, None
    if not value.startswith(SIGV4_PREFIX):
        return {"scheme": "none"}, "Missing Authentication Token"
    return sigv4_check(handler, method, raw, "bedrock")


def sigv4_check(handler: _FakeHandler, method: str, raw: bytes, service: str) -> tuple[dict[str, Any], str | None]:
    """A SigV4-signed request as AWS checks it: its scope must name `service` (`bedrock`, `bedrock-mantle`), and
    its signature must be right when the fake knows the access key's secret. (What is recorded, the refusal.)"""
    match = _SIGV4.match(handler.headers.get("Authorization", ""))
    if match is None:
        return {"scheme": "sigv4"}, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'."
    record: dict[str, Any] = {
        "scheme": "sigv4",
        "service": match["service"],
        "region": match["region"],
        "access_key": match["key"],
        "verified": None,
    }
    if match["service"] != service:
        return record, f"Credential should be scoped to correct service: '{service}'. (got {match['service']!r})"
    secret = KNOWN_SECRETS.get(match["key"])
    if secret is not None:
        record["verified"] = _signature(handler, method, raw, match, secret) == match["signature"]
        if not record["verified"]:
            return record, "The request signature we calculated does not match the signature you provided."
    return record, None


def _signature(handler: _FakeHandler, method: str, raw: bytes, scope: re.Match[str], secret: str) -> str:
    """The signature Bedrock computes for this request, over the headers it says it signed."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed = {name: handler.headers.get(name, "") for name in scope["signed"].split(";")}
    request = AWSRequest(
        method=method, url=f"http://{signed.get('host', 'localhost')}{handler.path}", data=raw, headers=signed
    )
    request.context["timestamp"] = signed.get("x-amz-date", "")
    auth = SigV4Auth(
        Credentials(scope["key"], secret, signed.get("x-amz-security-token")), scope["service"], scope["region"]
    )
    return str(auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request))


# ----------------------------------------------------------------------------------------------- routes
def route(handler: _FakeHandler, method: str, path: str) -> None:
    """Answer a request to Bedrock's API (`path` without the query)."""
    body, raw = handler._read_json() if method == "POST" else (None, b"")
    auth, refusal = _auth(handler, method, raw)
    headers = {**dict(handler.headers.items()), AUTH_RECORD_HEADER: json.dumps(auth)}
    recorded: Any = body if body is not None else raw.decode("utf-8", "replace")
    query = handler.path.split("?", 1)[1] if "?" in handler.path else ""
    handler.server.state.record(method, path, headers, recorded, query)
    if refusal is not None:
        name = "InvalidSignatureException" if auth["scheme"] == "sigv4" else None
        return _error(
            handler, 403, refusal, name or ("MissingAuthenticationTokenException" if auth["scheme"] == "none" else None)
        )
    match = re.match(r"^/model/(?P<model>.+)/(?P<operation>[a-z-]+)$", path)
    if method != "POST" or match is None:
        return _error(handler, 404, f"Unknown operation {method} {path}", "UnknownOperationException")
    model_id, operation = unquote(match["model"]), match["operation"]
    if not isinstance(body, dict):
        return _error(handler, 400, "Malformed input request, please reformat your input and try again.")
    fault = handler.server.state.next_forced() or (model_id[5:] if model_id.startswith("fake-") else None)
    if fault and fault.startswith("error-"):
        status = int(fault[6:]) if fault[6:].isdigit() else 500
        return _error(handler, status, f"Error {status} injected by the fake provider.")
    stop = fault.removeprefix("stop-") if fault and fault.startswith("stop-") else None
    if operation in ("converse", "converse-stream"):
        return _converse(handler, operation, body, fault, stop)
    if operation in ("invoke", "invoke-with-response-stream"):
        return _invoke(handler, operation, model_id, body, fault, stop)
    if operation == "count-tokens":
        return handler._send_json(200, {"inputTokens": fake_apis._tokens(json.dumps(body))})
    return _error(handler, 404, f"Unknown operation {operation}", "UnknownOperationException")


def _converse(handler: _FakeHandler, operation: str, body: dict[str, Any], fault: str | None, stop: str | None) -> None:
    if not isinstance(body.get("messages"), list) and "promptVariables" not in body:
        return _error(
            handler,
            400,
            "A conversation must start with a user message. "
            "Try again with a conversation that starts with a user message.",
        )
    answer = ConverseAnswer(body, stop)
    if operation == "converse":
        return handler._send_json(200, answer.plain(), {"x-amzn-RequestId": str(uuid.uuid4())})
    events = list(answer.events(finish=fault != "stream-no-finish"))
    return _frames(handler, [_event(kind, payload, n) for n, (kind, payload) in enumerate(events)], fault)


def _invoke(
    handler: _FakeHandler, operation: str, model_id: str, body: dict[str, Any], fault: str | None, stop: str | None
) -> None:
    if not _family(model_id):
        return _error(handler, 400, "The provided model identifier is invalid.")
    plain, chunks, input_tokens, output_tokens = _invoke_answer(model_id, body, stop)
    counts = {
        "X-Amzn-Bedrock-Input-Token-Count": str(input_tokens),
        "X-Amzn-Bedrock-Output-Token-Count": str(output_tokens),
        "X-Amzn-Bedrock-Invocation-Latency": "321",
    }
    if operation == "invoke":
        return handler._send_bytes(200, json.dumps(plain).encode(), "application/json", counts)
    if fault == "stream-no-finish":
        chunks = chunks[:-1]
    else:
        metrics = {
            "inputTokenCount": input_tokens,
            "outputTokenCount": output_tokens,
            "invocationLatency": 321,
            "firstByteLatency": 123,
        }
        chunks[-1] = {**chunks[-1], "amazon-bedrock-invocationMetrics": metrics}
    frames = [
        _event("chunk", {"bytes": base64.b64encode(json.dumps(chunk).encode()).decode()}, n)
        for n, chunk in enumerate(chunks)
    ]
    return _frames(handler, frames, fault, {"X-Amzn-Bedrock-Content-Type": "application/json"})
