"""Every other path under /v1/ (models, files, moderations, audio, images, batches, `/v1/messages/count_tokens`,
`/v1/responses/{id}`, ...): passed on to its provider uncached, as the client sent it, the answer relayed as it
arrives, with `X-Cache: BYPASS`.

`/v1/messages` and the paths under it go to Anthropic, everything else to the OpenAI-compatible upstream. The
credential is read and passed on as for the cached routes (the managed key in managed mode). The provider's
answer is the client's, whatever it is: only a 5xx counts as an upstream error (a 404 for a file that does not
exist is not a provider outage).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

from llmcache.constants import HEADER_CACHE, Metric
from llmcache.dialects.base import Dialect
from llmcache.dialects.registry import dialect_for
from llmcache.exchange import BodyStream, GatewayResponse
from llmcache.observability import record

if TYPE_CHECKING:
    from llmcache.errors import GatewayError
    from llmcache.upstream import Upstream

V1 = "/v1/"
ANTHROPIC_PATH = "/v1/messages"


def is_anthropic(path: str) -> bool:
    """`/v1/messages` and what is under it (also spelled without /v1, as the client routes are)."""
    return path.removeprefix("/v1").rstrip("/") == "/messages" or path.startswith(f"{ANTHROPIC_PATH}/")


def dialect_of_path(path: str) -> Dialect:
    """The dialect whose credential and error envelope a path uses: Anthropic's for its paths, else OpenAI's."""
    return dialect_for("messages") if is_anthropic(path) else dialect_for("chat/completions")


def pass_on(
    upstream: Upstream,
    method: str,
    path: str,
    query: str,
    body: bytes,
    headers: dict[str, str],
    credential: str | None,
    deadline: float | None,
) -> GatewayResponse:
    """The provider's answer to the request as sent (to `upstream`, the provider of `dialect_of_path(path)`);
    its body is relayed piece by piece as it arrives."""
    record(Metric.CACHE_BYPASS)
    started = time.perf_counter()
    resources = ExitStack()
    try:
        head, chunks = resources.enter_context(
            upstream.relay(method, path.removeprefix(V1), query, body, headers, credential, deadline=deadline)
        )
    except BaseException:
        resources.close()
        raise
    record(Metric.UPSTREAM_LATENCY, (time.perf_counter() - started) * 1000)
    if head.status >= 500:
        record(Metric.UPSTREAM_ERROR)
    relayed = {name: value for name, value in head.headers.items() if name != "content-type"}
    relayed[HEADER_CACHE] = "BYPASS"
    return GatewayResponse(head.status, b"", head.content_type, relayed, BodyStream(chunks, resources, _cut_short))


def _cut_short(_: GatewayError) -> bytes:
    # A body of any format broke after its status was sent: nothing can be appended that its client would parse.
    return b""
