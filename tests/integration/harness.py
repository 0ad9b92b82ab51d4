"""Feed API Gateway REST events to the real Lambda handler, configured by environment like Lambda."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from botocore.exceptions import ClientError
from pynamodb.connection.base import Connection

from llmcache.api.proxy_events import LocalLambdaContext, request_to_event, result_to_response


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def cache(self) -> str | None:
        return self.headers.get("x-cache")


class HandlerClient:
    """Calls `llmcache.handler.lambda_handler` the way API Gateway would."""

    live = False  # a streamed answer arrives whole (buffered): a stream that breaks is a 502/504

    def __init__(self, api_key: str = "sk-tenant-a") -> None:
        self.api_key = api_key

    def _request(
        self, body: Any, headers: dict[str, str] | None, api_key: str | None, raw: bytes | None
    ) -> tuple[dict[str, str], bytes]:
        sent = dict(headers or {})
        key = self.api_key if api_key == "default" else api_key
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        return sent, raw or b""

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        api_key: str | None = "default",
        raw: bytes | None = None,
    ) -> Answer:
        sent, content = self._request(body, headers, api_key, raw)
        return self._send(method, path, sent, content)

    def _send(self, method: str, path: str, headers: dict[str, str], content: bytes) -> Answer:
        from llmcache.handler import lambda_handler

        event = request_to_event(method, path, list(headers.items()), content)
        response = result_to_response(lambda_handler(event, LocalLambdaContext()))
        return Answer(response.status, {k.lower(): v for k, v in response.headers}, response.body)

    def chat(
        self, content: str = "hello", *, model: str = "gpt-4o-mini", extra: dict[str, Any] | None = None, **kwargs: Any
    ) -> Answer:
        body = {"model": model, "messages": [{"role": "user", "content": content}], **(extra or {})}
        return self.call("POST", "/v1/chat/completions", body, **kwargs)

    def count_tokens(self, anthropic_key: str, text: str = "hi") -> Answer:
        """Anthropic's `POST /v1/messages/count_tokens` (passed on), as the anthropic SDK sends it."""
        body = {"model": "claude-x", "messages": [{"role": "user", "content": text}]}
        headers = {"anthropic-version": "2023-06-01", "x-api-key": anthropic_key}
        return self.call("POST", "/v1/messages/count_tokens", body, headers=headers, api_key=None)


class AsgiClient(HandlerClient):
    """Calls the ASGI app `llmcache.asgi:app` over HTTP semantics (httpx's ASGI transport, no socket)."""

    live = True  # a streamed miss is relayed as it comes: a stream that breaks late ends in an error event

    def _send(self, method: str, path: str, headers: dict[str, str], content: bytes) -> Answer:
        from llmcache.asgi import app

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
                return await client.request(method, path, headers=headers, content=content, timeout=60)

        response = anyio.run(send)
        return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


@contextmanager
def serving(app: Any, **config: Any) -> Iterator[str]:
    """The ASGI `app` under uvicorn as `make run` configures it, in this process on a free port: its URL."""
    import uvicorn

    from llmcache.local.run import _listen, uvicorn_config

    listener = _listen("127.0.0.1", 0)
    running = uvicorn.Server(uvicorn_config(app, access_log=False, **config))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running.started
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        running.should_exit = True
        thread.join(timeout=10)
        listener.close()


def throttle_dynamodb(operation: str) -> Any:
    """A replacement for pynamodb's API call that throttles one DynamoDB operation (monkeypatch it in)."""
    real = Connection._make_api_call

    def failing(self: Connection, operation_name: str, operation_kwargs: Any, *args: Any, **kwargs: Any) -> Any:
        if operation_name == operation:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, operation_name
            )
        return real(self, operation_name, operation_kwargs, *args, **kwargs)

    return failing


def chat_answer(content: str, *, answer_id: str = "chatcmpl-test", model: str = "gpt-4o-mini") -> dict[str, Any]:
    """A complete, storable OpenAI chat answer, for respx to return in place of the provider."""
    return {
        "id": answer_id,
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def broken_stream_error(client: HandlerClient, answer: Answer, status: int) -> dict[str, Any]:
    """The error a client gets when the provider's stream broke after its first event. A buffered answer is the
    plain error (status `status`); a live one had already sent its 200, so the stream ends in an error event
    in OpenAI's envelope (which the openai SDKs raise on), never in `[DONE]`."""
    from llmcache.dialects.sse import iter_sse_events

    if not client.live:
        assert answer.status == status, answer.body
        return answer.json()["error"]
    assert answer.status == 200, answer.body
    events = [event.data for event in iter_sse_events([answer.body])]
    assert events and "[DONE]" not in events, answer.body[-300:]
    error = json.loads(events[-1])["error"]
    assert error["code"] == {502: "upstream_unavailable", 504: "upstream_timeout"}[status]
    return error
