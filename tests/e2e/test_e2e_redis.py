"""The local gateway with the Redis hot tier on a real redis-server: hits from Redis, outage survived."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.e2e.clients import chat_body, post
from tests.servers import GatewayProcess, RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def gw_redis(gateway: Callable[..., GatewayProcess], redis_server: RedisServer) -> GatewayProcess:
    # No memory tier: a repeat can only be served by Redis (or DynamoDB behind it).
    return gateway({"REDIS_URL": redis_server.url, "CACHE_TIERS": "redis,dynamodb"}, name="gateway-redis")


def test_given_the_redis_tier_first_when_asked_twice_then_the_hit_comes_from_redis(
    gw_redis: GatewayProcess, redis_server: RedisServer, prompt: str
) -> None:
    redis_server.start()

    first = post(gw_redis, "/v1/chat/completions", chat_body(prompt))
    second = post(gw_redis, "/v1/chat/completions", chat_body(prompt))

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.headers["x-cache-tier"] == "redis"
    assert second.json() == first.json()


def test_given_redis_killed_when_a_new_prompt_arrives_then_it_is_still_answered_from_upstream(
    gw_redis: GatewayProcess, redis_server: RedisServer, prompt: str
) -> None:
    redis_server.kill()
    try:
        response = post(gw_redis, "/v1/chat/completions", chat_body(prompt))
    finally:
        redis_server.start()

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == f"offline answer to: {prompt}"
