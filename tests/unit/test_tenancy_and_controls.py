"""What separates entries: the custom key's join, control characters refused in controls and admin names, and
the tenant of a deployed passthrough (API key id and provider credential)."""

from __future__ import annotations

import pytest
from tests.unit.engine.fakes import embedding_answer, make_engine

from llmcache import keys, policy
from llmcache.dialects.openai import ANSWER_HEADERS
from llmcache.errors import BadRequest


# ----- 8. the custom-key join is unambiguous; no control characters in custom keys and namespaces -------------
def test_given_a_custom_key_that_spells_a_header_context_when_keyed_then_it_differs_from_that_header_entry() -> None:
    context = keys.header_context({"openai-organization": "org-victim"}, ANSWER_HEADERS)
    common = {"tenant": "", "namespace": "default", "generation": "0.0", "route": "chat/completions", "canonical": {}}

    with_header = keys.request_key(custom_key="x", context=context, **common)  # type: ignore[arg-type]
    spelled = keys.request_key(custom_key=f"x\n{context}", context="", **common)  # type: ignore[arg-type]

    assert with_header != spelled


@pytest.mark.parametrize(
    "cache",
    [{"cache_key": "x\n{}"}, {"cache_key": "x\x00"}, {"namespace": "team-a\n"}, {"namespace": "team\x7f"}],
)
def test_given_a_control_character_in_a_custom_key_or_namespace_when_parsed_then_400(cache: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        policy.parse_controls({}, cache)


def test_given_a_namespace_or_entry_key_with_a_trailing_newline_when_an_admin_route_gets_it_then_refused() -> None:
    from llmcache.engine.admin import Admin
    from llmcache.errors import NotFound

    admin = Admin(make_engine(embedding_answer)[0].services, lambda: "admin-key")

    with pytest.raises(BadRequest):
        admin.flush({"namespace": "team-a\n"})
    with pytest.raises(NotFound):
        admin.entry("a" * 64 + "\n")


# ----- 11. deployed passthrough: tenant = API key id and provider credential ----------------------------------
def test_given_one_api_key_and_two_provider_keys_when_passthrough_then_two_tenants() -> None:
    first = keys.tenant_id("sk-one", "apikey-1", passthrough=True)
    second = keys.tenant_id("sk-two", "apikey-1", passthrough=True)
    assert first != second
    assert keys.tenant_id("sk-one", "apikey-1", passthrough=True) == first


def test_given_one_api_key_and_two_provider_keys_when_managed_then_one_tenant() -> None:
    assert keys.tenant_id("sk-one", "apikey-1", passthrough=False) == keys.tenant_id(
        "sk-two", "apikey-1", passthrough=False
    )
