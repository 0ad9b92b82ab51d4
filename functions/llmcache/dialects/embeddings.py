"""/v1/embeddings: never streamed; answered per input by `llmcache.engine.per_input`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmcache.dialects.base import Dialect

if TYPE_CHECKING:
    from llmcache.engine.core import Engine
    from llmcache.exchange import ClientRequest, GatewayResponse
    from llmcache.policy import Controls


class Embeddings(Dialect):
    route = "embeddings"
    required = ("model", "input")
    own_path = True

    def answer(self, engine: Engine, request: ClientRequest, controls: Controls) -> GatewayResponse:
        from llmcache.engine.per_input import handle_embeddings

        return handle_embeddings(engine, request, controls)
