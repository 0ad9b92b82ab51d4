"""Under `make run`, streams whose provider went silent do not hold the threads that hits and `/health` need
(issue #22, finding 22.6): streams run on worker threads of their own."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import httpx
from tests.servers import FakeProvider, GatewayProcess, wait_until


def test_given_streams_whose_provider_is_silent_hold_more_than_the_worker_threads_when_health_is_asked_then_it_answers(
    gateway: Callable[..., GatewayProcess], fake_provider: FakeProvider
) -> None:
    """finding 22.6: three streams wait on a silent provider (4 s before its first byte) in a gateway with two
    default worker threads; /health answers while all three are still waiting."""
    gw = gateway(env={"LLMCACHE_WORKER_THREADS": "2"}, name="gateway-two-threads")
    before = fake_provider.count()
    finished: list[int] = []

    def silent_stream() -> None:
        body = {
            "model": "fake-slow-4000",
            "messages": [{"role": "user", "content": f"hi [{uuid.uuid4().hex[:8]}]"}],
            "stream": True,
        }
        answer = httpx.post(
            f"{gw.api_base}/chat/completions", json=body, headers={"Authorization": "Bearer sk-e2e"}, timeout=60
        )
        finished.append(answer.status_code)

    streams = [threading.Thread(target=silent_stream) for _ in range(3)]
    for stream in streams:
        stream.start()
    try:
        wait_until(lambda: fake_provider.count() - before >= 3, what="three streams reach the provider")

        health = httpx.get(f"{gw.url}/health", timeout=30)
        answered_at = time.time()
    finally:
        for stream in streams:
            stream.join(60)

    assert health.status_code == 200 and finished == [200, 200, 200]
    first_stream_done = min(fake_provider.stats()["stream_ends"][-3:])
    assert answered_at < first_stream_done, "/health waited until the provider answered a stream"
