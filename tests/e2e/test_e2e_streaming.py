"""Issue 13 through the real local gateway (uvicorn, as `make run`) and the openai SDK: a streamed miss
reaches the client as the provider writes it; a stream that breaks raises in the SDK and is not stored; a
client that goes away cancels the provider call and stores nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import openai
import pytest
from tests.e2e.clients import chat_body, sdk
from tests.servers import FakeProvider, GatewayProcess

CHAT = "POST /v1/chat/completions"
PAUSE_MS = 150  # the slow provider's pause between events: a model writing one token at a time


def _first_content_and_end(stream: openai.Stream, text_of: Callable[[object], str]) -> tuple[float, float, str]:
    """When (time.time()) the first non-empty text arrived, when the stream ended, and the whole text."""
    first, text = None, ""
    for chunk in stream:
        piece = text_of(chunk)
        if piece and first is None:
            first = time.time()
        text += piece
    assert first is not None, "no content arrived"
    return first, time.time(), text


@pytest.mark.parametrize("route", ["chat/completions", "completions"])
def test_given_a_slow_provider_when_a_miss_is_streamed_then_the_first_token_arrives_before_the_provider_finished(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str, route: str
) -> None:
    client = sdk(gw)
    model = f"fake-slowstream-{PAUSE_MS}"
    ends_before = len(fake_provider.stats()["stream_ends"])
    if route == "chat/completions":
        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], stream=True
        )
        first, end, text = _first_content_and_end(
            stream, lambda c: c.choices[0].delta.content or "" if c.choices else ""
        )
    else:
        stream = client.completions.create(model=model, prompt=prompt, stream=True)
        first, end, text = _first_content_and_end(stream, lambda c: c.choices[0].text if c.choices else "")

    provider_finished = fake_provider.stats()["stream_ends"][ends_before]
    assert prompt in text  # the whole answer came through
    # The provider needs at least a pause per remaining event after the first token; the relay did not wait.
    assert first < provider_finished - PAUSE_MS / 1000
    assert end >= provider_finished


def test_given_a_streamed_miss_when_asked_again_then_the_hit_replays_it_at_once(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    client = sdk(gw)
    messages = [{"role": "user", "content": prompt}]
    model = f"fake-slowstream-{PAUSE_MS}"
    relayed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model=model, messages=messages, stream=True) if c.choices)  # fmt: skip
    before = fake_provider.count(CHAT)
    replay = client.chat.completions.with_raw_response.create(model=model, messages=messages, stream=True)
    assert replay.headers["x-cache"] == "HIT"
    assert "".join(c.choices[0].delta.content or "" for c in replay.parse() if c.choices) == relayed
    assert fake_provider.count(CHAT) == before


def test_given_a_provider_stream_that_breaks_midway_when_streamed_then_the_sdk_raises_and_nothing_is_stored(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    client = sdk(gw)
    messages = [{"role": "user", "content": prompt}]
    before = fake_provider.count(CHAT)
    received = ""
    with pytest.raises(openai.APIError, match="stream broke"):
        for chunk in client.chat.completions.create(model="fake-broken-stream", messages=messages, stream=True):
            received += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert received  # the first half was relayed before the provider broke off
    with pytest.raises(openai.InternalServerError, match="stream broke"):  # asked again plainly: not stored, a 502
        client.chat.completions.create(model="fake-broken-stream", messages=messages)
    assert fake_provider.count(CHAT) == before + 2


def test_given_a_client_that_goes_away_mid_stream_when_streamed_then_the_provider_call_is_closed_and_not_stored(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    body = chat_body(prompt, model="fake-slowstream-300", stream=True)
    headers = {"Authorization": "Bearer sk-tenant-a"}
    ends_before = len(fake_provider.stats()["stream_ends"])
    before = fake_provider.count(CHAT)
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30) as response:
        assert response.headers["x-cache"] == "MISS"
        next(response.iter_lines())  # the first event, then the client hangs up
    # The whole answer takes the provider ~3 s (11 events, 300 ms apart); the gateway cut it off instead.
    time.sleep(4)
    assert len(fake_provider.stats()["stream_ends"]) == ends_before
    again = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert again.headers["x-cache"] == "MISS"
    assert fake_provider.count(CHAT) == before + 2
