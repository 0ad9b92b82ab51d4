"""The provider table: each call to the provider its credential was made for (issue #22, finding 22.3)."""

from __future__ import annotations

import pytest

from llmcache.api.providers import Signals, build_table
from llmcache.errors import Unauthorized
from llmcache.settings import Settings

TABLE = build_table(Settings())


@pytest.mark.parametrize(
    ("path", "headers", "credential"),
    [
        ("/v1/models", {"anthropic-version": "2023-06-01", "x-api-key": "k-1"}, "k-1"),  # anthropic models.list()
        ("/v1/files", {"anthropic-beta": "files-api-2025-04-14", "x-api-key": "k-1"}, "k-1"),  # beta.files
        ("/v1/models", {"x-api-key": "k-1"}, "k-1"),
        ("/v1/models", {"authorization": "Bearer sk-ant-api03-x"}, "sk-ant-api03-x"),
        ("/v1/messages/batches", {"authorization": "Bearer tok"}, "tok"),
    ],
)
def test_given_what_an_anthropic_client_sends_when_routed_then_anthropic_answers(path, headers, credential) -> None:
    """finding 22.3: headers, key header or key shape choose Anthropic, not the path alone."""
    assert TABLE.for_request(Signals(path, headers, credential)).name == "anthropic"


@pytest.mark.parametrize(
    ("headers", "api_gateway_key"),
    [({"authorization": "Bearer sk-proj-abc"}, False), ({"x-api-key": "apigw-key"}, True)],
)
def test_given_an_openai_client_when_routed_then_the_openai_compatible_upstream_answers(headers, api_gateway_key):
    """finding 22.3: API Gateway's own `x-api-key` (deployed with API keys) says nothing of the provider."""
    credential = headers.get("authorization", "").removeprefix("Bearer ") or None

    chosen = TABLE.for_request(Signals("/v1/models", headers, credential, api_gateway_key=api_gateway_key))

    assert chosen.name == "openai"


@pytest.mark.parametrize(("provider", "credential"), [("openai", "sk-ant-api03-x"), ("anthropic", "sk-proj-abc")])
def test_given_a_key_made_for_another_provider_when_passed_through_then_401_and_it_goes_nowhere(provider, credential):
    """finding 22.3: a credential is never sent to a provider it was not made for."""
    with pytest.raises(Unauthorized, match="never sends a key to a provider it was not made for"):
        TABLE.check_credential(TABLE.named(provider), credential)


def test_given_managed_mode_when_a_foreign_key_is_sent_then_it_is_kept_here_and_not_refused() -> None:
    """finding 22.3: in managed mode the gateway's key goes up, the client's never leaves."""
    table = build_table(Settings(upstream_api_key="sk-managed"))

    table.check_credential(table.named("openai"), "sk-ant-api03-x")


def test_given_an_openai_compatible_upstream_on_anthropics_host_when_an_anthropic_key_is_sent_then_it_may_go():
    """finding 22.3: Anthropic's own OpenAI-compatible endpoint is where such a key was made for."""
    table = build_table(Settings(upstream_base_url="https://api.anthropic.com/v1"))

    table.check_credential(table.named("openai"), "sk-ant-api03-x")


def test_given_a_client_path_when_mapped_then_it_lands_under_the_providers_base_path() -> None:
    assert TABLE.named("anthropic").upstream_path("/v1/messages/count_tokens") == "messages/count_tokens"
    assert TABLE.named("openai").base_url == "https://api.openai.com/v1"
