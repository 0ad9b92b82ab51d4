"""Which headers cross the gateway on a passed-on path, each way: allowlists, as on the cached routes.

Up: what the provider needs to read the call (content type and encoding, accept, idempotency) and the headers
that select its answer (the ones the cached routes key and send). Never the client's cookies, its address
(`Forwarded`, `X-Real-IP`, `X-Forwarded-*`), our controls or what API Gateway adds; the credential is set by the
upstream itself. In managed mode `OpenAI-Organization` and `OpenAI-Project` stay here too: beside the gateway's key
they would pick among the operator's organizations and projects, and bill another one.

Down: the provider's content headers, request id and retry advice only. Never its cookies, CORS, `Location` (a
redirect names the provider's host), `openai-organization` (the operator's), `x-ratelimit-*` (the shared
account's usage, a side channel between tenants) or an `x-cache` of its own: the gateway's `X-Cache` is the only one.

Either way, a header the message's `Connection` names is hop-by-hop (RFC 9110 7.6.1) and is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmcache.dialects.messages import ANSWER_HEADERS as ANTHROPIC_ANSWER_HEADERS
from llmcache.dialects.openai import ACCOUNT_HEADERS
from llmcache.dialects.openai import ANSWER_HEADERS as OPENAI_ANSWER_HEADERS

UP = frozenset(
    {
        "content-type",
        "content-encoding",
        "accept",
        "accept-language",
        "idempotency-key",
        *OPENAI_ANSWER_HEADERS,
        *ANTHROPIC_ANSWER_HEADERS,
    }
)
# Beside the gateway's own key they would choose the operator's organization or project.
NOT_UP_WHEN_MANAGED = ACCOUNT_HEADERS
DOWN = frozenset(
    {
        "content-type",
        "content-disposition",  # a file's content, downloaded
        "x-request-id",  # OpenAI's request id, what its support asks for
        "request-id",  # Anthropic's
        "openai-processing-ms",
        "openai-model",
        "retry-after",
        "retry-after-ms",
        "x-should-retry",  # the openai SDK's retry advice
    }
)


def up(headers: Mapping[str, str], *, managed: bool) -> dict[str, str]:
    """The client's headers (lower-case names) that go to the provider."""
    dropped = _nominated(headers) | (NOT_UP_WHEN_MANAGED if managed else frozenset())
    return {name: value for name, value in headers.items() if name in UP and name not in dropped}


def down(headers: Mapping[str, str]) -> dict[str, str]:
    """The provider's headers that reach the client (names lower-cased)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    dropped = _nominated(lowered)
    return {name: value for name, value in lowered.items() if name in DOWN and name not in dropped}


def _nominated(headers: Mapping[str, str]) -> frozenset[str]:
    """The names a `Connection` header lists: they describe that one connection, not the message."""
    value = headers.get("connection")
    if not value:
        return frozenset()
    return frozenset(token.strip().lower() for token in value.split(",") if token.strip())
