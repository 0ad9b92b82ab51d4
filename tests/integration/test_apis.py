"""The Responses API and Anthropic's Messages API cached, and every other /v1/ path passed on, on both entry
points (the Lambda handler and the ASGI app), against the fake provider."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from llmcache.dialects.sse import iter_sse_events

ANTHROPIC = {"anthropic-version": "2023-06-01"}


def question() -> str:
    return f"What is the capital of France? [{uuid.uuid4().hex[:8]}]"


def responses_body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4.1-mini", "input": text, **extra}


def messages_body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": [{"role": "user", "content": text}], **extra}


def anthropic_call(client, body: Any, key: str | None = "sk-ant-tenant-a", headers: dict[str, str] | None = None):
    sent = {**ANTHROPIC, **({"x-api-key": key} if key else {}), **(headers or {})}
    return client.call("POST", "/v1/messages", body, headers=sent, api_key=None)


# ----- Responses API ------------------------------------------------------------------------------------------------
def test_given_a_responses_request_twice_when_answered_then_miss_then_hit_with_the_same_bytes(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")
    body = responses_body(question())

    first = client.call("POST", "/v1/responses", body)
    second = client.call("POST", "/v1/responses", {**body, "stream": False})

    assert (first.status, first.cache, second.cache) == (200, "MISS", "HIT")
    assert second.body == first.body and second.headers["x-cache-key"] == first.headers["x-cache-key"]
    assert first.json()["status"] == "completed" and provider.count("POST /v1/responses") == 1


def test_given_a_streamed_responses_miss_when_asked_plain_then_hit_and_streamed_again_then_replayed(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")
    body = responses_body(question())

    streamed = client.call("POST", "/v1/responses", {**body, "stream": True})
    plain = client.call("POST", "/v1/responses", body)
    replayed = client.call("POST", "/v1/responses", {**body, "stream": True})

    assert (streamed.cache, plain.cache, replayed.cache) == ("MISS", "HIT", "HIT")
    events = [json.loads(e.data) for e in iter_sse_events([replayed.body])]
    assert events[-1]["type"] == "response.completed" and events[-1]["response"] == plain.json()
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert provider.count("POST /v1/responses") == 1


def test_given_background_true_when_asked_twice_then_both_bypass_and_reach_the_provider(configure, client, provider):
    configure(CACHE_TIERS="memory")
    body = responses_body(question(), background=True)

    answers = [client.call("POST", "/v1/responses", body) for _ in range(2)]

    assert [a.cache for a in answers] == ["BYPASS", "BYPASS"] and provider.count("POST /v1/responses") == 2


def test_given_an_incomplete_response_when_asked_twice_then_it_is_never_stored(configure, client, provider):
    configure(CACHE_TIERS="memory")
    body = responses_body(question(), max_output_tokens=2)

    answers = [client.call("POST", "/v1/responses", body) for _ in range(2)]

    assert [a.cache for a in answers] == ["MISS", "MISS"] and answers[0].json()["status"] == "incomplete"


# ----- Messages API -------------------------------------------------------------------------------------------------
def test_given_a_messages_request_twice_when_answered_then_miss_then_hit_and_the_key_is_scoped_to_the_caller(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")
    body = messages_body(question())

    first = anthropic_call(client, body)
    by_bearer = client.call("POST", "/v1/messages", body, headers=ANTHROPIC, api_key="sk-ant-tenant-a")
    other = anthropic_call(client, body, key="sk-ant-tenant-b")

    assert (first.status, first.cache, by_bearer.cache, other.cache) == (200, "MISS", "HIT", "MISS")
    assert by_bearer.body == first.body and first.json()["stop_reason"] == "end_turn"
    assert provider.count("POST /v1/messages") == 2
    sent = provider.requests("POST /v1/messages")[0]["headers"]
    assert sent["x-api-key"] == "***nt-a" and sent["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent


def test_given_another_anthropic_version_when_asked_then_it_is_another_entry(configure, client, provider):
    configure(CACHE_TIERS="memory")
    body = messages_body(question())

    first = anthropic_call(client, body)
    other = anthropic_call(client, body, headers={"anthropic-version": "2024-01-01"})

    assert (first.cache, other.cache) == ("MISS", "MISS")
    assert first.headers["x-cache-key"] != other.headers["x-cache-key"]


def test_given_a_streamed_messages_miss_when_asked_again_then_a_replay_with_anthropics_named_events(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")
    body = messages_body(question(), stream=True)

    miss = anthropic_call(client, body)
    hit = anthropic_call(client, body)
    plain = anthropic_call(client, {**body, "stream": False})

    assert (miss.cache, hit.cache, plain.cache) == ("MISS", "HIT", "HIT")
    names = [e.name for e in iter_sse_events([miss.body])]
    assert names[:3] == ["message_start", "content_block_start", "ping"] and names[-1] == "message_stop"
    replayed = [e.name for e in iter_sse_events([hit.body])]
    assert replayed[0] == "message_start" and replayed[-1] == "message_stop"
    assert plain.json()["content"][0]["text"].startswith("offline answer to: ")
    assert provider.count("POST /v1/messages") == 1


@pytest.mark.parametrize(
    ("body", "key", "status", "kind"),
    [
        (
            {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]},
            "sk-ant-1",
            400,
            "invalid_request_error",
        ),
        (messages_body("hi"), None, 401, "authentication_error"),
        (messages_body("hi", model="fake-error-529"), "sk-ant-1", 529, "overloaded_error"),
    ],
)
def test_given_a_bad_request_or_a_provider_error_on_messages_when_answered_then_anthropics_envelope(
    configure, client, body, key, status, kind
):
    configure(CACHE_TIERS="memory")

    answer = anthropic_call(client, body, key=key)

    assert answer.status == status, answer.body
    envelope = answer.json()
    assert envelope["type"] == "error" and envelope["error"]["type"] == kind
    assert len(envelope["error"]["message"]) > 5


def test_given_a_body_over_the_limit_on_messages_when_posted_then_413_in_anthropics_envelope(configure, client):
    configure(CACHE_TIERS="memory", MAX_REQUEST_BYTES="1000")

    answer = anthropic_call(client, messages_body("x" * 2000))

    assert answer.status == 413 and answer.json()["error"]["type"] == "request_too_large"


# ----- everything else under /v1/ -----------------------------------------------------------------------------------
def test_given_the_models_route_when_called_then_the_providers_list_passes_through_as_bypass(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")

    answer = client.call("GET", "/v1/models?limit=2&order=asc&tag=a&tag=b")

    assert answer.status == 200 and answer.cache == "BYPASS" and "x-cache-key" not in answer.headers
    assert answer.json()["object"] == "list" and answer.json()["data"]
    recorded = provider.requests("GET /v1/models")[-1]
    assert recorded["query"] == "limit=2&order=asc&tag=a&tag=b"


def test_given_a_passed_on_request_when_relayed_then_only_allowlisted_headers_go_up(configure, client, provider):
    configure(CACHE_TIERS="memory")
    headers = {
        "OpenAI-Beta": "assistants=v2",
        "X-Custom-Trace": "t-1",
        "Proxy-Authorization": "Basic secret",
        "TE": "trailers",
        "X-Cache-TTL": "60",
    }

    answer = client.call("POST", "/v1/moderations", {"input": "hello"}, headers=headers)

    assert answer.status == 200 and answer.cache == "BYPASS" and answer.json()["results"][0]["flagged"] is False
    sent = provider.requests("POST /v1/moderations")[-1]
    assert sent["headers"]["openai-beta"] == "assistants=v2"
    assert sent["headers"]["authorization"] == "***nt-a" and sent["body"] == {"input": "hello"}
    # An allowlist since issue #22 (finding 22.7): unknown headers stay here too.
    assert not {"proxy-authorization", "te", "x-cache-ttl", "x-custom-trace"} & set(sent["headers"])


def test_given_a_multipart_upload_when_passed_on_then_the_provider_gets_the_form_as_sent(configure, client, provider):
    configure(CACHE_TIERS="memory")
    boundary = "llmcache-test-boundary"
    content = bytes(range(256)) * 4  # not UTF-8: the event carries it base64, the provider gets the bytes
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )

    answer = client.call(
        "POST", "/v1/files", raw=form, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )

    assert answer.status == 200 and answer.cache == "BYPASS", answer.body
    assert answer.json()["bytes"] == len(content) and answer.json()["filename"] == "data.bin"


def test_given_count_tokens_when_called_then_it_goes_to_anthropic_with_its_credential(configure, client, provider):
    configure(CACHE_TIERS="memory")

    answer = client.call(
        "POST",
        "/v1/messages/count_tokens",
        {"model": "claude-x", "messages": [{"role": "user", "content": "hi there"}]},
        headers={**ANTHROPIC, "x-api-key": "sk-ant-count"},
        api_key=None,
    )

    assert answer.status == 200 and answer.cache == "BYPASS" and answer.json()["input_tokens"] > 0
    assert provider.requests("POST /v1/messages/count_tokens")[-1]["headers"]["x-api-key"] == "***ount"


def test_given_an_unknown_v1_path_when_called_then_the_providers_own_404_passes_through(configure, client):
    configure(CACHE_TIERS="memory")

    answer = client.call("POST", "/v1/no-such-route", {"a": 1})

    assert answer.status == 404 and answer.cache == "BYPASS" and "Invalid URL" in answer.json()["error"]["message"]


def test_given_no_credential_on_a_passed_on_path_when_called_then_401_and_the_provider_is_not_asked(
    configure, client, provider
):
    configure(CACHE_TIERS="memory")

    answer = client.call("GET", "/v1/models", api_key=None)

    assert answer.status == 401 and answer.json()["error"]["code"] == "missing_api_key"
    assert provider.count("GET /v1/models") == 0


def test_given_a_body_over_the_limit_on_a_passed_on_path_when_posted_then_413(configure, client, provider):
    configure(CACHE_TIERS="memory", MAX_REQUEST_BYTES="1000")

    answer = client.call("POST", "/v1/moderations", {"input": "x" * 2000})

    assert answer.status == 413 and answer.json()["error"]["code"] == "request_too_large"
    assert provider.count("POST /v1/moderations") == 0


def test_given_a_deployment_with_api_gateway_keys_when_messages_are_asked_then_x_api_key_is_not_taken_as_anthropics(
    configure, provider
):
    # API Gateway's API keys travel in `x-api-key` too: there it picked the tenant, and the Anthropic key comes
    # as a bearer token (what the anthropic SDK sends for `api_key`). The gateway's key never goes upstream.
    from llmcache.api.proxy_events import LocalLambdaContext, request_to_event, result_to_response
    from llmcache.handler import lambda_handler

    configure(CACHE_TIERS="memory")
    headers = [
        ("x-api-key", "apigw-key-value-1234"),
        ("Authorization", "Bearer sk-ant-real-5678"),
        ("anthropic-version", "2023-06-01"),
        ("Content-Type", "application/json"),
    ]
    event = request_to_event("POST", "/v1/messages", headers, json.dumps(messages_body(question())).encode())
    event["requestContext"]["identity"]["apiKeyId"] = "key-one"

    answer = result_to_response(lambda_handler(event, LocalLambdaContext()))

    assert answer.status == 200, answer.body
    sent = provider.requests("POST /v1/messages")[-1]["headers"]
    assert sent["x-api-key"] == "***5678" and "authorization" not in sent
