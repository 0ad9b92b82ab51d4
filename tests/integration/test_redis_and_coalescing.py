"""The Redis hot tier against a real redis-server, its failures, and coalescing across containers."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import redis as redis_client
from tests.integration.harness import chat_answer
from tests.servers import wait_until

from llmcache import wiring
from llmcache.settings import Settings

pytestmark = pytest.mark.redis


def test_given_only_redis_when_asked_twice_then_the_hit_comes_from_redis_with_native_expiry(
    configure, client, redis_url
):
    configure(CACHE_TIERS="redis", REDIS_URL=redis_url)
    first = client.chat("redis please", headers={"X-Cache-TTL": "120"})
    second = client.chat("redis please")
    assert (first.cache, second.cache, second.headers["x-cache-tier"]) == ("MISS", "HIT", "redis")
    r = redis_client.Redis.from_url(redis_url)
    ttl_ms = r.pttl(f"llmcache:e:{first.headers['x-cache-key']}")
    assert 0 < ttl_ms <= 120_000


def test_given_a_new_container_when_asked_then_redis_answers_and_memory_is_refilled(configure, client, redis_url):
    settings = configure(CACHE_TIERS="memory,redis,dynamodb", REDIS_URL=redis_url)
    client.chat("warm in redis")
    wiring.configure(settings)  # a fresh container: empty memory tier
    from_redis = client.chat("warm in redis")
    from_memory = client.chat("warm in redis")
    assert (from_redis.headers["x-cache-tier"], from_memory.headers["x-cache-tier"]) == ("redis", "memory")


def test_given_redis_dies_mid_run_when_asked_then_answers_keep_coming_fast_and_dynamodb_still_hits(
    configure, client, redis_server, redis_url, provider
):
    settings = configure(CACHE_TIERS="redis,dynamodb", REDIS_URL=redis_url)
    client.chat("before the crash")
    redis_server.kill()
    wiring.configure(settings)  # new connections must fail fast, not hang
    durations = []
    for i in range(20):
        started = time.monotonic()
        answer = client.chat("before the crash" if i % 2 else f"new question {i}")
        durations.append(time.monotonic() - started)
        assert answer.status == 200
        if i % 2:
            assert (answer.cache, answer.headers["x-cache-tier"]) == ("HIT", "dynamodb")
    # a dead Redis costs tens of milliseconds at most (50 ms socket timeouts), then the breaker skips it; a
    # client without timeouts would hang for minutes. The bound is generous: a loaded machine is not a hang.
    assert max(durations) < 5.0
    redis_server.start()


def test_given_corrupt_bytes_in_redis_when_asked_then_the_next_tier_answers_correctly(
    configure, client, redis_url, capsys
):
    configure(CACHE_TIERS="redis,dynamodb", REDIS_URL=redis_url)
    first = client.chat("corrupt in redis")
    r = redis_client.Redis.from_url(redis_url)
    r.set(f"llmcache:e:{first.headers['x-cache-key']}", b"\x00\x00\x00\x05garbage")
    again = client.chat("corrupt in redis")
    assert (again.cache, again.headers["x-cache-tier"]) == ("HIT", "dynamodb")
    assert again.body == first.body
    assert "CacheBackendError" in capsys.readouterr().out


def test_given_an_admin_delete_and_flush_when_done_then_redis_forgets_too(configure, client, redis_url):
    configure(CACHE_TIERS="memory,redis", REDIS_URL=redis_url)
    key = client.chat("delete from redis").headers["x-cache-key"]
    r = redis_client.Redis.from_url(redis_url)
    assert r.exists(f"llmcache:e:{key}")
    assert client.call("DELETE", f"/cache/entries/{key}", api_key="admin-secret").status == 204
    assert not r.exists(f"llmcache:e:{key}")
    client.chat("flush from redis")
    client.call("POST", "/cache/flush", {"namespace": "default"}, api_key="admin-secret")
    assert client.chat("flush from redis").cache == "MISS"


def _two_containers(settings: Settings):
    return wiring.build_engine(settings), wiring.build_engine(settings)


def _count_calls(owner, name: str, calls: list[str]) -> None:
    """Record each call of `owner.name` (on this instance only) before it runs."""
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    setattr(owner, name, counted)


@pytest.mark.parametrize("tiers", ["memory,dynamodb", "memory,redis"])
def test_given_two_containers_when_a_herd_misses_the_same_key_then_the_provider_is_called_once(
    configure, redis_url, provider, tiers
):
    """Two handler instances share the table (or Redis); the second waits on the first one's lease."""
    import respx

    from llmcache.dialects.registry import dialect_for
    from llmcache.exchange import ClientRequest
    from llmcache.keys import tenant_id

    settings = configure(CACHE_TIERS=tiers, REDIS_URL=redis_url)
    engines = _two_containers(settings)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "herd"}]}
    raw = __import__("json").dumps(body).encode()
    request = ClientRequest(dialect_for("chat/completions"), body, raw, {}, "sk-herd", tenant_id("sk-herd"))
    results = []
    in_flight: list[str] = []  # every caller's way into a flight, and the other container's wait on the lease
    for engine in engines:
        _count_calls(engine.flights, "run", in_flight)
        _count_calls(engine.leases, "wait_for", in_flight)
    asked: list[int] = []

    def answer(_request):
        # the provider answers only once all six callers are in, however slowly the threads start
        asked.append(1)
        wait_until(lambda: len(in_flight) == 7, timeout=60, interval=0.01, what="six callers and one lease wait")
        return httpx.Response(200, json=chat_answer("one answer for the herd"))

    def ask(engine):
        results.append(engine.handle(request))

    with respx.mock(base_url=provider.base_url) as mock:
        mock.post("/chat/completions").mock(side_effect=answer)
        threads = [threading.Thread(target=ask, args=(engines[i % 2],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert len(results) == 6
    assert len(asked) == 1
    assert len({r.body for r in results}) == 1
    coalesced = [r for r in results if r.headers.get("X-Cache-Coalesced") == "true"]
    assert coalesced
    # a waiter missed its lookup: labelled MISS, as the metrics count it, never HIT (a thread that started
    # after the answer was stored may be a plain HIT, without X-Cache-Coalesced)
    assert {r.headers["X-Cache"] for r in coalesced} == {"MISS"}
    assert not any("X-Cache-Tier" in r.headers for r in coalesced)


def test_given_a_leader_whose_call_fails_when_others_wait_then_they_make_their_own_call(configure, provider):
    from llmcache.dialects.registry import dialect_for
    from llmcache.exchange import ClientRequest
    from llmcache.keys import tenant_id

    settings = configure(CACHE_TIERS="memory,dynamodb")
    first, second = _two_containers(settings)
    body = {"model": "fake-error-500", "messages": [{"role": "user", "content": "failing herd"}]}
    raw = __import__("json").dumps(body).encode()
    request = ClientRequest(dialect_for("chat/completions"), body, raw, {}, "sk-herd", tenant_id("sk-herd"))
    answers = [first.handle(request), second.handle(request)]
    assert [a.status for a in answers] == [500, 500]
    assert provider.count() == 2


def test_given_a_burst_over_a_few_prompts_when_served_then_each_prompt_reaches_the_provider_once(
    configure, client, provider
):
    from concurrent.futures import ThreadPoolExecutor

    configure(CACHE_TIERS="memory")  # no shared tier, so no lease: the in-container single flight alone
    prompts = [f"burst prompt {i}" for i in range(5)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda i: client.chat(prompts[i % 5], model="fake-slow-50"), range(200)))
    assert all(a.status == 200 for a in answers)
    assert provider.count() == 5


def test_given_redis_lost_its_flush_counters_when_asked_again_then_the_flushed_entry_stays_flushed(
    configure, client, redis_url
):
    configure(CACHE_TIERS="memory,redis", REDIS_URL=redis_url)  # the generations live in Redis here
    before = client.chat("flush me").headers["x-cache-key"]
    assert client.call("POST", "/cache/flush", {"namespace": "default"}, api_key="admin-secret").status == 200
    after = client.chat("flush me")
    assert after.cache == "MISS" and after.headers["x-cache-key"] != before
    redis_client.Redis.from_url(redis_url).flushall()  # a restart without persistence
    time.sleep(1.2)  # past the container's 1 s copy of the generations
    again = client.chat("flush me")
    assert again.headers["x-cache-key"] == after.headers["x-cache-key"]  # never the flushed generation's entry


def _slow_answer_by_key(request):
    """A provider that takes 0.3 s and refuses the key sk-bad (its own 401, naming the key)."""
    import httpx

    time.sleep(0.3)
    if request.headers.get("authorization") == "Bearer sk-bad":
        return httpx.Response(401, json={"error": {"message": "Incorrect API key provided: sk-bad", "code": "invalid"}})
    return httpx.Response(200, json=chat_answer("fine"))


def test_given_shared_scope_when_a_tenant_with_a_bad_key_leads_then_another_tenant_gets_its_own_answer(
    configure, provider
):
    import respx
    from tests.integration.harness import HandlerClient

    configure(CACHE_TIERS="memory", CACHE_SCOPE="shared")
    answers: dict[str, object] = {}
    leading = threading.Event()  # the bad key's request is at the provider: it leads, whatever the load

    def answer(request):
        if request.headers.get("authorization") == "Bearer sk-bad":
            leading.set()
        return _slow_answer_by_key(request)

    def ask(key: str) -> None:
        answers[key] = HandlerClient(api_key=key).chat("same question, two tenants")

    with respx.mock(base_url=provider.base_url) as mock:
        mock.post("/chat/completions").mock(side_effect=answer)
        leader = threading.Thread(target=ask, args=("sk-bad",))
        leader.start()
        assert leading.wait(60), "the leader never reached the provider"
        ask("sk-good")
        leader.join(60)
    assert answers["sk-bad"].status == 401  # type: ignore[attr-defined]
    good = answers["sk-good"]
    assert good.status == 200 and b"sk-bad" not in good.body  # type: ignore[attr-defined]


def test_given_a_no_store_request_in_flight_when_an_identical_one_arrives_then_that_ones_answer_is_stored(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")
    leader = threading.Thread(
        target=client.chat,
        args=("not kept",),
        kwargs={"model": "fake-slow-400", "headers": {"Cache-Control": "no-store"}},
    )
    leader.start()
    wait_until(lambda: provider.count() >= 1, timeout=60, what="the leader at the provider")
    follower = client.chat("not kept", model="fake-slow-400")
    leader.join(60)
    assert follower.status == 200
    assert client.chat("not kept", model="fake-slow-400").cache == "HIT"  # the follower's own answer was kept
