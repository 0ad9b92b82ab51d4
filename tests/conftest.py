"""Session servers for every suite: moto (server mode), a real redis-server, the fake provider, and
local gateways (`python -m llmcache.local` subprocesses). All on free loopback ports, all stopped
at the end. See tests/servers.py for the classes behind the fixtures.

Fixtures:
- `moto_server` (session) -> MotoHandle: `.endpoint_url`, `.stop()`, `.start()`, `.restart()`
  (same port; state survives a restart, so a stop is an outage, not a wipe).
- `cache_resources` -> CacheResources: a fresh table and bucket on `moto_server` for one test,
  with `.env` (the variables that point the code at them); deleted afterwards.
- `redis_server` (session) -> RedisServer: `.url`, `.kill()`, `.start()`, `.flushall()`.
  `redis_url` -> the URL of a running, empty Redis (restarted if a test killed it).
- `valkey_search` (session) -> ValkeySearchServer: Valkey 9.1 with vector search, the same methods;
  `valkey_search_url` -> the URL of a running, empty one. Tests marked `valkey` are skipped, with the
  reason, only when its binaries are not installed (`make valkey-search`; `make test` installs them).
- `fake_provider` (session) -> FakeProvider: `.base_url` (ends in /v1), `.stats()`, `.count()`,
  `.requests()`, `.reset()`, `.set_fault()`.
- `gateway` (session) -> a factory: `gateway(env=None, name=None) -> GatewayProcess` (`.url`,
  `.api_base`, `.log_text()`). By default the gateway talks to `fake_provider`, keeps its tiers
  on `moto_server` in a table and bucket of its own, and has ADMIN_API_KEY `ADMIN_KEY`. `env`
  overrides any variable; a value of None removes it (e.g. `{"UPSTREAM_BASE_URL": None,
  "AWS_ENDPOINT_URL": None}` is exactly `make run`: offline provider and embedded moto). Equal
  configurations share one process. A failing test's report carries the gateways' logs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import pytest
from tests.servers import (
    REDIS_MISSING,
    VALKEY_SEARCH_MISSING,
    CacheResources,
    FakeProvider,
    GatewayProcess,
    MotoHandle,
    RedisServer,
    RedisUnavailable,
    ValkeySearchServer,
    create_cache_resources,
    delete_cache_resources,
    emulated_aws_env,
    gateway_env,
    start_fake_provider,
    start_moto,
    unique_name,
    valkey_search_binaries,
)

ADMIN_KEY = "sk-admin-test-0000"
_live_gateways: list[GatewayProcess] = []


def pytest_configure(config: pytest.Config) -> None:
    # Nothing in the suite may reach real AWS: credentials that are not real, a fixed region.
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("redis") and not RedisServer.binary_available():
        pytest.fail(REDIS_MISSING, pytrace=False)
    if item.get_closest_marker("valkey") and valkey_search_binaries() is None:
        pytest.skip(VALKEY_SEARCH_MISSING)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed and _live_gateways and "gateway" in getattr(item, "fixturenames", ()):
        for process in _live_gateways:
            log = process.log_text()
            tail = log[-20_000:]
            report.sections.append((f"{process.name} log ({process.log_path})", tail))
    return report


# -------------------------------------------------------------------------------------- AWS (moto)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoHandle]:
    handle = start_moto()
    yield handle
    handle.stop()


@pytest.fixture
def cache_resources(moto_server: MotoHandle) -> Iterator[CacheResources]:
    """A table and a bucket of this test's own on the session moto server."""
    if not moto_server.running:
        moto_server.start()
    name = unique_name("test")
    create_cache_resources(table=name, bucket=name, endpoint_url=moto_server.endpoint_url)
    env = {**emulated_aws_env(moto_server.endpoint_url), "CACHE_TABLE": name, "CACHE_BUCKET": name}
    yield CacheResources(name, name, moto_server.endpoint_url, env)
    if not moto_server.running:
        moto_server.start()  # a test that stopped it must not break the next one
    delete_cache_resources(table=name, bucket=name, endpoint_url=moto_server.endpoint_url)


# ------------------------------------------------------------------------------------------ redis


S = TypeVar("S", bound=RedisServer)


def _serve(make: Callable[[], S]) -> Iterator[S]:
    try:
        server = make().start()
    except RedisUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


def _fresh(server: RedisServer) -> str:
    """The URL of the server, running and empty (restarted first if an earlier test killed it)."""
    server.start()
    server.flushall()
    return server.url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    yield from _serve(RedisServer)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return _fresh(redis_server)


@pytest.fixture(scope="session")
def valkey_search() -> Iterator[ValkeySearchServer]:
    yield from _serve(ValkeySearchServer)


@pytest.fixture
def valkey_search_url(valkey_search: ValkeySearchServer) -> str:
    return _fresh(valkey_search)


# ---------------------------------------------------------------------------------- fake provider


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[FakeProvider]:
    provider = start_fake_provider()
    yield provider
    provider.stop()


# ---------------------------------------------------------------------------------------- gateway

GatewayFactory = Callable[..., GatewayProcess]


@pytest.fixture(scope="session")
def gateway(moto_server: MotoHandle, fake_provider: FakeProvider) -> Iterator[GatewayFactory]:
    started: dict[tuple[tuple[str, str | None], ...], GatewayProcess] = {}
    resources: list[tuple[str, str]] = []

    def start(env: Mapping[str, str | None] | None = None, name: str | None = None) -> GatewayProcess:
        wanted = dict(env or {})
        config = tuple(sorted(wanted.items()))
        existing = started.get(config)
        if existing is not None and existing.running:
            return existing
        if not moto_server.running:
            moto_server.start()
        table = unique_name("gw")
        overrides: dict[str, str | None] = {
            "UPSTREAM_BASE_URL": fake_provider.base_url,
            "ANTHROPIC_BASE_URL": fake_provider.url,
            "BEDROCK_BASE_URL": fake_provider.url,
            **emulated_aws_env(moto_server.endpoint_url),
            "CACHE_TABLE": table,
            "CACHE_BUCKET": table,
            "ADMIN_API_KEY": ADMIN_KEY,
            **wanted,
        }
        if overrides.get("AWS_ENDPOINT_URL") == moto_server.endpoint_url:
            create_cache_resources(table=table, bucket=table, endpoint_url=moto_server.endpoint_url)
            resources.append((table, table))
        process = GatewayProcess(gateway_env(overrides), name=name or f"gateway-{len(started) + 1}")
        _live_gateways.append(process)
        process.start()
        started[config] = process
        return process

    yield start
    for process in _live_gateways:
        process.terminate()
    for process in _live_gateways[:]:
        process.stop()
        process.remove_log()
        _live_gateways.remove(process)
    if not moto_server.running:
        moto_server.start()
    for table, bucket in resources:
        delete_cache_resources(table=table, bucket=bucket, endpoint_url=moto_server.endpoint_url)
