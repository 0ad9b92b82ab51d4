"""/v1/embeddings: never streamed; answered per input by `llmcache.embeddings`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmcache.dialects import Dialect

if TYPE_CHECKING:
    from llmcache.engine import Engine
    from llmcache.exchange import ClientRequest, GatewayResponse
    from llmcache.policy import Controls


class Embeddings(Dialect):
    route = "embeddings"
    required = ("model", "input")
    own_path = True

    def answer(self, engine: Engine, request: ClientRequest, controls: Controls) -> GatewayResponse:
        from llmcache.embeddings import handle_embeddings

        return handle_embeddings(engine, request, controls)
