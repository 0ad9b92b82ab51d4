"""Integration fixtures: moto in server mode, the fake provider, and the gateway configured per test, called
through both entry points (`client`: the Lambda handler, then the ASGI app)."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator

import pytest
from tests.integration.harness import AsgiClient, HandlerClient

from llmcache import wiring
from llmcache.local.aws import create_cache_resources, delete_cache_resources, emulated_aws_env
from llmcache.settings import Settings


@pytest.fixture(scope="session")
def provider(fake_provider):
    return fake_provider


@pytest.fixture(scope="session")
def moto(moto_server):
    return moto_server


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch, moto, provider):
    """Returns a function that (re)configures the handler from environment variables, as Lambda does."""
    provider.reset()
    created: list[tuple[str, str]] = []

    def apply(**env: str) -> Settings:
        if not moto.running:
            moto.start()
        suffix = uuid.uuid4().hex[:10]
        values = {
            **emulated_aws_env(moto.endpoint_url),
            "UPSTREAM_BASE_URL": provider.base_url,
            "ANTHROPIC_BASE_URL": provider.url,
            "CACHE_TABLE": f"it-{suffix}",
            "CACHE_BUCKET": f"it-{suffix}",
            "ADMIN_API_KEY": "admin-secret",
            "POWERTOOLS_METRICS_NAMESPACE": "LlmCache",
            **env,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        settings = Settings.from_env()
        if settings.uses_aws:
            create_cache_resources(
                table=settings.cache_table, bucket=settings.cache_bucket, endpoint_url=moto.endpoint_url
            )
            created.append((settings.cache_table, settings.cache_bucket))
        wiring.configure(settings)
        return settings

    yield apply
    wiring.configure(Settings())
    if not moto.running:
        moto.start()
    for table, bucket in created:
        delete_cache_resources(table=table, bucket=bucket, endpoint_url=moto.endpoint_url)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the gateway's Powertools logger writes during the test (its handler keeps its own stream)."""
    from llmcache.observability import logger

    handler = logger.registered_handler
    buffer = io.StringIO()
    # Swap the stream directly: setStream() flushes the old one, which is closed when the logger was first
    # imported under another test's capsys (this file run on its own).
    previous, handler.stream = handler.stream, buffer  # type: ignore[attr-defined]
    yield buffer
    handler.stream = previous  # type: ignore[attr-defined]


@pytest.fixture(params=["handler", "asgi"])
def client(request: pytest.FixtureRequest) -> HandlerClient:
    """Each integration test runs against both entry points: the Lambda handler and the ASGI app."""
    return HandlerClient() if request.param == "handler" else AsgiClient()


class ManualClock:
    """A wall clock that moves only when the test says: `advance(1.2)` instead of `time.sleep(1.2)`."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def engine_clock():
    """Call after `configure(...)`: the configured engine's clock (expiry, max-age, admin TTLs) becomes a
    ManualClock, so a test about expiry never depends on how fast the machine runs between two requests."""

    def install() -> ManualClock:
        # An hour ahead of the wall clock: expiries that stores hand to a server's own clock (Redis and Valkey
        # PEXPIREAT) then lie an hour away, so none of them can fire while a slow machine runs the test.
        clock = ManualClock(time.time() + 3600)
        wiring.engine().services.clock = clock
        return clock

    return install
