"""The Redis tier against a server in cluster mode, as ElastiCache Serverless (the CDK's hot tier) runs.

A one-node cluster owning every hash slot still refuses a multi-key command whose keys hash to different
slots (CROSSSLOT), which is what ElastiCache Serverless answers to MGET: batch reads must be single-key."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis as redis_client
from tests.servers import RedisServer, free_port, wait_until

from llmcache.stores.base import CacheEntry
from llmcache.stores.redis import RedisStore

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def cluster_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if not RedisServer.binary_available():
        pytest.skip("redis-server is not installed (make redis-server)")
    config = tmp_path_factory.mktemp("cluster") / "nodes.conf"
    # The cluster bus listens on its own port (by default the client port + 10000, past 65535 for a high
    # free port): given one explicitly.
    cluster = ("--cluster-enabled", "yes", "--cluster-config-file", str(config), "--cluster-port", str(free_port()))
    server = RedisServer(extra_args=cluster).start(timeout=60)
    try:
        client = redis_client.Redis(host=server.host, port=server.port)
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        wait_until(lambda: b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO"), timeout=30,
                   what="the one-node cluster to own every slot")  # fmt: skip
        yield server
    finally:
        server.kill()


def _entry(body: bytes, now: float) -> CacheEntry:
    return CacheEntry(body=body, created_at=now, expires_at=now + 60, route="/v1/chat/completions", model="m")


def test_given_a_cluster_mode_server_when_keys_span_hash_slots_then_mget_is_refused(
    cluster_server: RedisServer,
) -> None:
    # The server behaves as ElastiCache Serverless does: the premise of the next test.
    client = redis_client.Redis(host=cluster_server.host, port=cluster_server.port)
    client.set("llmcache:e:a", b"1")
    with pytest.raises(redis_client.ResponseError, match="same slot"):
        client.mget(["llmcache:e:a", "llmcache:e:b", "llmcache:e:c"])


def test_given_a_cluster_mode_server_when_a_batch_and_generations_are_read_then_every_key_is_found(
    cluster_server: RedisServer,
) -> None:
    now = time.time()
    store = RedisStore(cluster_server.url, timeout=2.0)
    keys = [f"key-{i}" for i in range(20)]
    store.put_many([(k, _entry(k.encode(), now)) for k in keys[:15]])

    found = store.get_many(keys, now)

    assert sorted(found) == sorted(keys[:15])
    assert all(found[k].entry.body == k.encode() for k in found)
    store.raise_generation("tenant-a", 4)
    store.bump_generation("tenant-b")
    assert store.get_generations(["tenant-a", "tenant-b", "tenant-c"]) == {"tenant-a": 4, "tenant-b": 1, "tenant-c": 0}
