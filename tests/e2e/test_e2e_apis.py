"""One base URL for a client's every call, through the real local gateway (uvicorn, as `make run`) with the
official SDKs: the Responses API (openai) and the Messages API (anthropic) cached, plain and streamed sharing
entries; models and file uploads passed on."""

from __future__ import annotations

import io
from collections.abc import Callable

import anthropic
import openai
import pytest
from tests.e2e.clients import sdk
from tests.servers import FakeProvider, GatewayProcess, start_fake_provider

RESPONSES = "POST /v1/responses"
MESSAGES = "POST /v1/messages"


def claude(gateway: GatewayProcess, api_key: str = "sk-ant-tenant-a") -> anthropic.Anthropic:
    """The official Anthropic SDK pointed at the gateway (its base URL has no /v1); no retries."""
    return anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0, timeout=20)


def ask(prompt: str) -> dict:
    return {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": [{"role": "user", "content": prompt}]}


# ----- Responses API (openai SDK) -----------------------------------------------------------------------------------
def test_given_a_response_when_the_sdk_asks_twice_then_miss_then_hit_with_the_same_text_and_one_provider_call(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    client = sdk(gw)
    before = fake_provider.count(RESPONSES)

    first = client.responses.with_raw_response.create(model="gpt-4.1-mini", input=prompt)
    second = client.responses.with_raw_response.create(model="gpt-4.1-mini", input=prompt)

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    miss, hit = first.parse(), second.parse()
    assert hit.output_text == miss.output_text == f"offline answer to: {prompt}"
    assert hit.id == miss.id and hit.usage == miss.usage
    assert fake_provider.count(RESPONSES) == before + 1


def test_given_a_streamed_response_miss_when_asked_plain_then_hit_and_the_reverse(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    client = sdk(gw)
    before = fake_provider.count(RESPONSES)

    streamed = client.responses.with_raw_response.create(model="gpt-4.1-mini", input=prompt, stream=True)
    events = list(streamed.parse())
    plain = client.responses.with_raw_response.create(model="gpt-4.1-mini", input=prompt)
    plain_first = client.responses.with_raw_response.create(model="gpt-4.1-mini", input=f"{prompt} again")
    replayed = client.responses.with_raw_response.create(model="gpt-4.1-mini", input=f"{prompt} again", stream=True)
    replay_events = list(replayed.parse())

    assert (streamed.headers["x-cache"], plain.headers["x-cache"]) == ("MISS", "HIT")
    assert events[-1].type == "response.completed" and plain.parse().output_text == events[-1].response.output_text
    assert (plain_first.headers["x-cache"], replayed.headers["x-cache"]) == ("MISS", "HIT")
    text = "".join(e.delta for e in replay_events if e.type == "response.output_text.delta")
    assert text == plain_first.parse().output_text
    assert [e.sequence_number for e in replay_events] == list(range(len(replay_events)))
    assert fake_provider.count(RESPONSES) == before + 2


def test_given_a_response_cached_for_one_key_when_another_key_asks_then_it_misses(
    gw: GatewayProcess, prompt: str
) -> None:
    sdk(gw, "sk-tenant-a").responses.create(model="gpt-4.1-mini", input=prompt)

    other = sdk(gw, "sk-tenant-b").responses.with_raw_response.create(model="gpt-4.1-mini", input=prompt)

    assert other.headers["x-cache"] == "MISS"


def test_given_a_response_stream_that_breaks_midway_when_streamed_then_the_sdk_raises_and_nothing_is_stored(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    client = sdk(gw)
    before = fake_provider.count(RESPONSES)

    with pytest.raises(openai.APIError):
        for _ in client.responses.create(model="fake-broken-stream", input=prompt, stream=True):
            pass
    again = client.responses.with_raw_response.create(model="fake-broken-stream", input=prompt, stream=True)

    assert again.headers["x-cache"] == "MISS"
    assert fake_provider.count(RESPONSES) == before + 2


# ----- Messages API (anthropic SDK) ---------------------------------------------------------------------------------
def test_given_a_message_when_the_anthropic_sdk_asks_twice_then_miss_then_hit_with_one_provider_call(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    client = claude(gw)
    before = fake_provider.count(MESSAGES)

    first = client.messages.with_raw_response.create(**ask(prompt))
    second = client.messages.with_raw_response.create(**ask(prompt))

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    miss, hit = first.parse(), second.parse()
    assert hit.content[0].text == miss.content[0].text == f"offline answer to: {prompt}"  # type: ignore[union-attr]
    assert hit.id == miss.id and hit.usage == miss.usage and hit.stop_reason == "end_turn"
    assert fake_provider.count(MESSAGES) == before + 1


def test_given_a_streamed_message_miss_when_asked_plain_then_hit_and_the_reverse(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    client = claude(gw)
    before = fake_provider.count(MESSAGES)

    with client.messages.stream(**ask(prompt)) as stream:
        streamed_text = "".join(stream.text_stream)
        streamed_cache = stream.response.headers["x-cache"]
    plain = client.messages.with_raw_response.create(**ask(prompt))
    plain_first = client.messages.with_raw_response.create(**ask(f"{prompt} again"))
    with client.messages.stream(**ask(f"{prompt} again")) as stream:
        replayed_text = "".join(stream.text_stream)
        replayed = stream.get_final_message()
        replayed_cache = stream.response.headers["x-cache"]

    assert (streamed_cache, plain.headers["x-cache"]) == ("MISS", "HIT")
    assert plain.parse().content[0].text == streamed_text  # type: ignore[union-attr]
    assert (plain_first.headers["x-cache"], replayed_cache) == ("MISS", "HIT")
    assert replayed_text == plain_first.parse().content[0].text  # type: ignore[union-attr]
    assert replayed.usage.output_tokens == plain_first.parse().usage.output_tokens
    assert fake_provider.count(MESSAGES) == before + 2


def test_given_a_message_cached_for_one_key_when_another_key_asks_then_it_misses(
    gw: GatewayProcess, prompt: str
) -> None:
    claude(gw, "sk-ant-tenant-a").messages.create(**ask(prompt))

    other = claude(gw, "sk-ant-tenant-b").messages.with_raw_response.create(**ask(prompt))

    assert other.headers["x-cache"] == "MISS"


def test_given_a_message_stream_that_breaks_midway_when_streamed_then_the_sdk_raises_and_nothing_is_stored(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    client = claude(gw)
    body = {**ask(prompt), "model": "fake-broken-stream"}
    before = fake_provider.count(MESSAGES)

    with pytest.raises(anthropic.APIStatusError), client.messages.stream(**body) as stream:
        stream.get_final_message()
    with client.messages.stream(**body) as again, pytest.raises(anthropic.APIStatusError):
        again.get_final_message()

    assert again.response.headers["x-cache"] == "MISS"
    assert fake_provider.count(MESSAGES) == before + 2


def test_given_a_provider_error_on_messages_when_the_sdk_asks_then_it_raises_anthropics_error(
    gw: GatewayProcess,
) -> None:
    with pytest.raises(anthropic.APIStatusError) as raised:
        claude(gw).messages.create(**{**ask("hi"), "model": "fake-error-529"})

    assert raised.value.status_code == 529 and raised.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


# ----- passed on ----------------------------------------------------------------------------------------------------
def test_given_the_sdk_lists_models_when_called_then_the_providers_list_passes_through(
    gw: GatewayProcess, fake_provider: FakeProvider
) -> None:
    raw = sdk(gw).models.with_raw_response.list()

    assert raw.headers["x-cache"] == "BYPASS"
    assert "gpt-4o-mini" in {model.id for model in raw.parse()}


def test_given_a_multipart_file_upload_when_the_sdk_sends_it_then_the_provider_gets_it_whole(
    gw: GatewayProcess, fake_provider: FakeProvider
) -> None:
    content = b'{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n' * 50

    raw = sdk(gw).files.with_raw_response.create(file=("batch.jsonl", io.BytesIO(content)), purpose="batch")

    uploaded = raw.parse()
    assert raw.headers["x-cache"] == "BYPASS"
    assert uploaded.bytes == len(content) and uploaded.filename == "batch.jsonl" and uploaded.purpose == "batch"
    assert fake_provider.requests("POST /v1/files")[-1]["headers"]["content-type"].startswith("multipart/form-data")


def test_given_the_anthropic_sdk_lists_models_when_called_then_its_key_reaches_anthropic_never_the_openai_upstream(
    gateway: Callable[..., GatewayProcess], fake_provider: FakeProvider
) -> None:
    """Issue #25 (and finding 22.3): the anthropic SDK's `models.list()` is GET /v1/models with `anthropic-version`
    (this SDK sends its key as a bearer); routed by path alone it went to the OpenAI-compatible upstream. Here the
    two providers are two fakes, so where the key went is seen, not inferred."""
    key = "sk-ant-api03-e2e-models-list"
    with start_fake_provider() as anthropic_upstream:
        two = gateway({"ANTHROPIC_BASE_URL": anthropic_upstream.url}, name="gateway-two-providers")
        openai_before = fake_provider.count("GET /v1/models")

        page = claude(two, key).models.list()

        assert page.data and page.data[0].type == "model"
        sent = [r["headers"] for r in anthropic_upstream.requests("GET /v1/models")]
        assert len(sent) == 1 and sent[0]["anthropic-version"], sent
        assert fake_provider.count("GET /v1/models") == openai_before  # the OpenAI-compatible upstream saw nothing
