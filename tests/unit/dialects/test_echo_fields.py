"""Echoed request fields are the current request's on a hit (issue #22, finding 22.4)."""

from __future__ import annotations

import json

from llmcache.dialects.echo import EchoFields

ECHO = EchoFields({"metadata": {}, "user": None, "safety_identifier": None})
STORED = {"id": "resp_1", "object": "response", "metadata": {}, "user": None, "output": [{"role": "user"}]}


def test_given_an_answer_with_a_callers_values_when_stored_then_they_are_blanked() -> None:
    answer = {**STORED, "metadata": {"email": "a@example.com"}, "user": "u-1"}

    assert ECHO.stored_form(answer) == STORED
    assert ECHO.stored_form(STORED) is None  # only defaults: stored as it came, not re-serialized


def test_given_a_request_with_its_own_values_when_a_hit_is_served_then_the_answer_carries_them() -> None:
    """finding 22.4"""
    body = {"metadata": {"order": "42"}, "safety_identifier": "sid-2"}

    served = json.loads(ECHO.hit_bytes(json.dumps(STORED).encode(), body))

    assert served["metadata"] == {"order": "42"} and "safety_identifier" not in served  # this answer echoes none
    assert served["user"] is None


def test_given_a_request_without_values_when_a_clean_entry_is_hit_then_the_stored_bytes_are_served_as_they_are():
    """finding 22.4: no cost on the hit path when nothing is echoed (the same bytes object comes back)."""
    raw = json.dumps(STORED, indent=2).encode()  # a provider's pretty-printed bytes

    assert ECHO.hit_bytes(raw, {"model": "m"}) is raw


def test_given_the_key_version_when_read_then_entries_stored_before_echoed_fields_were_blanked_are_unreachable():
    """finding 22.4: entries of the previous key version may hold another caller's values."""
    from llmcache import keys

    assert keys.KEY_VERSION == "v2"
