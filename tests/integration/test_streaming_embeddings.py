"""Streams share entries with plain requests; embeddings are cached per input."""

from __future__ import annotations

import json

import pytest
import respx
from tests.integration.harness import broken_stream_error, chat_answer

from llmcache.dialects.openai import StreamAssembler
from llmcache.dialects.sse import iter_sse_events


def _content_of_stream(body: bytes) -> tuple[str, dict | None, bool]:
    assembler = StreamAssembler()
    usage = None
    for event in iter_sse_events([body]):
        assembler.feed(event)
        data = event.data
        if data != "[DONE]":
            chunk = json.loads(data)
            usage = chunk.get("usage") or usage
    answer = assembler.result()
    assert answer is not None, body[:300]
    return answer["choices"][0]["message"]["content"], usage, body.endswith(b"data: [DONE]\n\n")


def test_given_a_streamed_miss_when_asked_plainly_then_it_hits_with_equal_content(configure, client):
    configure(CACHE_TIERS="memory")
    streamed = client.chat("stream first", extra={"stream": True})
    assert streamed.cache == "MISS"
    assert streamed.headers["content-type"].startswith("text/event-stream")
    content, usage, done = _content_of_stream(streamed.body)
    assert done and usage is None  # the client did not ask for usage: the relay drops the usage chunk
    plain = client.chat("stream first")
    assert plain.cache == "HIT"
    assert plain.json()["choices"][0]["message"]["content"] == content
    assert plain.json()["usage"]["total_tokens"] > 0  # stored with usage even though the stream did not show it


def test_given_a_plain_miss_when_streamed_then_the_hit_replays_with_usage(configure, client):
    configure(CACHE_TIERS="memory")
    plain = client.chat("plain first")
    streamed = client.chat("plain first", extra={"stream": True, "stream_options": {"include_usage": True}})
    assert streamed.cache == "HIT"
    content, usage, done = _content_of_stream(streamed.body)
    assert done
    assert content == plain.json()["choices"][0]["message"]["content"]
    assert usage == plain.json()["usage"]


def test_given_a_broken_upstream_stream_when_asked_then_an_error_and_nothing_is_stored(configure, client, provider):
    configure(CACHE_TIERS="memory")
    first = client.chat("break", model="fake-broken-stream", extra={"stream": True})
    assert "broke" in broken_stream_error(client, first, 502)["message"]
    assert client.chat("break", model="fake-broken-stream", extra={"stream": True}).cache != "HIT"
    assert provider.count() == 2


def test_given_a_stream_without_finish_reason_when_asked_then_it_is_relayed_but_never_stored(configure, client):
    configure(CACHE_TIERS="memory")
    first = client.chat("unfinished", model="fake-stream-no-finish", extra={"stream": True})
    assert first.status == 200 and b"data: [DONE]" in first.body
    assert client.chat("unfinished", model="fake-stream-no-finish").cache == "MISS"


def _embed(client, inputs, **extra):
    return client.call("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": inputs, **extra})


def test_given_a_partly_cached_batch_when_embedded_then_only_missing_inputs_go_upstream(configure, client, provider):
    configure(CACHE_TIERS="memory")
    first = _embed(client, ["alpha", "beta"])
    assert first.cache == "MISS" and first.headers["x-cache-hits"] == "0/2"  # a full miss says so too (#26)
    provider.reset()
    mixed = _embed(client, ["gamma", "alpha", "delta", "beta"])
    assert mixed.status == 200 and mixed.cache == "MISS"
    assert mixed.headers["x-cache-hits"] == "2/4"
    sent = provider.requests("POST /v1/embeddings")
    assert [r["body"]["input"] for r in sent] == [["gamma", "delta"]]
    data = mixed.json()["data"]
    assert [d["index"] for d in data] == [0, 1, 2, 3]
    assert data[1]["embedding"] == first.json()["data"][0]["embedding"]
    assert data[3]["embedding"] == first.json()["data"][1]["embedding"]
    alone = _embed(client, "gamma")
    assert alone.cache == "HIT"
    assert alone.json()["data"][0]["embedding"] == data[0]["embedding"]
    assert mixed.json()["usage"]["prompt_tokens"] >= first.json()["usage"]["prompt_tokens"]


def test_given_a_string_and_a_one_item_list_when_embedded_then_they_share_the_entry(configure, client):
    configure(CACHE_TIERS="memory")
    _embed(client, "same input")
    again = _embed(client, ["same input"])
    assert again.cache == "HIT"
    assert again.json()["usage"]["prompt_tokens"] > 0


def test_given_other_dimensions_when_embedded_then_it_is_another_entry(configure, client):
    configure(CACHE_TIERS="memory")
    _embed(client, "dims", dimensions=8)
    other = _embed(client, "dims", dimensions=16)
    assert other.cache == "MISS"
    assert len(other.json()["data"][0]["embedding"]) == 16


def test_given_an_empty_input_when_embedded_then_400(configure, client):
    configure(CACHE_TIERS="memory")
    answer = _embed(client, [])
    assert answer.status == 400 and answer.json()["error"]["param"] == "input"


def test_given_a_batch_on_dynamodb_when_looked_up_then_one_batch_read_not_one_per_input(configure, client, monkeypatch):
    from pynamodb.connection.base import Connection

    # the flush generation is read once and then trusted for the whole test: its refresh (another
    # BatchGetItem) can never fall inside the counted window, however slow the machine
    configure(CACHE_TIERS="dynamodb", CACHE_GENERATION_TTL="300")
    _embed(client, ["one", "two", "three"])
    calls: list[str] = []
    real = Connection._make_api_call

    def counting(self, operation_name, *args, **kwargs):
        calls.append(operation_name)
        return real(self, operation_name, *args, **kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", counting)
    again = _embed(client, ["three", "one", "two"])
    assert again.cache == "HIT"
    assert [c for c in calls if c in ("GetItem", "BatchGetItem")] == ["BatchGetItem"]


@pytest.mark.redis
def test_given_a_batch_on_redis_when_looked_up_then_the_hits_come_from_redis(configure, client, redis_url):
    configure(CACHE_TIERS="redis", REDIS_URL=redis_url)
    first = _embed(client, ["r1", "r2"])
    again = _embed(client, ["r2", "r1"])
    assert (again.cache, again.headers["x-cache-tier"]) == ("HIT", "redis")
    assert again.json()["data"][0]["embedding"] == first.json()["data"][1]["embedding"]


def test_given_an_answer_without_choice_index_when_asked_then_it_is_passed_on_but_not_stored(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")
    answer = {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
    }
    with respx.mock(base_url=provider.base_url, assert_all_called=True) as mock:
        mock.post("/chat/completions").respond(200, json=answer)
        plain = client.chat("no index")
    assert (plain.status, plain.json()) == (200, answer)
    streamed = client.chat("no index", extra={"stream": True})  # never a replay of an unreplayable entry
    assert (streamed.status, streamed.cache) == (200, "MISS")
    assert _content_of_stream(streamed.body)[2]


def test_given_a_provider_that_ignores_stream_when_streamed_then_its_json_is_passed_on_and_stored(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")
    answer = chat_answer("in one piece", answer_id="whole")
    with respx.mock(base_url=provider.base_url, assert_all_called=True) as mock:
        mock.post("/chat/completions").respond(200, json=answer)
        streamed = client.chat("one piece", extra={"stream": True})
    assert (streamed.status, streamed.cache) == (200, "MISS")
    assert streamed.headers["content-type"].startswith("application/json") and streamed.json() == answer
    replay = client.chat("one piece", extra={"stream": True})
    assert replay.cache == "HIT" and _content_of_stream(replay.body)[0] == "in one piece"


@pytest.mark.parametrize(
    "data",
    [
        [[0.1, 0.2], [0.3, 0.4]],  # not objects
        [{"index": 0, "embedding": [0.1]}, {"index": None, "embedding": [0.2]}],  # a null index beside an int
        [{"index": 0, "embedding": [0.1]}, {"index": 0, "embedding": [0.2]}],  # the same index twice
        [{"index": 0, "embedding": [0.1]}],  # one embedding for two inputs
    ],
)
def test_given_malformed_embeddings_from_the_provider_when_asked_then_502_and_nothing_stored(
    configure, client, provider, data
):
    configure(CACHE_TIERS="memory")
    with respx.mock(base_url=provider.base_url, assert_all_called=True) as mock:
        mock.post("/embeddings").respond(200, json={"object": "list", "data": data, "model": "m"})
        answer = _embed(client, ["first", "second"])
    assert answer.status == 502 and answer.json()["error"]["code"] == "upstream_unavailable"
    assert _embed(client, ["first", "second"]).cache == "MISS"  # nothing of the bad answer was kept


def test_given_a_provider_event_split_over_data_lines_when_relayed_then_each_line_stays_a_data_line(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "two lines"}, "finish_reason": "stop"}],
    }
    text = json.dumps(chunk, indent=1)  # valid SSE: one event, its JSON over several data: lines
    body = "".join(f"data: {line}\n" for line in text.split("\n")) + "\n" + "data: [DONE]\n\n"
    with respx.mock(base_url=provider.base_url, assert_all_called=True) as mock:
        mock.post("/chat/completions").respond(200, headers={"content-type": "text/event-stream"}, content=body)
        relayed = client.chat("split event", extra={"stream": True})
    assert relayed.status == 200
    lines = [line for line in relayed.body.decode().split("\n") if line]
    assert lines and all(line.startswith("data: ") for line in lines), lines[:5]  # else SDKs drop the rest
    assert _content_of_stream(relayed.body)[0] == "two lines"
