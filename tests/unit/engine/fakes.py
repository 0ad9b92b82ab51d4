"""Fakes for the engine's unit tests: a provider that records what it was asked, an engine on one memory tier."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from llmcache import keys
from llmcache.dialects.registry import dialect_for
from llmcache.engine.core import Engine
from llmcache.engine.generations import Generations
from llmcache.engine.services import Services
from llmcache.exchange import ClientRequest, UpstreamResponse
from llmcache.settings import Settings
from llmcache.stores.memory import MemoryStore
from llmcache.stores.tiered import TieredStore

Answer = Callable[[str, dict[str, Any]], bytes]


class FakeProvider:
    """Answers each POST with `answer(route, body)`; remembers what it was asked."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def post(
        self, route: str, body: bytes, headers: dict[str, str], credential: str | None, *, deadline: float | None = None
    ) -> UpstreamResponse:
        parsed = json.loads(body)
        self.asked.append((route, parsed))
        return UpstreamResponse(200, {"content-type": "application/json"}, self.answer(route, parsed))

    @contextmanager
    def stream(
        self,
        route: str,
        body: bytes,
        headers: dict[str, str],
        credential: str | None,
        *,
        deadline: float | None = None,
        accept: str = "text/event-stream",
    ) -> Iterator[tuple[UpstreamResponse, Iterator[bytes]]]:
        """The answer as OpenAI streams it: one content chunk, the finish chunk, a usage chunk, [DONE]."""
        parsed = json.loads(body)
        self.asked.append((route, parsed))
        content = json.loads(self.answer(route, parsed))["choices"][0]["message"]["content"]
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        events = [
            {
                **base,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": None}],
            },
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {**base, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}},
        ]
        sse = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        yield UpstreamResponse(200, {"content-type": "text/event-stream"}, b""), iter([sse.encode()])

    def close(self) -> None:
        pass


def chat_answer(content: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


def embedding_answer(_: str, body: dict[str, Any]) -> bytes:
    inputs = body["input"]
    return json.dumps(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2]} for i in range(len(inputs))],
            "model": body["model"],
            "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
        }
    ).encode()


def make_engine(answer: Answer, tier: MemoryStore | None = None, **settings: Any) -> tuple[Engine, FakeProvider]:
    memory = tier if tier is not None else MemoryStore(8 * 1024 * 1024)
    store = TieredStore([memory], lambda failure: None)
    provider = FakeProvider(answer)
    services = Services(
        Settings(tiers=("memory",), **settings),
        store,
        Generations(memory, 1.0, lambda failure: None),
        provider,  # type: ignore[arg-type]
    )
    engine = Engine(services)
    return engine, provider


def request(
    body: dict[str, Any],
    *,
    route: str = "chat/completions",
    tenant_key: str = "sk-a",
    headers: dict[str, str] | None = None,
    deadline: float | None = None,
) -> ClientRequest:
    raw = json.dumps(body).encode()
    return ClientRequest(
        dialect_for(route),
        body,
        raw,
        headers or {},
        tenant_key,
        keys.tenant_id(tenant_key),
        deadline or time.monotonic() + 60,
    )


def chat(text: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}]}
