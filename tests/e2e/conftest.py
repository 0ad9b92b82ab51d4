"""E2E: the real local gateway (`python -m llmcache.local`, as `make run`) driven over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from tests.servers import GatewayProcess


@pytest.fixture(scope="module")
def gw(gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    """The default test gateway: fake provider upstream, memory + DynamoDB tiers on the session moto."""
    return gateway(name="gateway-default")


@pytest.fixture(scope="module")
def make_run_gateway(gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    """Exactly `make run`: no upstream configured (offline provider), AWS emulated in-process."""
    return gateway(
        {
            "UPSTREAM_BASE_URL": None,
            "BEDROCK_BASE_URL": None,
            "AWS_ENDPOINT_URL": None,
            "ADMIN_API_KEY": None,
            "CACHE_TABLE": None,
            "CACHE_BUCKET": None,
        },
        name="gateway-make-run",
    )


@pytest.fixture
def prompt() -> str:
    """A question no other test asks, so a shared gateway's cache starts cold for it."""
    return f"What is the capital of France? [{uuid.uuid4().hex[:8]}]"
