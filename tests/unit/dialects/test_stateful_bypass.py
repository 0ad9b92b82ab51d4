"""Stateful calls bypass the cache, each with its reason, and docs/apis.md lists every one (issue #22,
finding 22.5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmcache.dialects.messages import BYPASSED_FIELDS as MESSAGES_BYPASSED
from llmcache.dialects.registry import dialect_for
from llmcache.dialects.responses import BYPASSED_FIELDS as RESPONSES_BYPASSED

RESPONSES = dialect_for("responses")
MESSAGES = dialect_for("messages")


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"background": True}, "background"),
        ({"background": "true"}, "background"),
        ({"background": 1}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"conversation": {"id": "conv_1"}}, "conversation"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"prompt": {"id": "pmpt_1", "version": ""}}, "prompt"),
        ({"background": False}, None),
        ({"background": 0}, None),
        ({"prompt": {"id": "pmpt_1", "version": "2"}}, None),
        ({"conversation": None}, None),
    ],
)
def test_given_a_responses_request_when_checked_then_stateful_ones_bypass_with_their_reason(extra, reason) -> None:
    """finding 22.5: `background` by truthiness, `conversation`, `prompt` without `version`."""
    assert RESPONSES.bypass_reason({"model": "m", "input": "hi", **extra}) == reason


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"container": "container_1"}, "container"),
        ({"container": {"id": "container_1"}}, "container"),
        ({"mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x"}]}, "mcp_servers"),
        ({"mcp_servers": []}, None),
        ({}, None),
    ],
)
def test_given_a_messages_request_when_checked_then_stateful_ones_bypass_with_their_reason(extra, reason) -> None:
    """finding 22.5: Anthropic's `container` and `mcp_servers`."""
    assert MESSAGES.bypass_reason({"model": "m", "max_tokens": 1, "messages": [], **extra}) == reason


def test_given_the_bypass_tables_when_docs_apis_is_read_then_it_lists_every_bypass_of_both_apis() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "apis.md").read_text()
    responses, messages = docs.split("## Anthropic Messages API")
    for section, fields in ((responses, RESPONSES_BYPASSED), (messages, MESSAGES_BYPASSED)):
        never_cached = section.split("never cached (`X-Cache: BYPASS`")[1]
        missing = [name for name in fields if f"| `{name}`" not in never_cached]
        assert not missing, f"docs/apis.md does not list the bypass of {missing}"
