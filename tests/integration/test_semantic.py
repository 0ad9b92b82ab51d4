"""Semantic matching through the handler: near-duplicates hit, nothing crosses a partition.

Every test runs on both vector indexes: embedded Qdrant and Valkey vector search (a real Valkey 9.1
with a search module, marker `valkey`)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.semantic

QUESTION = "What is the capital city of France?"
PARAPHRASE = "What's the capital city of France?"


@pytest.fixture(scope="module")
def local_model():
    """The embedding model, loaded once before any test here: its first load (seconds quiet, minutes on a
    loaded machine) must not eat into a request's deadline. Loaded models are kept for the process."""
    from llmcache.semantic.embedders import LocalEmbedder

    LocalEmbedder().embed(["warm up"])


@pytest.fixture(params=["qdrant", pytest.param("valkey", marks=pytest.mark.valkey)])
def index_kind(request) -> str:
    return str(request.param)


# Where each index is configured to be unreachable (the discard port: nothing listens).
UNREACHABLE = {
    "qdrant": {"QDRANT_URL": "http://127.0.0.1:9"},
    "valkey": {"SEMANTIC_REDIS_URL": "redis://127.0.0.1:9/0"},
}


@pytest.fixture
def semantic(configure, index_kind, request, local_model):
    index_env = {"SEMANTIC_INDEX": index_kind}
    if index_kind == "valkey":
        index_env["SEMANTIC_REDIS_URL"] = request.getfixturevalue("valkey_search_url")

    def apply(**env: str):
        return configure(CACHE_TIERS="memory", SEMANTIC_MODE="on", SEMANTIC_EMBEDDER="local", **{**index_env, **env})

    return apply


def test_given_a_paraphrase_when_asked_then_a_semantic_hit_with_similarity(semantic, client, provider):
    semantic()
    first = client.chat(QUESTION)
    second = client.chat(PARAPHRASE)
    assert first.cache == "MISS"
    assert (second.cache, second.headers["x-cache-match"]) == ("HIT", "semantic")
    assert 0.9 <= float(second.headers["x-cache-similarity"]) <= 1.0
    assert second.body == first.body
    assert provider.count() == 1


def test_given_a_different_question_when_asked_then_it_is_a_miss(semantic, client):
    semantic()
    client.chat(QUESTION)
    assert client.chat("What is the capital city of Germany?").cache == "MISS"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"api_key": "sk-a"}, {"api_key": "sk-b"}),
        ({"model": "gpt-4o-mini"}, {"model": "gpt-4o"}),
        ({"extra": {"temperature": 0}}, {"extra": {"temperature": 1}}),
        ({"headers": {"X-Cache-Namespace": "a"}}, {"headers": {"X-Cache-Namespace": "b"}}),
    ],
)
def test_given_another_partition_when_a_paraphrase_is_asked_then_it_never_matches(semantic, client, first, second):
    semantic()
    client.chat(QUESTION, **first)
    assert client.chat(PARAPHRASE, **second).cache == "MISS"


@pytest.mark.parametrize("context", ["system prompt", "history"])
def test_given_another_conversation_when_a_paraphrase_is_asked_then_it_never_matches(semantic, client, context):
    semantic()

    def ask(text: str, variant: str):
        earlier = (
            [{"role": "system", "content": f"You are {variant}."}]
            if context == "system prompt"
            else [{"role": "user", "content": f"Talk about {variant}"}, {"role": "assistant", "content": "Sure."}]
        )
        body = {"model": "gpt-4o-mini", "messages": [*earlier, {"role": "user", "content": text}]}
        return client.call("POST", "/v1/chat/completions", body)

    ask(QUESTION, "a geographer")
    assert ask(PARAPHRASE, "a poet").cache == "MISS"
    assert ask(PARAPHRASE, "a geographer").headers.get("x-cache-match") == "semantic"


def test_given_opt_out_or_a_raised_threshold_when_asked_then_no_semantic_hit(semantic, client):
    semantic()
    client.chat(QUESTION)
    no_store = {"Cache-Control": "no-store"}  # keep each probe from becoming an exact entry of its own
    assert client.chat(PARAPHRASE, headers={**no_store, "X-Cache-Semantic": "off"}).cache == "MISS"
    assert client.chat(PARAPHRASE, headers=no_store, extra={"cache": {"semantic": False}}).cache == "MISS"
    assert client.chat(PARAPHRASE, headers={**no_store, "X-Cache-Semantic-Threshold": "0.9999"}).cache == "MISS"
    assert client.chat(PARAPHRASE, headers=no_store).headers.get("x-cache-match") == "semantic"


def test_given_a_strict_deployment_threshold_when_a_request_asks_lower_then_the_deployment_wins(semantic, client):
    semantic(SEMANTIC_THRESHOLD="0.999")
    client.chat(QUESTION)
    lowered = client.chat(PARAPHRASE, headers={"X-Cache-Semantic-Threshold": "0.5"})
    assert lowered.cache == "MISS"


def test_given_an_expired_entry_when_a_paraphrase_is_asked_then_it_is_a_miss(semantic, client, engine_clock):
    semantic()
    clock = engine_clock()
    client.chat(QUESTION, headers={"X-Cache-TTL": "1"})
    clock.advance(1.2)
    assert client.chat(PARAPHRASE).cache == "MISS"


def test_given_a_flush_when_a_paraphrase_is_asked_then_it_is_a_miss(semantic, client):
    semantic()
    client.chat(QUESTION)
    client.call("POST", "/cache/flush", {"namespace": "default"}, api_key="admin-secret")
    assert client.chat(PARAPHRASE).cache == "MISS"


def test_given_a_deleted_entry_when_a_paraphrase_is_asked_then_it_is_a_miss(semantic, client):
    semantic()
    key = client.chat(QUESTION).headers["x-cache-key"]
    assert client.call("DELETE", f"/cache/entries/{key}", api_key="admin-secret").status == 204
    assert client.chat(PARAPHRASE).cache == "MISS"


def test_given_the_index_is_down_when_asked_then_a_plain_miss_and_a_backend_error(semantic, index_kind, client, capsys):
    semantic(**UNREACHABLE[index_kind])
    first = client.chat(QUESTION)
    second = client.chat(PARAPHRASE)
    assert (first.status, second.status) == (200, 200)
    assert second.cache == "MISS"
    assert client.chat(QUESTION).cache == "HIT"  # the exact path is untouched
    assert "CacheBackendError" in capsys.readouterr().out


LONG_TEXT = " ".join(
    f"The farmers of valley {i} grow barley, rye and apples, and sell them at the market every week." for i in range(40)
)


def test_given_a_prompt_longer_than_the_embedders_window_when_only_its_end_differs_then_never_a_semantic_hit(
    semantic, client
):
    # all-MiniLM-L6-v2 reads 256 tokens: both texts would embed identically (similarity 1.0)
    semantic()
    assert len(LONG_TEXT) > 1000
    client.chat(LONG_TEXT + " Summarise the text above briefly.")
    other = client.chat(LONG_TEXT + " Write a poem that criticises the farmers described above.")
    assert other.cache == "MISS" and "x-cache-match" not in other.headers


def test_given_a_patched_ttl_when_the_old_expiry_passes_then_a_paraphrase_still_hits(semantic, client, engine_clock):
    semantic()
    clock = engine_clock()
    key = client.chat(QUESTION, headers={"X-Cache-TTL": "1"}).headers["x-cache-key"]
    assert client.call("PATCH", f"/cache/entries/{key}", {"ttl": 600}, api_key="admin-secret").status == 200
    clock.advance(1.2)
    hit = client.chat(PARAPHRASE)
    assert (hit.cache, hit.headers.get("x-cache-match")) == ("HIT", "semantic")


def test_given_a_hanging_embedder_when_asked_then_a_plain_miss_after_one_short_wait(configure, client, provider):
    # the offline provider takes 1.5 s for this model's embeddings; the semantic timeout is 0.3 s
    configure(
        CACHE_TIERS="memory",
        SEMANTIC_MODE="on",
        SEMANTIC_EMBEDDER="upstream",
        SEMANTIC_EMBEDDING_MODEL="fake-slow-1500",
        SEMANTIC_TIMEOUT_SECONDS="0.3",
    )
    from llmcache.constants import Metric
    from llmcache.observability import counters

    faults = counters.snapshot().get(Metric.CACHE_BACKEND_ERROR, 0)
    answer = client.chat(QUESTION)
    assert (answer.status, answer.cache) == (200, "MISS")
    assert counters.snapshot().get(Metric.CACHE_BACKEND_ERROR, 0) == faults + 1  # the lookup gave up, once
    # storing the answer did not wait on the same embedder a second time
    assert len(provider.requests("POST /v1/embeddings")) == 1


@pytest.mark.parametrize("api", ["responses", "messages"])
def test_given_a_paraphrase_on_the_responses_or_messages_api_when_asked_then_a_semantic_hit_within_its_partition(
    semantic, client, provider, api
):
    semantic()

    def ask(text: str, system: str = "Be brief."):
        if api == "responses":
            body = {"model": "gpt-4.1-mini", "instructions": system, "input": text}
            return client.call("POST", "/v1/responses", body)
        body = {
            "model": "claude-x",
            "max_tokens": 64,
            "system": system,
            "messages": [{"role": "user", "content": text}],
        }
        return client.call("POST", "/v1/messages", body, headers={"anthropic-version": "2023-06-01"})

    first, second, other_system = ask(QUESTION), ask(PARAPHRASE), ask(PARAPHRASE, system="Answer in French.")

    assert first.cache == "MISS"
    assert (second.cache, second.headers["x-cache-match"]) == ("HIT", "semantic") and second.body == first.body
    assert other_system.cache == "MISS"  # the last user text alone is compared; the rest must match exactly
    assert provider.count(f"POST /v1/{api}") == 2


def test_given_debug_asked_when_a_candidate_is_refused_then_the_reason_by_kind_and_never_under_shared_scope(
    semantic, client
):
    semantic()
    client.chat("How do I get a personal loan of 1500 dollars?")
    debug = {"X-Cache-Debug": "1", "Cache-Control": "no-store"}
    refused = client.chat("How do I get a personal loan of 15000 dollars?", headers=debug)
    assert refused.cache == "MISS" and refused.headers["x-cache-semantic-reason"] == "number differs"
    assert refused.headers["x-cache-semantic-scores"].startswith("similarity=0.")
    assert "1500" not in " ".join(refused.headers.values())  # kinds and scores, never the cached text
    semantic(CACHE_SCOPE="shared")  # every tenant's neighbourhood: the reason would tell of another's question
    client.chat("How do I get a personal loan of 1500 dollars?")
    shared = client.chat("How do I get a personal loan of 15000 dollars?", headers=debug)
    assert shared.cache == "MISS"
    assert "x-cache-semantic-reason" not in shared.headers and "x-cache-semantic-scores" not in shared.headers
