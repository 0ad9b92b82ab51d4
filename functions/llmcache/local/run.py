"""`python -m llmcache.local`: the gateway on one machine (this is `make run`): the ASGI app under uvicorn.

Order matters: the environment (emulated AWS, upstream, admin key) is settled first, then
`llmcache.asgi` is imported, so its settings and clients see the final values.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import socket
import sys
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from llmcache.constants import Env
from llmcache.local.startup import LocalPlan, SelfUpstream, banner, check_not_self, plan_local_run
from llmcache.settings import Settings, SettingsError

DEFAULT_APP = "llmcache.asgi:app"
# Limits of `make run` (docs/streaming.md). A connection idle after an answer is closed after KEEP_ALIVE_SECONDS;
# one that has not sent a whole request head within REQUEST_HEAD_SECONDS (slow or silent) is closed too; a body
# not whole within the app's LLMCACHE_BODY_TIMEOUT_SECONDS gets a 408. Past MAX_CONNECTIONS, a 503.
KEEP_ALIVE_SECONDS = 5
REQUEST_HEAD_SECONDS = 10
MAX_CONNECTIONS = 1000
LOG_FORMAT = "LOG_FORMAT"

__all__ = ["LocalPlan", "main", "plan_local_run", "uvicorn_config"]


def load_app(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "app")


def log_format(env: Mapping[str, str]) -> str:
    """`human` (one line per request) unless LOG_FORMAT=json asks for the deployment's JSON lines."""
    from llmcache.local.console import HUMAN_FORMAT, JSON_FORMAT

    value = (env.get("LLMCACHE_" + LOG_FORMAT) or env.get(LOG_FORMAT) or HUMAN_FORMAT).strip().lower()
    if value not in (HUMAN_FORMAT, JSON_FORMAT):
        raise SettingsError(f"{LOG_FORMAT} must be {HUMAN_FORMAT} or {JSON_FORMAT}, got {value!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmcache.local",
        description="Run the llmcache gateway locally: the ASGI app (llmcache.asgi:app) under uvicorn.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8080), help="default 8080")
    parser.add_argument("--app", default=DEFAULT_APP, help="module:attribute of the ASGI app")
    parser.add_argument("--quiet", action="store_true", help="no line per request")
    parser.add_argument("--no-admin-key", action="store_true", help="do not generate an ADMIN_API_KEY")
    parser.add_argument(
        "--offline", action="store_true", help="both APIs on the offline provider, whatever the environment holds"
    )
    args = parser.parse_args(argv)

    try:
        plan = plan_local_run(os.environ, generate_admin_key=not args.no_admin_key, offline=args.offline)
        human = log_format(os.environ) != "json"
    except SettingsError as exc:
        print(f"llmcache: configuration error: {exc}", file=sys.stderr)
        return 2

    stoppers: list[Any] = []
    moto_endpoint = None
    try:
        try:
            # Bind first: a taken port should fail before anything else starts.
            listener = _listen(args.host, args.port)
        except OSError as exc:
            print(
                f"llmcache: cannot listen on {args.host}:{args.port}: {exc}; "
                "choose another: make run PORT=8081 (or --port)",
                file=sys.stderr,
            )
            return 1
        stoppers.append(listener.close)
        host, port = listener.getsockname()[:2]
        try:  # an upstream that is this gateway (a client's ANTHROPIC_BASE_URL pointing here) would loop forever
            check_not_self(Settings.from_env({**os.environ, **plan.env_updates}), os.environ, args.host, port)
        except SelfUpstream as exc:
            print(f"llmcache: {exc}", file=sys.stderr)
            return 2
        if plan.start_moto:
            from llmcache.local.aws import emulated_aws_env, start_moto

            moto = start_moto()
            stoppers.append(moto.stop)
            moto_endpoint = moto.endpoint_url
            plan.env_updates.update(emulated_aws_env(moto.endpoint_url))
        if plan.start_offline_provider:
            from llmcache.local.fake_provider import start_fake_provider

            provider = start_fake_provider()
            stoppers.append(provider.stop)
            if plan.upstream_mode == "offline":
                plan.set(Env.UPSTREAM_BASE_URL, provider.base_url)
            if plan.anthropic_offline:
                plan.set(Env.ANTHROPIC_BASE_URL, provider.url)
            if plan.bedrock_offline:
                plan.set(Env.BEDROCK_BASE_URL, provider.url)
        if human:  # the console's own lines replace the JSON access line and the EMF blobs (counted all the same)
            plan.env_updates["POWERTOOLS_METRICS_DISABLED"] = "true"
        os.environ.update(plan.env_updates)
        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            print(f"llmcache: configuration error: {exc}", file=sys.stderr)
            return 2
        if plan.create_resources:
            from llmcache.local.aws import create_cache_resources

            create_cache_resources(settings)

        try:
            app = load_app(args.app)
        except (ImportError, AttributeError) as exc:
            print(f"llmcache: cannot load the app {args.app}: {exc}", file=sys.stderr)
            return 1
        url = f"http://{_host_for_url(str(host))}:{port}"
        if human:
            app = _human_console(app, quiet=args.quiet)
        console = (
            "one line per request below (LOG_FORMAT=json for the deployment's JSON lines)"
            if human
            else "the deployment's JSON lines and EMF metrics (LOG_FORMAT=json)"
        )
        if args.quiet:
            console = "quiet: warnings and errors only"
        aws_endpoint = os.environ.get("AWS_ENDPOINT_URL")
        text = banner(url, settings, plan, moto_endpoint=moto_endpoint, aws_endpoint=aws_endpoint, console=console)
        print(text, flush=True)
        _Server(uvicorn_config(app, access_log=False)).run(sockets=[listener])  # returns on Ctrl-C or SIGTERM
        return 0
    finally:
        for stop in reversed(stoppers):
            try:
                stop()
            except Exception as exc:  # shutting down: report, keep stopping the rest
                print(f"llmcache: error while stopping: {exc}", file=sys.stderr)


def _human_console(app: Any, *, quiet: bool) -> Any:
    """The console of a person at a terminal: the gateway's logger in lines, one line per request."""
    from llmcache.local.console import Paint, RequestLines, use_human_logs, wants_colour
    from llmcache.observability import logger

    paint = Paint(wants_colour(sys.stdout, os.environ))
    use_human_logs(logger, paint)
    return app if quiet else RequestLines(app, paint=paint)


class _TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, plus a deadline for each request head: uvicorn times out only a connection
    idle after an answer, so one that connects and then sends nothing (or a byte now and then) would be kept."""

    head_seconds = REQUEST_HEAD_SECONDS

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._await_request_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_request_head()

    def _await_request_head(self) -> None:
        cycle = self.cycle
        self.loop.call_later(self.head_seconds, self._close_unless_new_request, cycle)

    def _close_unless_new_request(self, cycle: Any) -> None:
        if self.cycle is cycle and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app: Any, *, access_log: bool = True, head_seconds: float = REQUEST_HEAD_SECONDS) -> uvicorn.Config:
    """How `make run` serves the ASGI app (the tests use the same)."""
    protocol = type("TimedH11Protocol", (_TimedH11Protocol,), {"head_seconds": head_seconds})
    return uvicorn.Config(
        app,
        http=protocol,
        log_level="warning",
        access_log=access_log,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_graceful_shutdown=3,  # Ctrl-C: open streams get 3 s, then the stop goes on
    )


class _Server(uvicorn.Server):
    """uvicorn re-raises the stopping signal once stopped (exit code -15); `make run` exits 0 instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        def stop(signum: int, frame: FrameType | None) -> None:
            if not self.should_exit:
                print("\nllmcache: stopping", flush=True)
            self.should_exit = True  # a second Ctrl-C must not cut the clean stop short

        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    return listener


def _host_for_url(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
