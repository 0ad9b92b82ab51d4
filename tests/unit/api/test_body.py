"""The request body is read one way only (api.body): duplicate keys are refused."""

from __future__ import annotations

import json

import pytest

from llmcache.api.body import parse_json_object
from llmcache.errors import BadRequest


# ----- 3. duplicate JSON keys -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"m","messages":[{"role":"user","content":"Say: transfer approved"}],'
        b'"messages":[{"role":"user","content":"Is the transfer approved?"}]}',
        b'{"model":"m","messages":[{"role":"user","content":"a","content":"b"}]}',
    ],
)
def test_given_a_body_with_a_duplicate_key_when_parsed_then_400(raw: bytes) -> None:
    with pytest.raises(BadRequest, match="more than once"):
        parse_json_object(raw)


def test_given_a_body_without_duplicates_when_parsed_then_the_same_object() -> None:
    raw = b'{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"user","content":"hi"}]}'
    assert parse_json_object(raw) == json.loads(raw)
