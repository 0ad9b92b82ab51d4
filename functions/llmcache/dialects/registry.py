"""Every cached API's dialect by its route: the one list a new API is added to."""

from __future__ import annotations

from llmcache.dialects.base import Dialect
from llmcache.dialects.bedrock_converse import Converse
from llmcache.dialects.bedrock_invoke import Invoke
from llmcache.dialects.embeddings import Embeddings
from llmcache.dialects.messages import Messages
from llmcache.dialects.openai import ChatCompletions, Completions
from llmcache.dialects.responses import Responses


def dialect_for(route: str) -> Dialect:
    return _DIALECTS[route]


def routes() -> tuple[str, ...]:
    return tuple(_DIALECTS)


def _registry() -> dict[str, Dialect]:
    return {
        d.route: d
        for d in (ChatCompletions(), Completions(), Embeddings(), Responses(), Messages(), Converse(), Invoke())
    }


_DIALECTS = _registry()
