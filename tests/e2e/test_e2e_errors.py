"""Error answers of the local gateway over raw HTTP: status, OpenAI envelope, nothing stored."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest
from tests.e2e.clients import GENEROUS_TIMEOUT, assert_openai_error, chat_body, post
from tests.servers import FakeProvider, GatewayProcess

CHAT = "POST /v1/chat/completions"


def test_given_a_body_that_is_not_json_when_posted_then_400(gw: GatewayProcess) -> None:
    response = post(gw, "/v1/chat/completions", content=b"{this is not json")

    assert_openai_error(response, 400)


def test_given_a_chat_body_without_messages_when_posted_then_400_naming_the_field(gw: GatewayProcess) -> None:
    response = post(gw, "/v1/chat/completions", {"model": "gpt-4o-mini"})

    error = assert_openai_error(response, 400)
    assert "messages" in error["message"]


def test_given_no_credential_when_posted_then_401(gw: GatewayProcess, prompt: str) -> None:
    response = post(gw, "/v1/chat/completions", chat_body(prompt), api_key=None)

    assert_openai_error(response, 401)


def test_given_an_unknown_route_when_called_then_404(gw: GatewayProcess) -> None:
    response = post(gw, "/v1/no-such-route", {"model": "gpt-4o-mini"})

    assert_openai_error(response, 404)


def test_given_a_chat_route_when_called_with_get_then_405(gw: GatewayProcess) -> None:
    # Under /v1/ another method is passed on (OpenAI lists stored completions on GET); unprefixed, it is ours.
    headers = {"Authorization": "Bearer sk-tenant-a"}
    response = httpx.get(f"{gw.url}/chat/completions", headers=headers, timeout=GENEROUS_TIMEOUT)

    assert_openai_error(response, 405)


def test_given_a_body_over_max_request_bytes_when_posted_then_413(gw: GatewayProcess) -> None:
    # Default MAX_REQUEST_BYTES is 6 MiB; this is valid JSON just above it, under API Gateway's 10 MB.
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "' + b"x" * 6_400_000 + b'"}]}'

    response = post(gw, "/v1/chat/completions", content=body)

    assert_openai_error(response, 413)


def test_given_an_absurd_content_length_when_posted_then_413_before_the_body_is_read(gw: GatewayProcess) -> None:
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer sk-tenant-a\r\n"
        b"Content-Type: application/json\r\nContent-Length: 500000000\r\n\r\n{"
    )
    with socket.create_connection((gw.host, gw.port), timeout=GENEROUS_TIMEOUT) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b'"error"' in body and b"request_too_large" in body


def test_given_the_upstream_fails_with_500_when_asked_twice_then_passed_through_and_never_stored(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    before = fake_provider.count(CHAT)

    first = post(gw, "/v1/chat/completions", chat_body(prompt, model="fake-error-500"))
    second = post(gw, "/v1/chat/completions", chat_body(prompt, model="fake-error-500"))

    error = assert_openai_error(first, 500)
    assert error["message"].startswith("The server had an error")  # the provider's own body
    assert_openai_error(second, 500)
    assert second.headers.get("x-cache") != "HIT"
    assert fake_provider.count(CHAT) == before + 2


def test_given_the_upstream_rate_limits_when_asked_then_429_passed_through(gw: GatewayProcess, prompt: str) -> None:
    response = post(gw, "/v1/chat/completions", chat_body(prompt, model="fake-error-429"))

    assert_openai_error(response, 429)


@pytest.mark.parametrize("model", ["fake-garbage", "fake-drop", "fake-broken-stream"])
def test_given_an_unreadable_upstream_answer_when_asked_then_502(gw: GatewayProcess, prompt: str, model: str) -> None:
    response = post(gw, "/v1/chat/completions", chat_body(prompt, model=model))

    assert_openai_error(response, 502)


def test_given_an_upstream_answer_without_choices_when_asked_twice_then_it_is_never_a_hit(
    gw: GatewayProcess, fake_provider: FakeProvider, prompt: str
) -> None:
    before = fake_provider.count(CHAT)

    first = post(gw, "/v1/chat/completions", chat_body(prompt, model="fake-no-choices"))
    second = post(gw, "/v1/chat/completions", chat_body(prompt, model="fake-no-choices"))

    assert first.status_code != 500 and second.status_code != 500
    assert second.headers.get("x-cache") != "HIT"
    assert fake_provider.count(CHAT) == before + 2


def test_given_an_unreachable_upstream_when_asked_then_502(gateway: Callable[..., GatewayProcess], prompt: str) -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    gw_dead = gateway(
        {"UPSTREAM_BASE_URL": f"http://127.0.0.1:{dead}/v1", "CACHE_TIERS": "memory"}, name="gateway-dead"
    )

    response = post(gw_dead, "/v1/chat/completions", chat_body(prompt))

    assert_openai_error(response, 502)


def test_given_a_slow_upstream_when_the_read_timeout_passes_then_504(
    gateway: Callable[..., GatewayProcess], prompt: str
) -> None:
    gw_timeout = gateway({"UPSTREAM_READ_TIMEOUT": "0.5", "CACHE_TIERS": "memory"}, name="gateway-timeout")

    response = post(gw_timeout, "/v1/chat/completions", chat_body(prompt, model="fake-slow-2000"))

    assert_openai_error(response, 504)


def test_given_a_plain_answer_when_served_by_uvicorn_then_it_carries_its_length_not_chunks(
    gw: GatewayProcess, prompt: str
) -> None:
    for expected in ("MISS", "HIT"):
        response = post(gw, "/v1/chat/completions", chat_body(prompt))

        assert response.status_code == 200 and response.headers["x-cache"] == expected
        assert response.headers["content-length"] == str(len(response.content))
        assert "transfer-encoding" not in response.headers
