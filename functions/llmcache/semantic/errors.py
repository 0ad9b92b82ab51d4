"""The one exception the semantic layer raises.

Whatever fails below (the embedding call, the vector index, a missing optional package) surfaces as
`SemanticUnavailable`, so the engine can count one backend error and carry on with a plain miss.
"""

from __future__ import annotations


class SemanticUnavailable(RuntimeError):
    """The embedder or the vector index could not answer; treat the lookup as a miss."""
