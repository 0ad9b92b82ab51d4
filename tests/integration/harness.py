"""Feed API Gateway REST events to the real Lambda handler, configured by environment like Lambda."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.connection.base import Connection

from llmcache.local.events import LocalLambdaContext, request_to_event, result_to_response


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

    def __init__(self, api_key: str = "sk-tenant-a") -> None:
        self.api_key = api_key

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
        from llmcache.handler import lambda_handler

        sent = dict(headers or {})
        key = self.api_key if api_key == "default" else api_key
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        event = request_to_event(method, path, list(sent.items()), raw or b"")
        response = result_to_response(lambda_handler(event, LocalLambdaContext()))
        return Answer(response.status, {k.lower(): v for k, v in response.headers}, response.body)

    def chat(
        self, content: str = "hello", *, model: str = "gpt-4o-mini", extra: dict[str, Any] | None = None, **kwargs: Any
    ) -> Answer:
        body = {"model": model, "messages": [{"role": "user", "content": content}], **(extra or {})}
        return self.call("POST", "/v1/chat/completions", body, **kwargs)


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
