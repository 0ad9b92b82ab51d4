"""ASGI door, `llmcache.asgi:app`: the same routes, engine and errors as the Lambda door, with a streamed
answer written to the client event by event as the provider sends it.

Served by uvicorn under `make run`, and on Lambda behind the AWS Lambda Web Adapter (response streaming).
Each request becomes the API Gateway REST proxy event the Lambda door gets and goes through the same seam
(`api.fast_path.dispatch`), inside the same invocation context (log keys, traced, one metrics line with the
same ColdStart): every header, control, error and metric is the same. The `GatewayResponse` it gets back is
written as bytes, or its stream relayed. The engine is synchronous (httpx, boto3), so it runs in a worker
thread; the event loop only moves bytes.

Behind the adapter, the API Gateway request context (with the API key id that selects the tenant) arrives in
the `x-amzn-request-context` header, which the adapter sets itself, replacing any a client sent. Anywhere
else that header is a client's own and is ignored.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import anyio
import anyio.to_thread

from llmcache import wiring
from llmcache.api import live_guards
from llmcache.api.fast_path import dispatch, relay
from llmcache.api.proxy_events import LocalLambdaContext, request_to_event
from llmcache.api.routes import error_response
from llmcache.errors import GatewayError, PayloadTooLarge, RequestTimeout
from llmcache.exchange import GatewayResponse
from llmcache.observability import invocation, logger, traced

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

REQUEST_CONTEXT_HEADER = "x-amzn-request-context"
# API Gateway refuses payloads over 10 MB; so does this app, unread (the handler enforces MAX_REQUEST_BYTES).
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024
# A client that has not sent its whole body by then gets a 408: a slow or stalled upload holds no worker.
BODY_SECONDS = float(os.environ.get("LLMCACHE_BODY_TIMEOUT_SECONDS") or 30)
# Worker threads: each request in the engine, and each stream waiting on its provider, holds one.
WORKER_THREADS = int(os.environ.get("LLMCACHE_WORKER_THREADS") or 100)


def behind_lambda_web_adapter() -> bool:
    """The adapter sets `x-amzn-request-context` itself; only then may the app trust it."""
    return bool(os.environ.get("AWS_LWA_INVOKE_MODE") and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


# The same wrapper the Lambda door's handler runs in (X-Ray, when tracing is on).
_serve = traced(dispatch)


class _BodyTooLarge(Exception):
    pass


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] == "websocket":
        await live_guards.refuse_websocket(scope, receive, send)
        return
    if scope["type"] != "http":
        return
    deadline = time.monotonic() + wiring.settings().request_deadline
    try:
        if _declared_length(scope) > _body_limit():  # refused unread, as API Gateway does
            raise _BodyTooLarge
        with anyio.fail_after(BODY_SECONDS):
            raw = await _read_body(receive, _body_limit())
    except _BodyTooLarge:
        limit_mb = _body_limit() // (1024 * 1024)
        await _refuse(
            send, scope, PayloadTooLarge(f"Request body is too large: the gateway accepts at most {limit_mb} MB.")
        )
        return
    except TimeoutError:
        await _refuse(send, scope, RequestTimeout(f"The request body did not arrive within {BODY_SECONDS:g} seconds."))
        return
    event = _event(scope, raw)
    context = LocalLambdaContext(
        aws_request_id=event["requestContext"]["requestId"],
        function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "llmcache-local",
    )
    limiter = live_guards.limiter_for(event["path"], raw)  # streams on threads of their own
    response = await anyio.to_thread.run_sync(_answer, event, context, limiter=limiter)
    headers = _wire(response)
    if response.stream is None:  # a whole answer says its length: clients and proxies need not read it chunked
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if response.stream is None:
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else response.body})
        return
    await _relay(relay(response), context, receive, send, deadline)


async def _relay(
    pieces: Iterator[bytes], context: LocalLambdaContext, receive: Receive, send: Send, deadline: float
) -> None:
    """Write each piece as the engine yields it. A client that goes away, or stops reading (a write that does not
    complete in time), ends the relay: the provider call is closed and nothing is stored (closing the iterator
    does both)."""
    gone = anyio.Event()

    async def watch_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch_disconnect)
            while True:
                piece = await anyio.to_thread.run_sync(next, pieces, None, limiter=live_guards.stream_limiter())
                if piece is None or gone.is_set():
                    break
                if not await live_guards.send_within(send, _more(piece), deadline):
                    gone.set()  # the client stopped reading: it is gone for us
            if not gone.is_set():
                await live_guards.send_within(send, {"type": "http.response.body", "body": b""}, deadline)
            tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_close, pieces, context)


def _more(piece: bytes) -> Message:
    return {"type": "http.response.body", "body": piece, "more_body": True}


def _close(pieces: Iterator[bytes], context: LocalLambdaContext) -> None:
    close = getattr(pieces, "close", None)
    if close is not None:
        close()
    _end(context)


def _answer(event: dict[str, Any], context: LocalLambdaContext) -> GatewayResponse:
    """The answer to one request (in a worker thread), begun as the Lambda door begins an invocation; a
    streamed body is left to the caller, who ends the invocation once it is written."""
    invocation.begin(event, context)
    try:
        response = _serve(event, context)
    except BaseException:
        _end(context)
        raise
    if response.stream is None:
        _end(context)
    return response


def _end(context: LocalLambdaContext) -> None:
    """What the Lambda door's wrapper does at the end of each invocation: one EMF metrics line."""
    try:
        invocation.end(context)
    except Exception as exc:  # never fail an answer over its metrics
        logger.warning("metrics flush failed", extra={"error_type": type(exc).__name__})


def _event(scope: Scope, raw: bytes) -> dict[str, Any]:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    context_header = next((v for k, v in headers if k.lower() == REQUEST_CONTEXT_HEADER), None)
    headers = [(k, v) for k, v in headers if k.lower() not in (REQUEST_CONTEXT_HEADER, "x-amzn-lambda-context")]
    target = scope.get("raw_path") or scope["path"].encode()
    if isinstance(target, bytes):
        target = target.decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    client = scope.get("client") or ("127.0.0.1", 0)
    event = request_to_event(scope["method"], target, headers, raw, source_ip=client[0])
    event["rawPath"] = target.partition("?")[0]  # as sent: the pass-on's path check reads encoded slashes in it
    if context_header is not None and behind_lambda_web_adapter():
        event["requestContext"] = _trusted_context(context_header, event["requestContext"])
    return event


def _trusted_context(header: str, default: dict[str, Any]) -> dict[str, Any]:
    try:
        context = json.loads(header)
    except ValueError:
        return default
    return context if isinstance(context, dict) and context.get("requestId") else default


def _body_limit() -> int:
    return max(API_GATEWAY_MAX_BODY, wiring.settings().max_request_bytes + 64 * 1024)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return 0


async def _read_body(receive: Receive, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(parts)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _refuse(send: Send, scope: Scope, error: GatewayError) -> None:
    """A request refused unread (413, 408), in the envelope of its path's API; the connection is closed."""
    response = error_response(error, scope.get("path") or "")
    headers = [
        (b"content-type", response.content_type.encode()),
        (b"content-length", str(len(response.body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


# Headers that describe the connection, not the answer: the server sets its own.
_HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding", "upgrade"}


def _wire(response: GatewayResponse) -> list[tuple[bytes, bytes]]:
    headers = list(response.headers.items())
    if response.content_type:
        headers.append(("content-type", response.content_type))
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers if k.lower() not in _HOP_BY_HOP]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
            await anyio.to_thread.run_sync(wiring.engine)  # clients and stores built before the first request
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
