"""`python -m llmcache.local`: the gateway on one machine (this is `make run`): the ASGI app under uvicorn.

Order matters: the environment (emulated AWS, upstream, admin key) is settled first, then
`llmcache.asgi` is imported, so its settings and clients see the final values.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from llmcache.constants import Env
from llmcache.settings import OPENAI_BASE_URL, Settings, SettingsError

DEFAULT_APP = "llmcache.asgi:app"
# Limits of `make run` (docs/streaming.md). A connection idle after an answer is closed after KEEP_ALIVE_SECONDS;
# one that has not sent a whole request head within REQUEST_HEAD_SECONDS (slow or silent) is closed too; a body
# not whole within the app's LLMCACHE_BODY_TIMEOUT_SECONDS gets a 408. Past MAX_CONNECTIONS, a 503.
KEEP_ALIVE_SECONDS = 5
REQUEST_HEAD_SECONDS = 10
MAX_CONNECTIONS = 1000
OPENAI_API_KEY = "OPENAI_API_KEY"


@dataclass
class LocalPlan:
    """What the local run must start and which environment it sets, decided from the environment."""

    env_updates: dict[str, str] = field(default_factory=dict)
    start_moto: bool = False
    create_resources: bool = False
    start_offline_provider: bool = False
    upstream_mode: str = "passthrough"  # passthrough | managed | offline
    anthropic_offline: bool = False  # /v1/messages answered by the offline provider too
    bedrock_offline: bool = False  # Bedrock Runtime's /model/... answered by the offline provider too
    generated_admin_key: str | None = None
    max_request_bytes: int = 0


def plan_local_run(env: Mapping[str, str], *, generate_admin_key: bool = True) -> LocalPlan:
    """Decide the local run's setup. Pure: reads `env`, starts nothing. Raises SettingsError."""
    settings = Settings.from_env(env)  # validates tiers, Redis URL, numbers before anything starts
    plan = LocalPlan(max_request_bytes=settings.max_request_bytes)
    endpoint = env.get("AWS_ENDPOINT_URL", "").strip()
    if settings.uses_aws:
        if endpoint:
            from llmcache.local.aws import is_loopback_endpoint

            # An emulator someone else started (tests, localstack): make sure the layout exists.
            plan.create_resources = is_loopback_endpoint(endpoint)
            if plan.create_resources and not env.get("AWS_ACCESS_KEY_ID"):
                from llmcache.local.aws import DUMMY_CREDENTIALS

                plan.env_updates.update(DUMMY_CREDENTIALS)
        else:
            plan.start_moto = plan.create_resources = True
    if env.get(Env.UPSTREAM_BASE_URL, "").strip():
        managed = bool(
            env.get(Env.UPSTREAM_API_KEY, "").strip() or env.get(Env.UPSTREAM_API_KEY_SECRET_ARN, "").strip()
        )
        plan.upstream_mode = "managed" if managed else "passthrough"
    elif env.get(OPENAI_API_KEY, "").strip():
        plan.upstream_mode = "managed"
        plan.env_updates[Env.UPSTREAM_BASE_URL] = OPENAI_BASE_URL
        if not env.get(Env.UPSTREAM_API_KEY, "").strip():
            plan.env_updates[Env.UPSTREAM_API_KEY] = env[OPENAI_API_KEY].strip()
    else:
        plan.upstream_mode = "offline"
        plan.start_offline_provider = True
    anthropic_set = (Env.ANTHROPIC_BASE_URL, Env.ANTHROPIC_API_KEY, Env.ANTHROPIC_API_KEY_SECRET_ARN)
    if not any(env.get(name, "").strip() for name in anthropic_set):
        plan.anthropic_offline = plan.start_offline_provider = True
    if not env.get(Env.BEDROCK_BASE_URL, "").strip():
        plan.bedrock_offline = plan.start_offline_provider = True
    no_admin = not env.get(Env.ADMIN_API_KEY, "").strip() and not env.get(Env.ADMIN_API_KEY_SECRET_ARN, "").strip()
    if generate_admin_key and no_admin:
        plan.generated_admin_key = "sk-admin-local-" + secrets.token_urlsafe(24)
        plan.env_updates[Env.ADMIN_API_KEY] = plan.generated_admin_key
    if not env.get("POWERTOOLS_SERVICE_NAME"):
        plan.env_updates["POWERTOOLS_SERVICE_NAME"] = "llmcache"
    return plan


def load_app(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "app")


def curl_example(url: str, api_key: str) -> str:
    return (
        f"curl -i {url}/v1/chat/completions \\\n"
        f'    -H "Authorization: Bearer {api_key}" -H "Content-Type: application/json" \\\n'
        """    -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}'"""
    )


def _anthropic_upstream(settings: Settings, plan: LocalPlan) -> str:
    """Where /v1/messages goes, for the banner."""
    if plan.anthropic_offline:
        return f"offline provider ({settings.anthropic_base_url})"
    how = "managed: the gateway sends its own key" if settings.managed_anthropic_key else "each client's key forwarded"
    return f"{settings.anthropic_base_url} ({how})"


def _bedrock_upstream(settings: Settings, plan: LocalPlan) -> str:
    """Where Bedrock Runtime's /model/... goes, for the banner."""
    where = "offline provider" if plan.bedrock_offline else settings.bedrock_base_url
    how = "signed with this machine's AWS credentials" if settings.bedrock_auth == "iam" else "each client's key"
    return f"{where} ({how})" if not plan.bedrock_offline else f"{where} ({settings.bedrock_base_url})"


def _semantic_line(settings: Settings) -> str:
    """Semantic matching, for the banner: off, or on with which model and operating point."""
    if settings.semantic_mode != "on":
        return "off (SEMANTIC_MODE=on turns it on)"
    model = "the shipped local model" if settings.semantic_embedder == "local" else settings.semantic_embedder
    if settings.semantic_embedder == "upstream":
        model = f"upstream embeddings ({settings.semantic_embedding_model})"
    point = f"threshold {settings.semantic_threshold}, pair cut {settings.semantic_pair_cut}"
    if settings.semantic_max_false_hit_rate is not None:
        point += f" (from SEMANTIC_MAX_FALSE_HIT_RATE={settings.semantic_max_false_hit_rate})"
    return f"on, {model}, {point}, index {settings.semantic_index}"


def banner(
    url: str,
    settings: Settings,
    plan: LocalPlan,
    *,
    moto_endpoint: str | None,
    import_seconds: float,
) -> str:
    if plan.upstream_mode == "offline":
        upstream = f"offline provider: answers are canned, not from a model ({settings.upstream_base_url})"
        client_key = "sk-local-demo"
    elif plan.upstream_mode == "managed":
        upstream = f"{settings.upstream_base_url} (managed: the gateway sends its own provider key)"
        client_key = "sk-local-demo"
    else:
        upstream = f"{settings.upstream_base_url} (passthrough: each client's key is forwarded)"
        client_key = "$YOUR_PROVIDER_KEY"
    tiers = ", ".join(settings.tiers)
    if settings.uses_aws:
        where = f"moto in-process at {moto_endpoint}" if moto_endpoint else os.environ.get("AWS_ENDPOINT_URL", "AWS")
        tiers += f"  (table {settings.cache_table}, bucket {settings.cache_bucket}; {where})"
    lines = [
        "",
        "llmcache local gateway",
        f"  URL:        {url}    (OpenAI base URL: {url}/v1)",
        f"  upstream:   {upstream}",
        f"  anthropic:  {_anthropic_upstream(settings, plan)}    (Anthropic base URL: {url})",
        f"  bedrock:    {_bedrock_upstream(settings, plan)}    (boto3 bedrock-runtime endpoint_url: {url})",
        f"  tiers:      {tiers}",
        f"  semantic:   {_semantic_line(settings)}",
    ]
    if plan.generated_admin_key:
        lines.append(f"  admin key:  {plan.generated_admin_key}  (generated for this run; set ADMIN_API_KEY to choose)")
    lines += [
        f"  app imported in {import_seconds * 1000:.0f} ms (uvicorn; streamed misses relayed as they come)",
        "",
        "Try it (run it twice: MISS, then HIT):",
        "  " + curl_example(url, client_key),
        "",
        "Ctrl-C stops.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmcache.local",
        description="Run the llmcache gateway locally: the ASGI app (llmcache.asgi:app) under uvicorn.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8080), help="default 8080")
    parser.add_argument("--app", default=DEFAULT_APP, help="module:attribute of the ASGI app")
    parser.add_argument("--quiet", action="store_true", help="no access log lines")
    parser.add_argument("--no-admin-key", action="store_true", help="do not generate an ADMIN_API_KEY")
    args = parser.parse_args(argv)

    try:
        plan = plan_local_run(os.environ, generate_admin_key=not args.no_admin_key)
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
        if plan.start_moto:
            from llmcache.local.aws import emulated_aws_env, start_moto

            moto = start_moto()
            stoppers.append(moto.stop)
            moto_endpoint = moto.endpoint_url
            plan.env_updates.update(emulated_aws_env(moto.endpoint_url))
        if plan.start_offline_provider:
            from llmcache.local.fake_provider import OFFLINE_NOTICE, start_fake_provider

            provider = start_fake_provider()
            stoppers.append(provider.stop)
            if plan.upstream_mode == "offline":
                plan.env_updates[Env.UPSTREAM_BASE_URL] = provider.base_url
            if plan.anthropic_offline:
                plan.env_updates[Env.ANTHROPIC_BASE_URL] = provider.url
            if plan.bedrock_offline:
                plan.env_updates[Env.BEDROCK_BASE_URL] = provider.url
            print(f"llmcache: {OFFLINE_NOTICE}", flush=True)
        os.environ.update(plan.env_updates)
        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            print(f"llmcache: configuration error: {exc}", file=sys.stderr)
            return 2
        if plan.create_resources:
            from llmcache.local.aws import create_cache_resources

            create_cache_resources(settings)

        started = time.perf_counter()
        try:
            app = load_app(args.app)
        except (ImportError, AttributeError) as exc:
            print(f"llmcache: cannot load the app {args.app}: {exc}", file=sys.stderr)
            return 1
        import_seconds = time.perf_counter() - started

        host, port = listener.getsockname()[:2]
        url = f"http://{_host_for_url(str(host))}:{port}"
        config = uvicorn_config(app, access_log=not args.quiet)
        print(banner(url, settings, plan, moto_endpoint=moto_endpoint, import_seconds=import_seconds), flush=True)
        _Server(config).run(sockets=[listener])  # returns on Ctrl-C or SIGTERM, after a clean stop
        return 0
    finally:
        for stop in reversed(stoppers):
            try:
                stop()
            except Exception as exc:  # shutting down: report, keep stopping the rest
                print(f"llmcache: error while stopping: {exc}", file=sys.stderr)


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
