"""One module per cached API; `for_route` is the engine's and the API layer's lookup.

Chat completions, completions and embeddings still live in engine.py, streaming.py and embeddings.py.
"""

from __future__ import annotations

from llmcache.dialects.base import Dialect
from llmcache.dialects.messages import Messages
from llmcache.dialects.responses import Responses

DIALECTS: dict[str, Dialect] = {dialect.route: dialect for dialect in (Responses(), Messages())}


def for_route(route: str) -> Dialect | None:
    """The dialect of a cached route (the path after /v1/), or None when the route has none of its own."""
    return DIALECTS.get(route)
