"""The engine (engine.core), given fakes: what a tenant can learn of another, how large an answer may be stored,
and what a no-cache does under each scope."""

from __future__ import annotations

import json
import time

from tests.unit.engine.fakes import chat, chat_answer, make_engine, request

from llmcache import keys
from llmcache.exchange import GatewayResponse
from llmcache.semantic.embedders import CachingEmbedder
from llmcache.semantic.exact_index import ExactIndex
from llmcache.semantic.matcher import DefaultSemanticMatcher
from llmcache.settings import Settings


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
    index = ExactIndex()
    matcher = DefaultSemanticMatcher(CachingEmbedder(inner), index)
    partition_a = keys.digest("semantic", keys.tenant_id("sk-a"), "default", "0.0", "chat/completions", "{}")
    partition_b = keys.digest("semantic", keys.tenant_id("sk-b"), "default", "0.0", "chat/completions", "{}")

    matcher.lookup(partition_a, "what is the merger code name?", 0.9, time.time())
    matcher.lookup(partition_a, "what is the merger code name?", 0.9, time.time())  # same tenant: cached
    matcher.lookup(partition_b, "what is the merger code name?", 0.9, time.time())

    assert inner.texts == ["what is the merger code name?"] * 2  # once for A, once again for B


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
