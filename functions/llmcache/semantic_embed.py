"""The provider's /v1/embeddings as the semantic embedder, through the gateway's own upstream client.

In passthrough mode the caller's own credential pays for the embedding, as it pays for the answer.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Callable

from llmcache.upstream import Upstream

current_credential: contextvars.ContextVar[str | None] = contextvars.ContextVar("credential", default=None)


def upstream_embedder(upstream: Upstream, timeout: float) -> Callable[[list[str], str], list[list[float]]]:
    """`timeout`: seconds for the whole embedding call; past it the request goes on as a plain miss."""

    def embed(texts: list[str], model: str) -> list[list[float]]:
        body = json.dumps({"model": model, "input": texts, "encoding_format": "float"}).encode()
        deadline = time.monotonic() + timeout
        response = upstream.post("embeddings", body, {}, current_credential.get(), deadline=deadline)
        if response.status >= 400:
            raise RuntimeError(f"embedding request failed with status {response.status}")
        data = sorted(json.loads(response.body)["data"], key=lambda d: d["index"])
        return [list(map(float, d["embedding"])) for d in data]

    return embed
