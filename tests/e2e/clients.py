"""Clients the e2e tests drive the gateway with."""

from __future__ import annotations

import re
from typing import Any

import httpx
from openai import OpenAI
from tests.servers import GatewayProcess

HEX64 = re.compile(r"^[0-9a-f]{64}$")


# Where time is not what a test is about, a client waits long enough for a loaded 2-core machine
# running the whole suite (a slow answer is not a wrong one). Tests of timeouts set their own.
GENEROUS_TIMEOUT = 60.0
# Loading the local embedding model on a loaded machine can take minutes.
WARM_UP_TIMEOUT = 300.0


def sdk(gateway: GatewayProcess, api_key: str = "sk-tenant-a") -> OpenAI:
    """The official OpenAI SDK pointed at the gateway; no retries, so each call is one request."""
    return OpenAI(base_url=gateway.api_base, api_key=api_key, max_retries=0, timeout=GENEROUS_TIMEOUT)


def warm(gateway: GatewayProcess, api_key: str = "sk-warm-up") -> GatewayProcess:
    """One request that loads what the gateway loads lazily (the embedding model in semantic mode), so
    that no later call under test waits on it. Its own tenant: nothing it stores is seen by the tests.

    Its answer is not what matters: on a loaded machine the load can outlast the request's deadline (a 504),
    and the model is loaded all the same. What matters is that the gateway answered at all."""
    response = post(
        gateway, "/v1/chat/completions", chat_body("warm-up question"), api_key=api_key, timeout=WARM_UP_TIMEOUT
    )
    assert response.status_code in (200, 504), response.text
    return gateway


def chat_body(content: str, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def post(
    gateway: GatewayProcess,
    path: str,
    body: Any = None,
    *,
    api_key: str | None = "sk-tenant-a",
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = GENEROUS_TIMEOUT,
) -> httpx.Response:
    sent = dict(headers or {})
    if api_key is not None:
        sent["Authorization"] = f"Bearer {api_key}"
    if content is None and body is not None:
        return httpx.post(gateway.url + path, json=body, headers=sent, timeout=timeout)
    sent.setdefault("Content-Type", "application/json")
    return httpx.post(gateway.url + path, content=content, headers=sent, timeout=timeout)


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The answer has `status` and OpenAI's error envelope with a message a person can act on."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["message"], str) and len(error["message"]) > 10, error
    assert isinstance(error["type"], str) and error["type"], error
    assert "code" in error, error
    assert "Traceback" not in response.text
    return error
