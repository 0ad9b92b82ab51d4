"""The AWS bootstrap (deployment layout on moto) and the harness's own servers (redis, moto, gateway)."""

from __future__ import annotations

import boto3
import httpx
import pytest
from botocore.config import Config
from tests.servers import (
    CacheResources,
    GatewayProcess,
    GatewayStartError,
    MotoHandle,
    RedisServer,
    gateway_env,
    wait_until,
)

from llmcache.constants import TABLE_PARTITION_KEY, TABLE_TTL_ATTRIBUTE


def _dynamodb(endpoint: str) -> object:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=2),
    )


def test_given_the_bootstrap_when_it_creates_the_table_then_the_layout_is_the_deployments(
    cache_resources: CacheResources,
) -> None:
    dynamodb = _dynamodb(cache_resources.endpoint_url)

    table = dynamodb.describe_table(TableName=cache_resources.table)["Table"]  # type: ignore[attr-defined]
    ttl = dynamodb.describe_time_to_live(TableName=cache_resources.table)["TimeToLiveDescription"]  # type: ignore[attr-defined]

    assert table["KeySchema"] == [{"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": TABLE_PARTITION_KEY, "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": TABLE_TTL_ATTRIBUTE}


def test_given_the_bootstrap_when_it_creates_the_bucket_then_it_is_encrypted_and_private(
    cache_resources: CacheResources,
) -> None:
    s3 = boto3.client("s3", endpoint_url=cache_resources.endpoint_url, region_name="us-east-1")

    rules = s3.get_bucket_encryption(Bucket=cache_resources.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    block = s3.get_public_access_block(Bucket=cache_resources.bucket)["PublicAccessBlockConfiguration"]

    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(block.values())


def test_given_existing_resources_when_the_bootstrap_runs_again_then_it_leaves_them_as_they_are(
    cache_resources: CacheResources,
) -> None:
    from llmcache.local.aws import create_cache_resources

    names = create_cache_resources(
        table=cache_resources.table, bucket=cache_resources.bucket, endpoint_url=cache_resources.endpoint_url
    )

    assert names == (cache_resources.table, cache_resources.bucket)


def test_given_moto_with_a_table_when_stopped_and_started_then_calls_fail_meanwhile_and_the_table_survives(
    moto_server: MotoHandle, cache_resources: CacheResources
) -> None:
    dynamodb = _dynamodb(moto_server.endpoint_url)
    port = moto_server.port

    moto_server.stop()
    try:
        with pytest.raises(Exception, match=r"(?i)connect"):
            dynamodb.describe_table(TableName=cache_resources.table)  # type: ignore[attr-defined]
    finally:
        moto_server.start()

    assert moto_server.port == port
    assert dynamodb.describe_table(TableName=cache_resources.table)["Table"]["TableStatus"] == "ACTIVE"  # type: ignore[attr-defined]


@pytest.mark.redis
def test_given_a_running_redis_when_killed_and_started_again_then_it_refuses_meanwhile_and_comes_back_empty(
    redis_server: RedisServer, redis_url: str
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
    client.set("k", "v")

    redis_server.kill()
    with pytest.raises(redis.exceptions.ConnectionError):
        client.get("k")
    redis_server.start()

    assert wait_until(lambda: client.ping(), timeout=5, what="redis back")
    assert client.get("k") is None  # no persistence: a restarted node is empty
    assert redis_server.url == redis_url


@pytest.mark.redis
def test_given_the_redis_url_fixture_when_a_test_starts_then_the_database_is_empty(
    redis_server: RedisServer, redis_url: str
) -> None:
    import redis

    assert redis.Redis.from_url(redis_url).dbsize() == 0


def test_given_a_gateway_that_cannot_start_when_started_then_the_error_carries_its_log() -> None:
    process = GatewayProcess(gateway_env({"CACHE_TIERS": "memory,floppy"}), name="gateway-broken")
    try:
        with pytest.raises(GatewayStartError, match="CACHE_TIERS"):
            process.start(timeout=30)
    finally:
        process.stop()
        process.remove_log()


def test_given_a_running_gateway_when_stopped_then_it_exits_cleanly_and_frees_its_port() -> None:
    process = GatewayProcess(gateway_env({"CACHE_TIERS": "memory", "UPSTREAM_BASE_URL": "http://127.0.0.1:9/v1"}))
    try:
        process.start()
        proc = process.process
        assert httpx.get(f"{process.url}/health", timeout=5).status_code == 200

        process.stop()

        assert proc is not None and proc.returncode == 0
        assert "stopping" in process.log_text()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{process.url}/health", timeout=2)
    finally:
        process.stop()
        process.remove_log()


def test_given_a_developers_real_keys_when_a_gateway_env_is_built_then_they_are_not_inherited() -> None:
    env = gateway_env(
        {"CACHE_TIERS": "memory", "REDIS_URL": None},
        base={"OPENAI_API_KEY": "sk-real", "AWS_PROFILE": "prod", "REDIS_URL": "redis://x", "HOME": "/h"},
    )

    assert "OPENAI_API_KEY" not in env and "AWS_PROFILE" not in env and "REDIS_URL" not in env
    assert env["HOME"] == "/h" and env["CACHE_TIERS"] == "memory"
    assert "functions" in env["PYTHONPATH"]
