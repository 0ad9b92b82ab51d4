"""Which vector index a deployment uses (`SEMANTIC_INDEX`), built from settings.

    qdrant  the server at QDRANT_URL (its API key given directly or read from Secrets Manager at
            QDRANT_API_KEY_SECRET_ARN), embedded Qdrant on disk at QDRANT_PATH, or, with neither, the
            in-process exact index (numpy; what `make run` and a single container use)
    valkey  Valkey/Redis vector search at SEMANTIC_REDIS_URL, else REDIS_URL (its auth token read from
            Secrets Manager at SEMANTIC_REDIS_AUTH_SECRET_ARN)

Secrets are read on first use, not here: an unreadable secret makes a plain miss, never a failed start.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmcache.semantic.types import VectorIndex

if TYPE_CHECKING:
    from llmcache.settings import Settings

# (value given directly, secret ARN, what it is for the error message) -> a reader of the secret
SecretReader = Callable[[str | None, str | None, str], Callable[[], str | None]]


def _given(value: str | None, secret_arn: str | None, what: str) -> Callable[[], str | None]:
    return lambda: value


def index_kind(settings: Settings) -> str:
    """Which index `build_index` makes, in words (the `make run` banner)."""
    if settings.semantic_index == "valkey":
        return "valkey"
    if settings.qdrant_url:
        return "qdrant server"
    return "qdrant on disk" if settings.qdrant_path else "in-process (exact)"


def build_index(settings: Settings, read_secret: SecretReader | None = None) -> VectorIndex:
    reader = read_secret or _given
    if settings.semantic_index == "valkey":
        from llmcache.semantic.valkey_index import ValkeyIndex

        assert settings.semantic_redis_url is not None  # settings.py refuses valkey without a URL
        return ValkeyIndex(
            settings.semantic_redis_url,
            password=reader(None, settings.semantic_redis_auth_secret_arn, "Valkey auth token"),
            timeout=settings.semantic_timeout,
        )
    if not settings.qdrant_url and not settings.qdrant_path:
        from llmcache.semantic.exact_index import ExactIndex

        return ExactIndex()
    from llmcache.semantic.index import QdrantIndex

    return QdrantIndex(
        url=settings.qdrant_url,
        api_key=reader(settings.qdrant_api_key, settings.qdrant_api_key_secret_arn, "Qdrant API key"),
        path=settings.qdrant_path,
        timeout=max(1, math.ceil(settings.semantic_timeout)),  # qdrant-client takes whole seconds
    )
