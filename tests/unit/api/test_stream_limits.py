"""Streams cannot pin the gateway: each tenant's concurrent streams are capped (issue #22, finding 22.6)."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from llmcache.api.live_guards import limiter_for
from llmcache.api.stream_limits import TenantStreams, held_while_streaming
from llmcache.errors import TooManyRequests
from llmcache.exchange import BodyStream, GatewayResponse


def streamed() -> GatewayResponse:
    return GatewayResponse(200, b"", "text/event-stream", {}, BodyStream(iter([b"a"]), ExitStack(), lambda e: b""))


def test_given_a_tenant_at_its_cap_when_it_opens_one_more_stream_then_429_and_other_tenants_are_not_held_back():
    """finding 22.6"""
    streams = TenantStreams(limit=2)
    first = held_while_streaming(streams, "a", streamed)
    held_while_streaming(streams, "a", streamed)

    with pytest.raises(TooManyRequests) as refused:
        held_while_streaming(streams, "a", streamed)

    assert refused.value.status == 429 and refused.value.code == "too_many_streams"
    held_while_streaming(streams, "b", streamed)
    assert first.stream is not None
    first.stream.close()
    assert streams.held("a") == 1
    held_while_streaming(streams, "a", streamed)  # a slot came free when the first stream ended


def test_given_a_whole_answer_or_a_failure_when_the_call_returns_then_the_slot_is_released_at_once() -> None:
    streams = TenantStreams(limit=1)
    held_while_streaming(streams, "a", lambda: GatewayResponse(200, b"{}"))

    def failing() -> GatewayResponse:
        raise RuntimeError("provider down")

    with pytest.raises(RuntimeError):
        held_while_streaming(streams, "a", failing)
    assert streams.held("a") == 0


def test_given_requests_when_classified_then_passed_on_ones_and_stream_true_ones_run_on_the_streams_threads() -> None:
    """finding 22.6: hits, plain misses and /health keep the default threads."""
    assert limiter_for("/v1/files", b"") is not None
    assert limiter_for("/v1/chat/completions", b'{"model": "m", "stream" : true}') is not None
    assert limiter_for("/v1/chat/completions", b'{"model": "m", "stream": false}') is None
    assert limiter_for("/health", b"") is None and limiter_for("/cache/stats", b"") is None
