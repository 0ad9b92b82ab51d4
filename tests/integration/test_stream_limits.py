"""Streams cannot pin the gateway (issue #22, finding 22.6): a cap on each tenant's concurrent streams, a stream
that ends without its final event ends in the API's error event (and is never stored), and a client that stops
reading is let go. Through both entry points; the ASGI door is also called with a `send` that never completes."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import anyio
import pytest

from llmcache.dialects.sse import iter_sse_events

ANTHROPIC = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-tenant-a"}


def question() -> str:
    return f"Tell me a story [{uuid.uuid4().hex[:8]}]"


@pytest.mark.parametrize(
    ("path", "body", "headers", "error_type"),
    [
        ("/v1/responses", {"model": "fake-stream-no-finish", "stream": True}, {}, "error"),
        ("/v1/messages", {"model": "fake-stream-no-finish", "max_tokens": 64, "stream": True}, ANTHROPIC, "error"),
    ],
)
def test_given_a_stream_that_ends_cleanly_without_its_final_event_when_relayed_then_it_ends_in_the_apis_error_event(
    configure, client, provider, path, body, headers, error_type
):
    """finding 22.6: `response.completed` / `message_stop` never came: the SDK must not take it for a whole answer,
    and nothing is stored (the second call asks the provider again)."""
    configure(CACHE_TIERS="memory")
    text = question()
    body = {
        **body,
        **({"input": text} if path == "/v1/responses" else {"messages": [{"role": "user", "content": text}]}),
    }
    api_key = None if headers else "default"

    first = client.call("POST", path, body, headers=headers, api_key=api_key)
    second = client.call("POST", path, body, headers=headers, api_key=api_key)

    assert first.status == 200 and first.cache == "MISS", first.body
    last = list(iter_sse_events([first.body]))[-1]
    assert last.name == error_type and json.loads(last.data)["type"] == "error"
    assert second.cache == "MISS" and provider.count(f"POST {path}") == 2


def test_given_a_tenant_at_its_stream_cap_when_it_opens_another_then_429_in_the_apis_envelope_and_others_are_served(
    configure, client, provider
):
    """finding 22.6: MAX_STREAMS_PER_TENANT, checked before the provider is asked."""
    configure(CACHE_TIERS="memory", MAX_STREAMS_PER_TENANT="1")
    slow = {"model": "fake-slowstream-700", "messages": [{"role": "user", "content": question()}], "stream": True}
    held: list[Any] = []
    opener = threading.Thread(target=lambda: held.append(client.call("POST", "/v1/chat/completions", slow)))
    opener.start()
    try:
        _wait_for(lambda: provider.count("POST /v1/chat/completions") == 1)

        refused = client.call("POST", "/v1/chat/completions", {**slow, "model": "gpt-4o-mini"})
        refused_passed_on = client.call("GET", "/v1/models")
        other = client.call("POST", "/v1/chat/completions", {**slow, "model": "gpt-4o-mini"}, api_key="sk-tenant-b")
        anthropic = client.count_tokens("sk-ant-tenant-c")
        still_open = opener.is_alive()
    finally:
        opener.join(60)

    assert still_open, "the first stream ended before the cap was tried; slow the fake stream down"
    assert refused.status == 429 and refused.json()["error"]["code"] == "too_many_streams"
    assert refused_passed_on.status == 429
    assert (other.status, anthropic.status, held[0].status) == (200, 200, 200)
    after = client.call("GET", "/v1/models")  # the slot came free when the stream ended
    assert after.status == 200


def test_given_a_client_that_stops_reading_when_its_stream_is_relayed_then_the_asgi_door_lets_it_go(
    configure, provider, monkeypatch
):
    """finding 22.6: a write that does not complete in time ends the relay (the provider call is closed, the
    tenant's stream slot released), instead of holding them for as long as the client likes."""
    from llmcache import wiring
    from llmcache.api import live_guards
    from llmcache.api.stream_limits import tenant_streams
    from llmcache.asgi import app

    configure(CACHE_TIERS="memory", MAX_STREAMS_PER_TENANT="1")
    monkeypatch.setattr(live_guards, "WRITE_SECONDS", 0.2)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question()}], "stream": True})
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer sk-tenant-a"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
    }
    requests = iter([{"type": "http.request", "body": body.encode(), "more_body": False}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        message = next(requests, None)
        if message is None:
            await anyio.sleep_forever()  # the client never goes away: it just stops reading
        return message  # type: ignore[return-value]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            await anyio.sleep_forever()  # the first piece is never read

    async def run() -> None:
        with anyio.fail_after(30):  # a hung relay fails the test instead of hanging it
            await app(scope, receive, send)

    anyio.run(run)

    assert sent[0]["status"] == 200 and len(sent) == 2  # the head, then the one write that never completed
    assert tenant_streams(wiring.settings()).held("any") == 0
    tenant_slots = tenant_streams(wiring.settings())._held  # every slot released
    assert tenant_slots == {}


def _wait_for(condition: Any, seconds: float = 30.0) -> None:
    import time

    until = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > until:
            raise AssertionError("the condition never held")
        time.sleep(0.02)
