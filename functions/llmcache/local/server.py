"""A threading HTTP server that turns each request into an API Gateway event for a Lambda handler.

One thread per connection (`ThreadingHTTPServer`), HTTP/1.1 keep-alive, bodies read with their
Content-Length (or chunked). Bodies far over API Gateway's 10 MB payload limit are refused with a
413 before being read; everything else reaches the handler, which enforces `MAX_REQUEST_BYTES`.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llmcache.local.events import (
    HttpResponse,
    LocalLambdaContext,
    error_envelope,
    request_to_event,
    result_to_response,
)

LambdaHandler = Callable[[dict[str, Any], Any], Any]

# API Gateway refuses payloads over 10 MB; the local server refuses them unread.
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024
# Headers that describe the connection, not the answer: the server sets its own.
_HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding", "upgrade"}


class GatewayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # A burst of clients (load tests) should queue, not be refused.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: LambdaHandler,
        *,
        stage: str = "local",
        max_body_bytes: int = API_GATEWAY_MAX_BODY,
        access_log: bool = False,
        function_timeout: float = 30.0,
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.lambda_handler = handler
        self.stage = stage
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log
        self.function_timeout = function_timeout

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{_host_for_url(str(host))}:{port}"


def _host_for_url(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class _BodyTooLarge(Exception):
    pass


class _BadRequest(Exception):
    pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends: with Nagle on, a kept-alive client waits ~40 ms per answer.
    disable_nagle_algorithm = True
    server_version = "llmcache-local"
    sys_version = ""
    server: GatewayHTTPServer

    # Every method goes to the handler, which answers 405 where a route does not take it.
    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def handle_expect_100(self) -> bool:
        if self._declared_length_too_large():
            self._send_too_large()
            return False
        return super().handle_expect_100()

    def version_string(self) -> str:
        return self.server_version

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Access lines are written by `_log_access` (path without query, status, duration)."""

    def log_message(self, format: str, *args: Any) -> None:
        # Protocol errors the base class reports (bad request line, timeouts).
        if self.server.access_log:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def _log_access(self, status: int, size: int, started: float) -> None:
        if self.server.access_log:
            path = self.path.split("?", 1)[0]
            ms = (time.perf_counter() - started) * 1000
            sys.stderr.write(f"{self.command} {path} -> {status} ({size} bytes, {ms:.1f} ms)\n")

    def _declared_length_too_large(self) -> bool:
        length = _content_length(self.headers.get("Content-Length"))
        return length is not None and length > self.server.max_body_bytes

    def _send_too_large(self) -> None:
        limit_mb = self.server.max_body_bytes // (1024 * 1024)
        body = error_envelope(
            f"Request body is too large: the gateway accepts at most {limit_mb} MB.",
            "invalid_request_error",
            "request_too_large",
        )
        self._write(HttpResponse(413, [("Content-Type", "application/json")], body), close=True)
        self._discard_input()

    def _discard_input(self, seconds: float = 2.0, limit: int = 256 * 1024 * 1024) -> None:
        """Swallow (never keep) what the client is still sending, so it reads our answer.

        Closing a socket with unread input makes the kernel send a reset, and most clients then
        report "connection reset" instead of the 413 they were sent.
        """
        deadline = time.monotonic() + seconds
        discarded = 0
        try:
            self.connection.settimeout(0.2)
            while time.monotonic() < deadline and discarded < limit:
                data = self.connection.recv(1024 * 1024)
                if not data:
                    break
                discarded += len(data)
        except OSError:
            pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        length = _content_length(raw)
        if length is None:
            raise _BadRequest(f"invalid Content-Length {raw[:40]!r}")
        if length > self.server.max_body_bytes:
            raise _BodyTooLarge
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).strip()
            size_field = line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_field):  # int(x, 16) also takes "-1", "+f" and "0x10"
                raise _BadRequest("invalid chunk size")
            size = int(size_field, 16)
            if size == 0:
                # Trailer section, up to the blank line.
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(chunks)
            total += size
            if total > self.server.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _dispatch(self) -> None:
        started = time.perf_counter()
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self._send_too_large()
            self._log_access(413, 0, started)
            return
        except _BadRequest as exc:
            envelope = error_envelope(f"Malformed HTTP request: {exc}.", "invalid_request_error", "bad_request")
            self._write(HttpResponse(400, [("Content-Type", "application/json")], envelope), close=True)
            self._log_access(400, 0, started)
            return
        event = request_to_event(
            self.command,
            self.path,
            self.headers.items(),
            body,
            source_ip=self.client_address[0],
            stage=self.server.stage,
        )
        context = LocalLambdaContext(
            aws_request_id=event["requestContext"]["requestId"],
            timeout_seconds=self.server.function_timeout,
        )
        try:
            result = self.server.lambda_handler(event, context)
        except Exception:
            # API Gateway answers 502 when the function fails; the traceback stays in this log.
            sys.stderr.write(f"handler raised on {self.command} {self.path.split('?', 1)[0]}:\n")
            traceback.print_exc(file=sys.stderr)
            envelope = error_envelope(
                "The gateway's function failed; see the server log.", "server_error", "lambda_error"
            )
            response = HttpResponse(502, [("Content-Type", "application/json")], envelope)
        else:
            response = result_to_response(result)
        self._write(response)
        self._log_access(response.status, len(response.body), started)

    def _write(self, response: HttpResponse, *, close: bool = False) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD" and response.body:
                self.wfile.write(response.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class LocalServer:
    """A `GatewayHTTPServer` in a background thread: `start()`, `.url`, `stop()`."""

    def __init__(self, handler: LambdaHandler, host: str = "127.0.0.1", port: int = 0, **options: Any):
        self.httpd = GatewayHTTPServer((host, port), handler, **options)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.httpd.url

    def start(self) -> LocalServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="llmcache-local", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_DIGITS = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")


def _content_length(raw: str | None) -> int | None:
    """The declared length, or None when absent or not plain ASCII digits (str.isdigit() takes "²")."""
    if raw is None or not _DIGITS.fullmatch(raw.strip()):
        return None
    return int(raw.strip())
