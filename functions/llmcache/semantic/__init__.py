"""Semantic matching: near-duplicate prompts answered from the cache, guarded by a verifier.

Import-light on purpose (Lambda cold start): nothing here imports numpy, torch or qdrant-client;
the heavy modules load inside `build_semantic_matcher`, and only when `SEMANTIC_MODE=on`.

    matcher = build_semantic_matcher(settings, upstream_embed=...)   # None when semantic_mode == "off"
    hit = matcher.lookup(partition, last_user_text, threshold, now)  # SemanticCandidate | None
    outcome = matcher.consult(partition, last_user_text, threshold, now)  # the same, with why (debug header)
    matcher.remember(partition, last_user_text, key, expires_at)
    matcher.forget(key)

Every failure below surfaces as `SemanticUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from llmcache.semantic.errors import SemanticUnavailable
from llmcache.semantic.types import SemanticCandidate, SemanticMatcher, SemanticOutcome

if TYPE_CHECKING:
    from llmcache.settings import Settings

UpstreamEmbed = Callable[[list[str], str], Sequence[Sequence[float]]]

__all__ = [
    "SemanticCandidate",
    "SemanticMatcher",
    "SemanticOutcome",
    "SemanticUnavailable",
    "UpstreamEmbed",
    "build_semantic_matcher",
]


def build_semantic_matcher(
    settings: Settings, upstream_embed: UpstreamEmbed | None = None, **overrides: Any
) -> SemanticMatcher | None:
    """The configured matcher, or None when semantic matching is off.

    `upstream_embed(texts, model)` calls the provider's /v1/embeddings (SEMANTIC_EMBEDDER=upstream).
    `overrides` (embedder=, index=, verifier=) are for tests and the evaluation.
    """
    if settings.semantic_mode != "on":
        return None
    from llmcache.semantic.matcher import build_from_settings

    return build_from_settings(settings, upstream_embed=upstream_embed, **overrides)
