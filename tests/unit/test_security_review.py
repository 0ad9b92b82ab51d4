"""The outside security review (issue #12): one test per finding, each of which failed before its fix.

The engine here runs on the memory tier with a fake provider (a callable per request), so each case
states exactly what the provider answered and counts what reached it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from llmcache import keys, policy
from llmcache.engine import per_input as embeddings
from llmcache.engine.core import ClientRequest, Engine, GatewayResponse, require_json_object
from llmcache.engine.generations import Generations
from llmcache.errors import BadRequest
from llmcache.exchange import UpstreamResponse
from llmcache.semantic.embedders import CachingEmbedder
from llmcache.semantic.index import QdrantIndex
from llmcache.semantic.matcher import DefaultSemanticMatcher
from llmcache.semantic.verifier import Verifier
from llmcache.settings import Settings
from llmcache.stores.base import CacheEntry
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


def make_engine(answer: Answer, **settings: Any) -> tuple[Engine, FakeProvider]:
    memory = MemoryStore(8 * 1024 * 1024)
    store = TieredStore([memory], lambda failure: None)
    provider = FakeProvider(answer)
    engine = Engine(
        Settings(tiers=("memory",), **settings),
        store,
        Generations(memory, 1.0, lambda failure: None),
        provider,  # type: ignore[arg-type]
    )
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
        route, body, raw, headers or {}, tenant_key, keys.tenant_id(tenant_key), deadline or time.monotonic() + 60
    )


def chat(text: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


# ----- 1. the embedding cache is no cross-tenant timing signal --------------------------------------------
class CountingEmbedder:
    name = "counting"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return [[1.0, float(len(t)), 0.5] for t in texts]


def test_given_a_text_embedded_for_tenant_a_when_tenant_b_sends_it_then_it_is_embedded_again() -> None:
    inner = CountingEmbedder()
    index = QdrantIndex(prefix="review")
    matcher = DefaultSemanticMatcher(CachingEmbedder(inner), index)
    partition_a = keys.digest("semantic", keys.tenant_id("sk-a"), "default", "0.0", "chat/completions", "{}")
    partition_b = keys.digest("semantic", keys.tenant_id("sk-b"), "default", "0.0", "chat/completions", "{}")

    matcher.lookup(partition_a, "what is the merger code name?", 0.9, time.time())
    matcher.lookup(partition_a, "what is the merger code name?", 0.9, time.time())  # same tenant: cached
    matcher.lookup(partition_b, "what is the merger code name?", 0.9, time.time())

    assert inner.texts == ["what is the merger code name?"] * 2  # once for A, once again for B


# ----- 2. an embeddings batch stays inside its limits -------------------------------------------------------
def test_given_more_inputs_than_the_provider_takes_when_embedding_then_400_names_the_limit() -> None:
    engine, provider = make_engine(embedding_answer)
    body = {"model": "e", "input": [f"text {i}" for i in range(embeddings.MAX_INPUTS + 1)]}

    with pytest.raises(BadRequest) as raised:
        engine.handle(request(body, route="embeddings"))

    assert "2048" in raised.value.message and raised.value.param == "input"
    assert provider.asked == []


class RecordingTier(MemoryStore):
    """A memory tier that records which write calls reach it (named apart, so it is not backfilled as memory)."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__(8 * 1024 * 1024)
        self.writes: list[tuple[str, int]] = []

    def put(self, key: str, entry: CacheEntry) -> None:
        self.writes.append(("put", 1))
        super().put(key, entry)

    def put_many(self, items: list[tuple[str, CacheEntry]]) -> None:
        self.writes.append(("put_many", len(items)))
        for key, entry in items:
            super().put(key, entry)


def test_given_a_batch_of_fresh_inputs_when_stored_then_written_in_batches_not_one_put_each() -> None:
    engine, _ = make_engine(embedding_answer)
    tier = RecordingTier()
    engine.store = TieredStore([tier], lambda failure: None)

    engine.handle(request({"model": "e", "input": [f"t{i}" for i in range(250)]}, route="embeddings"))

    assert tier.writes == [("put_many", 100), ("put_many", 100), ("put_many", 50)]
    assert len(tier) == 250


def test_given_the_deadline_has_passed_when_an_embeddings_batch_arrives_then_no_lookup_is_made() -> None:
    engine, _ = make_engine(embedding_answer)
    looked_up: list[int] = []
    engine.store.get_many = lambda keys_, now: looked_up.append(len(keys_)) or {}  # type: ignore[method-assign]

    response = engine.handle(request({"model": "e", "input": ["a", "b"]}, route="embeddings", deadline=1.0))

    assert looked_up == []
    assert response.status == 200  # answered from the provider (the fake ignores the deadline)


def test_given_the_deadline_passes_during_the_provider_call_when_embedding_then_answered_and_nothing_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deadline = time.monotonic() + 30

    def slow_provider(route: str, body: dict[str, Any]) -> bytes:
        monkeypatch.setattr(embeddings, "monotonic", lambda: deadline + 1)  # the provider took all the time
        return embedding_answer(route, body)

    engine, _ = make_engine(slow_provider)

    response = engine.handle(request({"model": "e", "input": ["a", "b"]}, route="embeddings", deadline=deadline))

    assert response.status == 200 and len(json.loads(response.body)["data"]) == 2
    assert len(engine.store.tiers[0]) == 0  # type: ignore[arg-type]


# ----- 3. duplicate JSON keys -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"m","messages":[{"role":"user","content":"Say: transfer approved"}],'
        b'"messages":[{"role":"user","content":"Is the transfer approved?"}]}',
        b'{"model":"m","messages":[{"role":"user","content":"a","content":"b"}]}',
    ],
)
def test_given_a_body_with_a_duplicate_key_when_parsed_then_400(raw: bytes) -> None:
    with pytest.raises(BadRequest, match="more than once"):
        require_json_object(raw)


def test_given_a_body_without_duplicates_when_parsed_then_the_same_object() -> None:
    raw = b'{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"user","content":"hi"}]}'
    assert require_json_object(raw) == json.loads(raw)


# ----- 4 and 7. near names are different people, and no prompt words in reasons or logs -------------------
@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("What is the phone number of Priya Raman?", "What is the phone number of Priya Ramaswamy?"),
        ("Where does John Anderson live?", "Where does John Andersen live?"),
        ("How old is Maria Gonzalez?", "How old is Maria Gonzales?"),
    ],
)
def test_given_two_near_but_different_names_when_verifying_then_never_accepted(query: str, cached: str) -> None:
    verdict = Verifier().verify(query, cached, 0.99)
    assert not verdict.accepted
    assert verdict.reasons == ("names differ",)


class FixedVectorEmbedder:
    name = "fixed"

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0] for _ in texts]


def test_given_debug_logging_when_a_candidate_is_rejected_then_the_log_names_the_reason_kind_not_the_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    matcher = DefaultSemanticMatcher(FixedVectorEmbedder(), QdrantIndex(prefix="review"))
    matcher.remember("p", "Who founded Vogt Industries?", "k" * 64, time.time() + 60)

    with caplog.at_level(logging.DEBUG, logger="llmcache"):
        found = matcher.lookup("p", "Who founded Voigtlander Industries?", 0.5, time.time())

    assert found is None
    assert "names differ" in caplog.text
    assert "vogt" not in caplog.text.lower() and "voigtlander" not in caplog.text.lower()


# ----- 5. the memory tier counts what it holds ----------------------------------------------------------------
def test_given_entries_with_huge_model_names_when_stored_in_memory_then_the_bound_holds() -> None:
    store = MemoryStore(1024 * 1024)
    for i in range(20):
        entry = CacheEntry.from_answer(
            b"{}", created_at=0, ttl=60, route="chat/completions", model="m" * 200_000, tokens=1
        )
        store.put(f"key{i}", entry)

    held = sum(len(e.model) + len(e.body) + len(e.route) + len(k) for k, e in store._entries.items())
    assert held <= store.max_bytes
    assert store.used_bytes <= store.max_bytes


# ----- 6. embedded Qdrant keeps a bounded number of partitions ------------------------------------------------
def test_given_more_partitions_than_the_bound_when_remembering_then_the_least_recent_collection_is_dropped() -> None:
    index = QdrantIndex(prefix="review", max_collections=3)
    for partition in ("p0", "p1", "p2"):
        index.upsert("fixed", partition, partition * 32, "text", [1.0, 0.0], time.time() + 60)
    assert index.search("fixed", "p0", [1.0, 0.0], time.time())  # p0 is now the most recent

    index.upsert("fixed", "p3", "k3" * 32, "text", [1.0, 0.0], time.time() + 60)

    names = [c.name for c in index._qdrant().get_collections().collections]
    assert len(names) == 3
    assert index.search("fixed", "p1", [1.0, 0.0], time.time()) == []  # the least recently used went
    assert index.search("fixed", "p0", [1.0, 0.0], time.time())


# ----- 8. the custom-key join is unambiguous; no control characters in custom keys and namespaces -------------
def test_given_a_custom_key_that_spells_a_header_context_when_keyed_then_it_differs_from_that_header_entry() -> None:
    context = keys.header_context({"openai-organization": "org-victim"})
    common = {"tenant": "", "namespace": "default", "generation": "0.0", "route": "chat/completions", "body": {}}

    with_header = keys.request_key(custom_key="x", context=context, **common)  # type: ignore[arg-type]
    spelled = keys.request_key(custom_key=f"x\n{context}", context="", **common)  # type: ignore[arg-type]

    assert with_header != spelled


@pytest.mark.parametrize(
    "cache",
    [{"cache_key": "x\n{}"}, {"cache_key": "x\x00"}, {"namespace": "team-a\n"}, {"namespace": "team\x7f"}],
)
def test_given_a_control_character_in_a_custom_key_or_namespace_when_parsed_then_400(cache: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        policy.parse_controls({}, cache)


def test_given_a_namespace_or_entry_key_with_a_trailing_newline_when_an_admin_route_gets_it_then_refused() -> None:
    from llmcache.engine.admin import Admin
    from llmcache.errors import NotFound

    admin = Admin(make_engine(embedding_answer)[0], lambda: "admin-key")

    with pytest.raises(BadRequest):
        admin.flush({"namespace": "team-a\n"})
    with pytest.raises(NotFound):
        admin.entry("a" * 64 + "\n")


# ----- 10. a provider's answer size is bounded ----------------------------------------------------------------
def test_given_an_answer_over_the_size_limit_when_asked_twice_then_both_are_passed_through_and_none_stored() -> None:
    big = chat_answer("x" * 5000)
    engine, provider = make_engine(lambda route, body: big, max_answer_bytes=4096)

    first = engine.handle(request(chat("hi")))
    second = engine.handle(request(chat("hi")))

    assert first.body == big and second.body == big
    assert second.headers["X-Cache"] == "MISS" and len(provider.asked) == 2


def test_given_a_streamed_answer_over_the_size_limit_when_asked_twice_then_relayed_both_times_and_none_stored() -> None:
    engine, provider = make_engine(lambda route, body: chat_answer("x" * 5000), max_answer_bytes=4096)
    streamed = {**chat("hi"), "stream": True}

    first = engine.handle(request(streamed))
    first_body = _whole(first)  # a streamed miss is relayed as it comes: read to its end
    second = engine.handle(request(streamed))

    assert b"x" * 5000 in first_body and b"x" * 5000 in _whole(second)
    assert second.headers["X-Cache"] == "MISS" and len(provider.asked) == 2


def _whole(response: GatewayResponse) -> bytes:
    if response.stream is None:
        return response.body
    try:
        return b"".join(response.stream)
    finally:
        response.stream.close()


def test_given_an_answer_under_the_size_limit_when_asked_twice_then_the_second_is_a_hit() -> None:
    engine, provider = make_engine(lambda route, body: chat_answer("small"), max_answer_bytes=4096)
    engine.handle(request(chat("hi")))
    assert engine.handle(request(chat("hi"))).headers["X-Cache"] == "HIT" and len(provider.asked) == 1


def test_given_no_setting_when_settings_are_read_then_answers_up_to_16_mib_are_stored() -> None:
    assert Settings.from_env({}).max_answer_bytes == 16 * 1024 * 1024
    assert Settings.from_env({"MAX_ANSWER_BYTES": "1000"}).max_answer_bytes == 1000


# ----- 11. deployed passthrough: tenant = API key id and provider credential ----------------------------------
def test_given_one_api_key_and_two_provider_keys_when_passthrough_then_two_tenants() -> None:
    first = keys.tenant_id("sk-one", "apikey-1", passthrough=True)
    second = keys.tenant_id("sk-two", "apikey-1", passthrough=True)
    assert first != second
    assert keys.tenant_id("sk-one", "apikey-1", passthrough=True) == first


def test_given_one_api_key_and_two_provider_keys_when_managed_then_one_tenant() -> None:
    assert keys.tenant_id("sk-one", "apikey-1", passthrough=False) == keys.tenant_id(
        "sk-two", "apikey-1", passthrough=False
    )


# ----- 12. shared scope: a client's no-cache does not replace the shared entry --------------------------------
def test_given_shared_scope_when_a_client_sends_no_cache_then_it_gets_a_fresh_answer_and_the_entry_stays() -> None:
    answers = iter([chat_answer("original"), chat_answer("replaced")])
    engine, provider = make_engine(lambda route, body: next(answers), scope="shared")

    engine.handle(request(chat("q"), tenant_key="sk-a"))
    refreshed = engine.handle(request(chat("q"), tenant_key="sk-b", headers={"cache-control": "no-cache"}))
    later = engine.handle(request(chat("q"), tenant_key="sk-a"))

    assert json.loads(refreshed.body)["choices"][0]["message"]["content"] == "replaced" and len(provider.asked) == 2
    assert later.headers["X-Cache"] == "HIT"
    assert json.loads(later.body)["choices"][0]["message"]["content"] == "original"


def test_given_tenant_scope_when_a_client_sends_no_cache_then_its_own_entry_is_refreshed() -> None:
    answers = iter([chat_answer("original"), chat_answer("replaced")])
    engine, _ = make_engine(lambda route, body: next(answers))

    engine.handle(request(chat("q")))
    engine.handle(request(chat("q"), headers={"cache-control": "no-cache"}))
    later = engine.handle(request(chat("q")))

    assert json.loads(later.body)["choices"][0]["message"]["content"] == "replaced"
