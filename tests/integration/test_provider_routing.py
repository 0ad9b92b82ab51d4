"""Each call to its own provider, chosen by what the client sends, never by the path alone; a credential never
goes to a provider it was not made for (issue #22, finding 22.3). Through both entry points, with Anthropic's
upstream on a fake provider of its own, so that where each request went is plain."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmcache.local.fake_provider import FakeProvider, start_fake_provider

ANTHROPIC_SDK = {"anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def anthropic_upstream() -> Iterator[FakeProvider]:
    fake = start_fake_provider()
    yield fake
    fake.stop()


@pytest.fixture
def routed(configure, anthropic_upstream: FakeProvider):
    anthropic_upstream.reset()

    def apply(**env: str) -> None:
        configure(CACHE_TIERS="memory", ANTHROPIC_BASE_URL=anthropic_upstream.url, **env)

    return apply


def test_given_the_anthropic_sdk_lists_models_when_passed_on_then_anthropic_answers_never_the_openai_upstream(
    routed, client, provider, anthropic_upstream
):
    """finding 22.3: `models.list()` of the anthropic SDK is GET /v1/models with anthropic-version and x-api-key."""
    routed()

    answer = client.call("GET", "/v1/models", headers={**ANTHROPIC_SDK, "x-api-key": "sk-ant-api03-b"}, api_key=None)

    assert answer.status == 200 and answer.json()["data"][0]["type"] == "model", answer.body
    assert provider.stats()["total"] == 0
    sent = anthropic_upstream.requests("GET /v1/models")[-1]["headers"]
    assert sent["x-api-key"] == "***03-b" and "authorization" not in sent


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer sk-ant-api03-b"},  # an Anthropic key as a bearer token
        {"anthropic-beta": "files-api-2025-04-14", "x-api-key": "k-b"},  # beta.files
    ],
)
def test_given_other_anthropic_signals_when_passed_on_then_anthropic_answers(
    routed, client, provider, anthropic_upstream, headers
):
    """finding 22.3"""
    routed()

    answer = client.call("GET", "/v1/files", headers=headers, api_key=None)

    assert answer.cache == "BYPASS" and provider.stats()["total"] == 0
    assert anthropic_upstream.stats()["total"] == 1


def test_given_an_openai_client_when_it_lists_models_then_the_openai_compatible_upstream_answers(
    routed, client, provider, anthropic_upstream
):
    routed()

    answer = client.call("GET", "/v1/models")

    assert answer.status == 200 and answer.json()["object"] == "list"
    assert provider.count("GET /v1/models") == 1 and anthropic_upstream.stats()["total"] == 0


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, {}),
        ("/v1/messages", {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}, None),
    ],
)
def test_given_a_key_made_for_the_other_provider_on_a_cached_route_when_asked_then_401_and_it_goes_nowhere(
    routed, client, provider, anthropic_upstream, path, body, headers
):
    """finding 22.3: an `sk-ant-` key never reaches the OpenAI-compatible upstream, an `sk-proj-` key never
    Anthropic (passthrough mode: the client's key would go up)."""
    routed()
    key = "sk-ant-api03-b" if headers is not None else "sk-proj-tenant-b"
    sent = {"authorization": f"Bearer {key}"} if headers is not None else {**ANTHROPIC_SDK, "x-api-key": key}

    answer = client.call("POST", path, body, headers=sent, api_key=None)

    assert answer.status == 401, answer.body
    assert "never sends a key to a provider it was not made for" in answer.body.decode()
    assert provider.stats()["total"] == 0 and anthropic_upstream.stats()["total"] == 0
