"""Managed mode: no caller acts on shared provider objects with the operator's key (issue #22, finding 22.1).

Through both entry points (the Lambda handler and the ASGI app), against the fake provider."""

from __future__ import annotations

import uuid

from tests.integration.harness import HandlerClient

MANAGED = {"UPSTREAM_API_KEY": "sk-operator-openai", "ANTHROPIC_API_KEY": "sk-ant-operator"}
ANTHROPIC = {"anthropic-version": "2023-06-01"}
ADMIN = "admin-secret"  # the integration fixture's ADMIN_API_KEY


def question() -> str:
    return f"What is in my file? [{uuid.uuid4().hex[:8]}]"


def test_given_managed_mode_when_a_tenant_lists_files_then_403_in_openais_envelope_and_the_provider_is_not_asked(
    configure, client: HandlerClient, provider
):
    """finding 22.1: tenant B cannot list, read or delete tenant A's files with the operator's key."""
    configure(CACHE_TIERS="memory", **MANAGED)

    listed = client.call("GET", "/v1/files")
    deleted = client.call("DELETE", "/v1/files/file-of-tenant-a")
    stored = client.call("GET", "/v1/chat/completions?limit=100")

    for answer in (listed, deleted, stored):
        assert answer.status == 403, answer.body
        error = answer.json()["error"]
        assert error["code"] == "provider_path_not_allowed" and "PASSTHROUGH_ALLOW" in error["message"]
    assert provider.stats()["total"] == 0


def test_given_managed_anthropic_when_batches_are_listed_then_403_in_anthropics_envelope(configure, client, provider):
    """finding 22.1: `GET /v1/messages/batches` never goes out with the managed Anthropic key."""
    configure(CACHE_TIERS="memory", **MANAGED)

    answer = client.call("GET", "/v1/messages/batches", headers={**ANTHROPIC, "x-api-key": "tenant-b"}, api_key=None)

    assert answer.status == 403, answer.body
    assert answer.json()["type"] == "error" and answer.json()["error"]["type"] == "permission_error"
    assert provider.stats()["total"] == 0


def test_given_managed_mode_when_a_stateless_call_is_made_then_it_goes_up_with_the_operators_key(
    configure, client, provider
):
    """finding 22.1: listing models, moderations and token counting stay open."""
    configure(CACHE_TIERS="memory", **MANAGED)

    models = client.call("GET", "/v1/models")
    moderated = client.call("POST", "/v1/moderations", {"input": "hello"})
    counted = client.count_tokens("tenant-b")

    assert (models.status, moderated.status, counted.status) == (200, 200, 200)
    assert provider.requests("GET /v1/models")[-1]["headers"]["authorization"] == "***enai"
    assert provider.requests("POST /v1/messages/count_tokens")[-1]["headers"]["x-api-key"] == "***ator"


def test_given_the_operator_widened_the_list_when_a_file_is_uploaded_then_it_is_passed_on(configure, client, provider):
    """finding 22.1: PASSTHROUGH_ALLOW widens the list per environment."""
    configure(CACHE_TIERS="memory", PASSTHROUGH_ALLOW="POST /v1/files, GET /v1/files/*", **MANAGED)
    boundary = "b-1"
    form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{{}}\r\n'
        f"--{boundary}--\r\n"
    ).encode()

    answer = client.call(
        "POST", "/v1/files", raw=form, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )

    assert answer.status == 200 and answer.cache == "BYPASS", answer.body
    assert client.call("DELETE", "/v1/files/file-1").status == 403  # the method must match too


def test_given_the_admin_key_when_any_path_is_asked_in_managed_mode_then_it_is_passed_on_with_the_managed_key(
    configure, client, provider
):
    """finding 22.1: the admin key may reach everything; it is never what goes up."""
    configure(CACHE_TIERS="memory", **MANAGED)

    answer = client.call("GET", "/v1/files", api_key=ADMIN)

    assert answer.status == 404 and answer.cache == "BYPASS"  # the fake provider's own answer: no such route
    assert provider.requests("GET /v1/files")[-1]["headers"]["authorization"] == "***enai"


def test_given_passthrough_mode_when_a_tenant_lists_files_with_its_own_key_then_it_is_passed_on(
    configure, client, provider
):
    """finding 22.1: in passthrough mode the client's own key goes up: its own account, everything passes."""
    configure(CACHE_TIERS="memory")

    answer = client.call("GET", "/v1/files")

    assert answer.status == 404 and answer.cache == "BYPASS"
    assert provider.requests("GET /v1/files")[-1]["headers"]["authorization"] == "***nt-a"


def test_given_passthrough_mode_when_the_admin_key_is_sent_as_a_provider_key_then_403_and_it_goes_nowhere(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")

    answer = client.call("GET", "/v1/models", api_key=ADMIN)

    assert answer.status == 403 and answer.json()["error"]["code"] == "admin_key_not_forwarded"
    assert provider.stats()["total"] == 0


def test_given_managed_mode_when_a_cached_body_names_provider_objects_then_403_before_any_lookup(
    configure, client, provider
):
    """finding 22.1: `previous_response_id`, `file_id`, `vector_store_ids`, `conversation`, containers."""
    configure(CACHE_TIERS="memory", **MANAGED)
    responses = [
        {"model": "gpt-4.1-mini", "input": question(), "previous_response_id": "resp_of_tenant_a"},
        {"model": "gpt-4.1-mini", "input": question(), "conversation": "conv_of_tenant_a"},
        {
            "model": "gpt-4.1-mini",
            "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-of-tenant-a"}]}],
        },
        {
            "model": "gpt-4.1-mini",
            "input": question(),
            "tools": [{"type": "file_search", "vector_store_ids": ["vs_a"]}],
        },
    ]

    answers = [client.call("POST", "/v1/responses", body) for body in responses]
    container = client.call(
        "POST",
        "/v1/messages",
        {"model": "claude-x", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}], "container": "c_a"},
        headers={**ANTHROPIC, "x-api-key": "tenant-b"},
        api_key=None,
    )

    assert [a.status for a in answers] == [403] * 4
    assert {a.json()["error"]["code"] for a in answers} == {"provider_object_not_allowed"}
    assert container.status == 403 and container.json()["error"]["type"] == "permission_error"
    assert provider.stats()["total"] == 0


def test_given_passthrough_mode_when_a_body_names_the_callers_own_objects_then_it_is_answered(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")
    body = {"model": "gpt-4.1-mini", "input": question(), "previous_response_id": "resp_own"}

    answer = client.call("POST", "/v1/responses", body)

    assert answer.status == 200, answer.body
    assert provider.requests("POST /v1/responses")[-1]["body"]["previous_response_id"] == "resp_own"
