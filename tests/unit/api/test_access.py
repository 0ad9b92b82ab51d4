"""Managed mode: provider objects are never shared by accident (issue #22, finding 22.1)."""

from __future__ import annotations

import json

import pytest

from llmcache.api.access import Allowlist, check_body, check_path, is_key
from llmcache.errors import Forbidden

DEFAULT = Allowlist.of(())


def never_admin() -> bool:
    return False


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/gpt-4o-mini"),
        ("POST", "/v1/moderations"),
        ("POST", "/v1/messages/count_tokens"),
        ("POST", "/v1/responses/input_tokens"),
    ],
)
def test_given_the_default_list_when_a_stateless_call_is_checked_then_it_passes(method: str, path: str) -> None:
    """finding 22.1: the stateless calls are passed on with the managed key."""
    check_path(DEFAULT, method, path, never_admin)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/files"),
        ("GET", "/v1/files/file-abc/content"),
        ("DELETE", "/v1/files/file-abc"),
        ("GET", "/v1/chat/completions"),
        ("POST", "/v1/fine_tuning/jobs"),
        ("GET", "/v1/messages/batches"),
        ("DELETE", "/v1/models/ft:gpt-4o-mini:org::x"),
        ("POST", "/v1/images/generations"),
        ("POST", "/v1/audio/speech"),
        ("GET", "/v1/responses/resp_123"),
    ],
)
def test_given_the_default_list_when_a_stateful_or_billed_call_is_checked_then_403_saying_why(method, path) -> None:
    """finding 22.1: files, stored completions, fine-tunes, batches, stored responses, media: refused."""
    with pytest.raises(Forbidden) as refused:
        check_path(DEFAULT, method, path, never_admin)

    assert refused.value.status == 403 and refused.value.code == "provider_path_not_allowed"
    assert "PASSTHROUGH_ALLOW" in refused.value.message and path in refused.value.message


def test_given_the_operator_widened_the_list_when_those_calls_are_checked_then_they_pass() -> None:
    """finding 22.1: PASSTHROUGH_ALLOW adds entries; `*` stands for one segment, and the method must match."""
    widened = Allowlist.of(("POST /v1/images/generations", "GET /v1/files/*"))

    check_path(widened, "POST", "/v1/images/generations", never_admin)
    check_path(widened, "GET", "/v1/files/file-abc", never_admin)
    with pytest.raises(Forbidden):
        check_path(widened, "DELETE", "/v1/files/file-abc", never_admin)
    with pytest.raises(Forbidden):
        check_path(widened, "GET", "/v1/files/file-abc/content", never_admin)


def test_given_allow_all_or_the_admin_key_when_any_call_is_checked_then_it_passes() -> None:
    """finding 22.1: `*` (one tenant) allows every path; the admin key reaches everything."""
    check_path(Allowlist.of(("*",)), "DELETE", "/v1/files/file-abc", never_admin)
    check_path(DEFAULT, "DELETE", "/v1/files/file-abc", lambda: True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "m", "input": "hi", "previous_response_id": "resp_1"}, "previous_response_id"),
        ({"model": "m", "input": "hi", "conversation": {"id": "conv_1"}}, "conversation"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]},
            "file_id",
        ),
        ({"model": "m", "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "vector_store_ids"),
        ({"model": "m", "tools": [{"type": "code_interpreter", "container": "cntr_1"}]}, "container"),
        ({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}, "input[].id"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f-1"}}]}]},
            "file_id",
        ),
        ({"model": "m", "max_tokens": 9, "messages": [], "container": "container_1"}, "container"),
    ],
)
def test_given_a_body_naming_a_provider_object_when_checked_in_managed_mode_then_403_naming_the_field(body, field):
    """finding 22.1: cached-route bodies follow the same rule as the paths that would read those objects."""
    with pytest.raises(Forbidden) as refused:
        check_body(DEFAULT, json.dumps(body).encode(), lambda: body, never_admin)

    assert refused.value.param == field and refused.value.code == "provider_object_not_allowed"


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "input": "hi", "previous_response_id": None},
        {"model": "m", "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]},
        {"model": "m", "input": "what is a file_id?"},
        {"model": "m", "container": {"skills": [{"type": "anthropic", "skill_id": "pptx"}]}},
    ],
)
def test_given_a_body_naming_no_caller_object_when_checked_then_it_passes(body) -> None:
    """finding 22.1: a null, a container the provider creates, Anthropic's own skills, or text are no object."""
    check_body(DEFAULT, json.dumps(body).encode(), lambda: body, never_admin)


def test_given_reading_files_is_allowed_when_a_body_names_a_file_then_it_passes() -> None:
    body = {"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]}

    check_body(Allowlist.of(("GET /v1/files/*",)), json.dumps(body).encode(), lambda: body, never_admin)


def test_given_two_keys_when_compared_then_only_equal_present_keys_match() -> None:
    assert is_key("admin-1", "admin-1") and not is_key("admin-1", "admin-2")
    assert not is_key(None, "admin-1") and not is_key("admin-1", None)
