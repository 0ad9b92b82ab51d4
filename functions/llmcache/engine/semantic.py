"""What the semantic index compares, and the partition that everything else must match exactly.

Only the text of the last user message (or a completion's prompt) is compared: each dialect's
`semantic_split` says where that is in its API's request. The partition is a hash of the tenant,
namespace and flush generation, the route, the model, every parameter and all earlier messages
(system prompt and history), so an agent loop or another conversation never replays an answer meant
for a different context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmcache import keys
from llmcache.constants import HEADER_SEMANTIC_REASON, HEADER_SEMANTIC_SCORES

if TYPE_CHECKING:
    from llmcache.dialects.base import Dialect
    from llmcache.semantic.types import SemanticOutcome

# the nearest entry was accepted, but its stored answer is gone or older than the request's max-age
ENTRY_GONE = "entry expired or too old"


@dataclass(frozen=True)
class SemanticQuery:
    partition: str
    text: str


def semantic_query(
    dialect: Dialect[Any],
    canonical: dict[str, Any],
    tenant_scope: str,
    namespace: str,
    generation: str,
    max_chars: int,
    context: str = "",
) -> SemanticQuery | None:
    """None when the request has no text to compare, or more than `max_chars` of it (beyond the embedder's
    window, whatever follows would not count: such prompts are matched exactly only)."""
    split = dialect.semantic_split(canonical)  # the request's canonical form, computed once for its key
    if split is None:
        return None
    text, rest = split
    if not text or not text.strip() or len(text) > max_chars:
        return None
    # `context`: the answer-selecting headers (keys.header_context), part of the partition as of the key
    partition = keys.digest(
        "semantic", tenant_scope, namespace, generation, dialect.route, keys.canonical_json(rest), context
    )
    return SemanticQuery(partition, text)


def debug_headers(outcome: SemanticOutcome | None) -> dict[str, str]:
    """What `X-Cache-Debug: 1` answers about the semantic lookup: the refusal's kind and the scores.

    Only kinds and numbers: never the candidate's text or key. The candidate lives in the caller's own
    partition (tenant, namespace, model, parameters, history), and the engine sends none of this under
    shared scope, so it tells a caller only about what the same credential asked before."""
    if outcome is None or outcome.similarity is None:
        return {}
    scores = f"similarity={outcome.similarity:.4f}"
    if outcome.pair_score is not None:
        scores += f"; pair={outcome.pair_score:.4f}"
    headers = {HEADER_SEMANTIC_SCORES: scores}
    if outcome.reason is not None:
        headers[HEADER_SEMANTIC_REASON] = outcome.reason
    return headers
