"""What the live (ASGI) door guards, so that no stream and no upgrade can pin it.

- Streams run on threads of their own (`STREAM_THREADS`, a capacity limiter apart from the default worker threads):
  a hundred streams whose provider went silent leave the default threads to hits, plain misses and `/health`.
- Each write to the client has `WRITE_SECONDS`, and never more than what is left of the request's deadline: a
  client that stopped reading is taken as gone, and its provider call is closed (it would otherwise hold a provider
  connection, and one of the shared pool's, for as long as the client likes).
- A WebSocket scope (an upgrade request: the Realtime API) is refused cleanly with a 404 in OpenAI's envelope,
  never left to the server's bare 500.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from llmcache.api.proxy_events import error_envelope
from llmcache.api.routes import CLIENT_PATHS

Message = MutableMapping[str, Any]
WRITE_SECONDS = float(os.environ.get("LLMCACHE_WRITE_TIMEOUT_SECONDS") or 30)
LAST_WRITE_SECONDS = 1.0
STREAM_THREADS = int(os.environ.get("LLMCACHE_STREAM_THREADS") or 100)
_STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')
_limiter: anyio.CapacityLimiter | None = None


def stream_limiter() -> anyio.CapacityLimiter:
    """The streams' own worker threads (made in the event loop, on first use)."""
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(STREAM_THREADS)
    return _limiter


def limiter_for(path: str, raw: bytes) -> anyio.CapacityLimiter | None:
    """The streams' limiter for a request whose answer will likely be relayed as it arrives (any passed-on path,
    a cached route asked for `"stream": true`), else None (the default threads)."""
    if path in CLIENT_PATHS:
        return stream_limiter() if b'"stream"' in raw and _STREAM_FLAG.search(raw) else None
    return stream_limiter() if path.startswith("/v1/") else None


async def send_within(send: Callable[[Message], Awaitable[None]], message: Message, deadline: float) -> bool:
    """`send(message)`, given WRITE_SECONDS and no more than what is left until `deadline` (plus a second, so that
    the error event that ends a stream cut at its deadline can still be written); False when it did not complete
    in time (the client stopped reading)."""
    left = max(0.0, deadline - time.monotonic()) + LAST_WRITE_SECONDS
    with anyio.move_on_after(min(WRITE_SECONDS, left)) as scope:
        await send(message)
    return not scope.cancelled_caught


async def refuse_websocket(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Answer an upgrade with a 404 and an envelope where the server can send one, else close the handshake."""
    if (await receive())["type"] != "websocket.connect":
        return
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = error_envelope(
            "This gateway does not serve WebSocket connections (the Realtime API); connect to the provider directly.",
            "invalid_request_error",
            "websocket_not_supported",
        )
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "websocket.http.response.start", "status": 404, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
