"""Amazon Bedrock Runtime through the gateway, driven by boto3's `bedrock-runtime` client (its real serializer,
SigV4 signer and event-stream parser) with `endpoint_url` set to the gateway, through both entry points: the
ASGI app under uvicorn (`make run`) and the Lambda handler (behind a small HTTP server that does what API
Gateway does). The upstream is the offline provider's Bedrock, which checks the gateway's signatures."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError
from tests.integration.harness import serving
from tests.servers import wait_until

from llmcache import asgi, wiring
from llmcache.api.proxy_events import LocalLambdaContext, request_to_event, result_to_response
from llmcache.local import fake_bedrock
from llmcache.local.fake_provider import FakeProvider

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
ENCODED = MODEL.replace(":", "%3A")


class _HandlerDoor(BaseHTTPRequestHandler):
    """HTTP in, an API Gateway REST proxy event to `lambda_handler`, its proxy response out (buffered).

    With `api_keys`, it also does what a deployment's API Gateway does with its API keys: a request without
    a known `x-api-key` gets API Gateway's 403, one with a key carries that key's id in the request context."""

    protocol_version = "HTTP/1.1"
    api_keys: dict[str, str] = {}

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        from llmcache.handler import lambda_handler

        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        event = request_to_event(self.command, self.path, list(self.headers.items()), body)
        if self.api_keys:
            key_id = self.api_keys.get(self.headers.get("x-api-key", ""))
            if key_id is None:
                return self._send(403, [("Content-Type", "application/json")], b'{"message":"Forbidden"}')
            event["requestContext"]["identity"]["apiKeyId"] = key_id
        response = result_to_response(lambda_handler(event, LocalLambdaContext()))
        self._send(response.status, response.headers, response.body)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _serve


@contextmanager
def _door(handler: type[_HandlerDoor]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["asgi", "handler"])
def gateway(request: pytest.FixtureRequest, configure: Any, provider: FakeProvider) -> Iterator[str]:
    """The gateway (BEDROCK_AUTH=iam) behind each entry point: uvicorn as `make run` runs it, and the handler."""
    configure(CACHE_TIERS="memory", BEDROCK_BASE_URL=provider.url)
    with serving(asgi.app) if request.param == "asgi" else _door(_HandlerDoor) as url:
        yield url


def _client(url: str, access_key: str = "AKIATENANTA") -> Any:
    """boto3 exactly as a user configures it for the local gateway: SigV4 with the user's own credentials."""
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key="a-secret-the-gateway-never-sees",
        config=Config(retries={"total_max_attempts": 1}),
    )


def _question(text: str = "What is the capital of France?") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": f"{text} [{uuid.uuid4().hex[:8]}]"}]}]


def _cache(response: dict[str, Any]) -> str:
    return str(response["ResponseMetadata"]["HTTPHeaders"].get("x-cache"))


def _calls(provider: FakeProvider, operation: str) -> int:
    return provider.count(f"POST /model/{ENCODED}/{operation}")


def _stream_text(events: list[dict[str, Any]]) -> str:
    return "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)


def _kinds(events: list[dict[str, Any]]) -> list[str]:
    return [next(iter(event)) for event in events]


# ----- Converse ------------------------------------------------------------------------------------------------
def test_given_a_converse_call_when_asked_twice_then_miss_then_hit_with_one_signed_provider_call(
    gateway: str, provider: FakeProvider
) -> None:
    bedrock, messages = _client(gateway), _question()

    first = bedrock.converse(modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": 200})
    second = bedrock.converse(modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": 200})

    assert (_cache(first), _cache(second)) == ("MISS", "HIT")
    assert second["output"] == first["output"] and second["usage"] == first["usage"]
    assert first["output"]["message"]["content"][0]["text"].startswith("offline answer to: What is the capital")
    assert _calls(provider, "converse") == 1
    [call] = provider.requests(f"POST /model/{ENCODED}/converse")
    auth = json.loads(call["headers"][fake_bedrock.AUTH_RECORD_HEADER])
    # Signed by the gateway itself (the fake knows its test credentials and checked the signature), not the client
    assert (auth["scheme"], auth["service"], auth["access_key"], auth["verified"]) == (
        "sigv4",
        "bedrock",
        "testing",
        True,
    )


def test_given_a_converse_stream_when_asked_twice_then_the_hit_replays_frames_botocore_reads_the_same(
    gateway: str, provider: FakeProvider
) -> None:
    bedrock, messages = _client(gateway), _question()

    first = bedrock.converse_stream(modelId=MODEL, messages=messages)
    missed = list(first["stream"])
    second = bedrock.converse_stream(modelId=MODEL, messages=messages)
    replayed = list(second["stream"])

    assert (_cache(first), _cache(second)) == ("MISS", "HIT")
    assert _stream_text(replayed) == _stream_text(missed) != ""
    kinds = _kinds(replayed)
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert [k for i, k in enumerate(_kinds(missed)) if i == 0 or k != _kinds(missed)[i - 1]] == [
        k for i, k in enumerate(kinds) if i == 0 or k != kinds[i - 1]
    ]
    assert replayed[-1]["metadata"]["usage"] == missed[-1]["metadata"]["usage"]
    assert _calls(provider, "converse-stream") == 1


def test_given_a_streamed_answer_when_asked_plainly_then_it_is_served_and_the_reverse_too(
    gateway: str, provider: FakeProvider
) -> None:
    bedrock = _client(gateway)
    streamed_first, plain_first = _question(), _question()

    streamed = list(bedrock.converse_stream(modelId=MODEL, messages=streamed_first)["stream"])
    plain = bedrock.converse(modelId=MODEL, messages=streamed_first)
    bedrock.converse(modelId=MODEL, messages=plain_first)
    replay = bedrock.converse_stream(modelId=MODEL, messages=plain_first)

    assert _cache(plain) == "HIT" and plain["output"]["message"]["content"][0]["text"] == _stream_text(streamed)
    assert _cache(replay) == "HIT" and _stream_text(list(replay["stream"])).startswith("offline answer to:")
    assert _calls(provider, "converse-stream") == 1 and _calls(provider, "converse") == 1


def test_given_another_tenant_when_it_asks_the_same_then_it_sees_nothing_of_the_first(
    gateway: str, provider: FakeProvider
) -> None:
    messages = _question()

    _client(gateway, "AKIATENANTA").converse(modelId=MODEL, messages=messages)
    other = _client(gateway, "AKIATENANTB").converse(modelId=MODEL, messages=messages)

    assert _cache(other) == "MISS" and _calls(provider, "converse") == 2


@pytest.mark.parametrize(
    "fault", ["broken-stream", "exception-throttlingException", "exception-modelStreamErrorException"]
)
def test_given_a_cut_stream_or_an_exception_event_when_relayed_then_nothing_is_stored(
    gateway: str, provider: FakeProvider, fault: str
) -> None:
    bedrock, messages = _client(gateway), _question()
    provider.set_fault(fault)

    with pytest.raises(ClientError) as raised:  # EventStreamError mid-stream; the buffered door's whole 502
        list(bedrock.converse_stream(modelId=MODEL, messages=messages)["stream"])
    # Asked plainly (the same entry): a streamed retry could still join the broken stream's flight while the
    # gateway closes it, which is coalescing's business, not what this test is about.
    again = bedrock.converse(modelId=MODEL, messages=messages)

    # The provider's exception as it sent it; a cut stream as the gateway's own: an exception event once the
    # status was sent (uvicorn), the whole 502 in Bedrock's envelope when buffered (the Lambda handler).
    expected = fault.removeprefix("exception-") if fault.startswith("exception-") else "serviceUnavailableException"
    assert raised.value.response["Error"]["Code"].lower() == expected.lower()
    assert _cache(again) == "MISS" and again["stopReason"] == "end_turn"
    assert _calls(provider, "converse-stream") == 1 and _calls(provider, "converse") == 1


@pytest.mark.parametrize("reason", ["max_tokens", "guardrail_intervened", "content_filtered"])
def test_given_an_answer_cut_or_filtered_when_answered_then_it_is_passed_on_and_not_stored(
    gateway: str, provider: FakeProvider, reason: str
) -> None:
    bedrock, messages = _client(gateway), _question()
    provider.set_fault(f"stop-{reason}")

    first = bedrock.converse(modelId=MODEL, messages=messages)
    second = bedrock.converse(modelId=MODEL, messages=messages)

    assert first["stopReason"] == reason and (_cache(first), _cache(second)) == ("MISS", "MISS")


def test_given_a_cache_point_or_request_metadata_when_added_then_the_entry_is_the_same(gateway: str) -> None:
    bedrock, messages = _client(gateway), _question()
    system = [{"text": "You answer in one line."}]

    bedrock.converse(modelId=MODEL, messages=messages, system=system)
    marked = bedrock.converse(
        modelId=MODEL,
        messages=messages,
        system=[*system, {"cachePoint": {"type": "default"}}],
        requestMetadata={"team": "search"},
    )

    assert _cache(marked) == "HIT"


# ----- InvokeModel ---------------------------------------------------------------------------------------------
def _anthropic_body(text: str) -> str:
    return json.dumps(
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200, "messages": [{"role": "user", "content": text}]}
    )


def test_given_an_invoke_when_asked_twice_then_the_models_own_json_is_served_from_the_cache(
    gateway: str, provider: FakeProvider
) -> None:
    bedrock, body = _client(gateway), _anthropic_body(f"Hello [{uuid.uuid4().hex[:8]}]")

    first = bedrock.invoke_model(modelId=MODEL, body=body)
    first_body = first["body"].read()
    second = bedrock.invoke_model(modelId=MODEL, body=body)

    assert (_cache(first), _cache(second)) == ("MISS", "HIT")
    assert second["body"].read() == first_body and json.loads(first_body)["stop_reason"] == "end_turn"
    assert second["contentType"] == "application/json"
    assert _calls(provider, "invoke") == 1


def test_given_an_invoke_stream_when_asked_twice_then_the_hit_replays_the_same_chunks(
    gateway: str, provider: FakeProvider
) -> None:
    bedrock, body = _client(gateway), _anthropic_body(f"Hello [{uuid.uuid4().hex[:8]}]")

    first = bedrock.invoke_model_with_response_stream(modelId=MODEL, body=body)
    missed = [json.loads(e["chunk"]["bytes"]) for e in first["body"]]
    second = bedrock.invoke_model_with_response_stream(modelId=MODEL, body=body)
    replayed = [json.loads(e["chunk"]["bytes"]) for e in second["body"]]

    assert (_cache(first), _cache(second)) == ("MISS", "HIT")
    assert replayed == missed and [c["type"] for c in replayed][-1] == "message_stop"
    assert second["contentType"] == first["contentType"] == "application/json"
    assert _calls(provider, "invoke-with-response-stream") == 1 and _calls(provider, "invoke") == 0


def test_given_an_invoke_stream_cut_by_an_exception_when_relayed_then_it_is_not_stored(
    gateway: str, provider: FakeProvider
) -> None:
    bedrock, body = _client(gateway), _anthropic_body(f"Hello [{uuid.uuid4().hex[:8]}]")
    provider.set_fault("exception-modelStreamErrorException")

    with pytest.raises(EventStreamError):
        list(bedrock.invoke_model_with_response_stream(modelId=MODEL, body=body)["body"])
    # The client saw the exception event before the gateway closed that stream: a retry at once could still join
    # the broken stream's flight (coalescing's business, not this test's), so the retry waits for it to land.
    wait_until(lambda: not wiring.engine().flights._flights, what="the broken stream's flight to land")
    again = bedrock.invoke_model_with_response_stream(modelId=MODEL, body=body)

    assert _cache(again) == "MISS" and list(again["body"])


# ----- errors, passed-on calls, credentials --------------------------------------------------------------------
def test_given_a_provider_error_when_answered_then_boto3_raises_bedrocks_own_error_and_nothing_is_stored(
    gateway: str, provider: FakeProvider
) -> None:
    bedrock, messages = _client(gateway), _question()
    provider.set_fault("error-429")

    with pytest.raises(ClientError) as raised:
        bedrock.converse(modelId=MODEL, messages=messages)

    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert _cache(bedrock.converse(modelId=MODEL, messages=messages)) == "MISS"


def test_given_a_bad_request_when_refused_by_the_gateway_then_it_is_in_bedrocks_envelope(gateway: str) -> None:
    response = httpx.post(
        f"{gateway}/model/{ENCODED}/converse",
        content=b"not json",
        headers={"Authorization": "Bearer some-key", "Content-Type": "application/json"},
    )

    assert response.status_code == 400 and set(response.json()) == {"message"}
    assert response.headers["x-amzn-errortype"] == "ValidationException"


def test_given_count_tokens_when_called_then_it_is_passed_on_signed_with_bypass(
    gateway: str, provider: FakeProvider
) -> None:
    answer = _client(gateway).count_tokens(modelId=MODEL, input={"converse": {"messages": _question()}})

    assert answer["inputTokens"] > 0 and _cache(answer) == "BYPASS"
    [call] = provider.requests(f"POST /model/{ENCODED}/count-tokens")
    assert json.loads(call["headers"][fake_bedrock.AUTH_RECORD_HEADER])["verified"] is True


def test_given_an_async_invoke_under_iam_when_called_then_it_is_refused_with_the_reason(gateway: str) -> None:
    with pytest.raises(ClientError) as raised:
        _client(gateway).list_async_invokes()

    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "BEDROCK_AUTH=passthrough" in raised.value.response["Error"]["Message"]


@pytest.fixture
def passthrough_gateway(configure: Any, provider: FakeProvider) -> Iterator[str]:
    # Anthropic on a host of its own (the fake answers both): the table tells providers apart by host too.
    anthropic = provider.url.replace("127.0.0.1", "localhost")
    configure(
        CACHE_TIERS="memory", BEDROCK_BASE_URL=provider.url, BEDROCK_AUTH="passthrough", ANTHROPIC_BASE_URL=anthropic
    )
    with serving(asgi.app) as url:
        yield url


def test_given_passthrough_when_a_client_sends_its_bedrock_api_key_then_that_key_goes_up_and_picks_the_tenant(
    passthrough_gateway: str, provider: FakeProvider
) -> None:
    # botocore sends bearer tokens over https only: a raw HTTP client stands in for it on plain http.
    body = {"messages": _question()}

    def ask(key: str) -> httpx.Response:
        return httpx.post(
            f"{passthrough_gateway}/model/{ENCODED}/converse", json=body, headers={"Authorization": f"Bearer {key}"}
        )

    first, again, other = (
        ask("ABSKkey-of-tenant-a-1234"),
        ask("ABSKkey-of-tenant-a-1234"),
        ask("ABSKkey-of-tenant-b-9876"),
    )

    assert (first.headers["x-cache"], again.headers["x-cache"], other.headers["x-cache"]) == ("MISS", "HIT", "MISS")
    calls = [
        json.loads(c["headers"][fake_bedrock.AUTH_RECORD_HEADER])
        for c in provider.requests(f"POST /model/{ENCODED}/converse")
    ]
    assert calls == [{"scheme": "bearer", "key": "***1234"}, {"scheme": "bearer", "key": "***9876"}]


def test_given_passthrough_when_a_client_only_signs_then_it_is_told_to_send_its_key(passthrough_gateway: str) -> None:
    with pytest.raises(ClientError) as raised:
        _client(passthrough_gateway).converse(modelId=MODEL, messages=_question())

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert "Authorization: Bearer" in raised.value.response["Error"]["Message"]


class _ApiGatewayDoor(_HandlerDoor):
    api_keys = {"key-of-team-a": "apikeyid-a", "key-of-team-b": "apikeyid-b"}


@pytest.fixture
def deployed(configure: Any, provider: FakeProvider) -> Iterator[str]:
    configure(CACHE_TIERS="memory", BEDROCK_BASE_URL=provider.url)
    with _door(_ApiGatewayDoor) as url:
        yield url


def _unsigned(url: str, api_key: str) -> Any:
    """The client of docs/apis.md for a deployment: no AWS credentials, API Gateway's key added by a hook."""
    from botocore import UNSIGNED

    bedrock = boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )
    bedrock.meta.events.register(
        "before-call.bedrock-runtime.*", lambda params, **_: params["headers"].update({"x-api-key": api_key})
    )
    return bedrock


def test_given_a_deployment_with_api_keys_when_the_documented_hook_adds_the_key_then_it_picks_the_tenant(
    deployed: str, provider: FakeProvider
) -> None:
    messages = _question()

    first = _unsigned(deployed, "key-of-team-a").converse(modelId=MODEL, messages=messages)
    again = _unsigned(deployed, "key-of-team-a").converse(modelId=MODEL, messages=messages)
    other = _unsigned(deployed, "key-of-team-b").converse(modelId=MODEL, messages=messages)

    assert (_cache(first), _cache(again), _cache(other)) == ("MISS", "HIT", "MISS")
    calls = provider.requests(f"POST /model/{ENCODED}/converse")
    assert [json.loads(c["headers"][fake_bedrock.AUTH_RECORD_HEADER])["verified"] for c in calls] == [True, True]
    assert all("key-of-team" not in json.dumps(c["headers"]) for c in calls)  # API Gateway's key stays here


def test_given_passthrough_when_a_client_sends_an_anthropic_key_then_it_never_reaches_bedrock(
    passthrough_gateway: str, provider: FakeProvider
) -> None:
    response = httpx.post(
        f"{passthrough_gateway}/model/{ENCODED}/converse",
        json={"messages": _question()},
        headers={"Authorization": "Bearer sk-ant-api03-secret"},
    )

    assert response.status_code == 401 and response.headers["x-amzn-errortype"] == "UnrecognizedClientException"
    assert provider.requests(f"POST /model/{ENCODED}/converse") == []


@pytest.mark.parametrize(
    "path",
    [
        "/guardrail/..%2F..%2Fmodel/version/1/apply",
        "/guardrail/g1/version/1%3Fx%3D1/apply",
        "/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aasync-invoke%2F..%2F..",
        "/model/m/..%2F..%2Fasync-invoke",
    ],
)
def test_given_a_bedrock_path_that_would_climb_or_smuggle_when_passed_on_then_it_is_refused_unsent(
    passthrough_gateway: str, provider: FakeProvider, path: str
) -> None:
    response = httpx.post(f"{passthrough_gateway}{path}", json={}, headers={"Authorization": "Bearer ABSKkey-1234"})

    assert response.status_code in (400, 404) and set(response.json()) == {"message"}
    assert provider.stats()["total"] == 0


# ----- Bedrock's OpenAI- and Anthropic-shaped endpoints as the other dialects' upstreams --------------------------
@pytest.mark.parametrize(
    ("route", "body", "headers"),
    [
        (
            "/v1/chat/completions",
            {"model": "openai.gpt-oss-120b-1:0", "messages": [{"role": "user", "content": "Hi"}]},
            {},
        ),
        (
            "/v1/messages",
            {"model": "anthropic.claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]},
            {"anthropic-version": "2023-06-01"},
        ),
    ],
)
def test_given_bedrocks_openai_or_anthropic_endpoint_as_upstream_under_iam_when_asked_then_the_gateway_signs_it(
    configure: Any,
    provider: FakeProvider,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    route: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> None:
    # The offline provider stands in for bedrock-runtime.us-east-1.amazonaws.com/openai/v1 and bedrock-mantle's
    # /anthropic: what the gateway does for those hosts (upstream.bedrock_endpoint), it does for the provider.
    monkeypatch.setattr("llmcache.upstream.bedrock_endpoint", lambda url: ("bedrock", "us-east-1"))
    configure(CACHE_TIERS="memory", UPSTREAM_BASE_URL=provider.base_url, ANTHROPIC_BASE_URL=provider.url)

    first = client.call("POST", route, body, headers=headers)
    again = client.call("POST", route, body, headers=headers)

    assert (first.status, first.cache, again.cache) == (200, "MISS", "HIT")
    [call] = provider.requests(f"POST {route}")
    auth = json.loads(call["headers"][fake_bedrock.AUTH_RECORD_HEADER])
    assert (auth["service"], auth["verified"]) == ("bedrock", True)
    assert "x-api-key" not in call["headers"]  # the client's key stays here: the signature is the credential


def test_given_bedrock_hosts_when_recognised_then_each_is_signed_for_its_own_service() -> None:
    from llmcache.upstream import bedrock_endpoint

    assert bedrock_endpoint("https://bedrock-runtime.eu-west-1.amazonaws.com/openai/v1") == ("bedrock", "eu-west-1")
    assert bedrock_endpoint("https://bedrock-mantle.us-east-2.api.aws/anthropic") == ("bedrock-mantle", "us-east-2")
    assert bedrock_endpoint("https://api.openai.com/v1") is None
    assert bedrock_endpoint("https://bedrock-runtime.eu-west-1.amazonaws.com.evil.example/v1") is None


def test_given_an_inference_profile_arn_as_model_id_when_conversed_then_it_reaches_bedrock_encoded_as_botocore_does(
    gateway: str, provider: FakeProvider
) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"
    messages = _question()

    first = _client(gateway).converse(modelId=arn, messages=messages)
    again = _client(gateway).converse(modelId=arn, messages=messages)

    assert (_cache(first), _cache(again)) == ("MISS", "HIT")
    [call] = [r for r in provider.requests() if r["route"].endswith("/converse")]
    assert call["route"] == "POST /model/" + arn.replace(":", "%3A").replace("/", "%2F") + "/converse"
    assert json.loads(call["headers"][fake_bedrock.AUTH_RECORD_HEADER])["verified"] is True


def test_given_a_stream_that_ends_without_its_final_events_when_relayed_then_botocore_raises_and_nothing_is_kept(
    gateway: str, provider: FakeProvider
) -> None:
    bedrock, messages = _client(gateway), _question()
    provider.set_fault("stream-no-finish")  # the provider's stream ends cleanly before messageStop and metadata

    with pytest.raises(ClientError) as raised:
        list(bedrock.converse_stream(modelId=MODEL, messages=messages)["stream"])
    again = bedrock.converse(modelId=MODEL, messages=messages)

    assert raised.value.response["Error"]["Code"] == "serviceUnavailableException"
    assert _cache(again) == "MISS"
