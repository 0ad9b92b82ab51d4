"""HTTP <-> API Gateway REST proxy event translation (pure functions)."""

from __future__ import annotations

import base64
import json

import pytest

from llmcache.api.proxy_events import LocalLambdaContext, request_to_event, result_to_response


def test_given_a_post_with_query_and_repeated_headers_when_translated_then_the_event_has_the_rest_v1_shape() -> None:
    headers = [("Authorization", "Bearer sk-1"), ("X-Tag", "a"), ("X-Tag", "b"), ("Content-Type", "application/json")]

    event = request_to_event(
        "post", "/v1/chat/completions?x=1&x=2&y=", headers, b'{"a": 1}', source_ip="10.0.0.9", now=1700000000.5
    )

    assert event["resource"] == "/{proxy+}"
    assert event["path"] == "/v1/chat/completions"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"proxy": "v1/chat/completions"}
    assert event["stageVariables"] is None
    assert event["headers"]["X-Tag"] == "b"
    assert event["multiValueHeaders"]["X-Tag"] == ["a", "b"]
    assert event["headers"]["Authorization"] == "Bearer sk-1"
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert event["body"] == '{"a": 1}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "local"
    assert context["identity"]["sourceIp"] == "10.0.0.9"
    assert context["httpMethod"] == "POST"
    assert context["path"] == "/local/v1/chat/completions"
    assert context["resourcePath"] == "/{proxy+}"
    assert context["requestTimeEpoch"] == 1700000000500
    assert len(context["requestId"]) == 36


def test_given_no_query_headers_or_body_when_translated_then_those_fields_are_none() -> None:
    event = request_to_event("GET", "/health", [])

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["headers"] is None
    assert event["body"] is None


def test_given_the_root_path_when_translated_then_the_resource_is_root_without_path_parameters() -> None:
    event = request_to_event("GET", "/", [])

    assert (event["resource"], event["pathParameters"]) == ("/", None)


def test_given_a_body_that_is_not_utf8_when_translated_then_it_is_base64_encoded() -> None:
    raw = b"\xff\xfe\x00binary"

    event = request_to_event("POST", "/v1/embeddings", [], raw)

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_given_two_requests_when_translated_then_each_gets_its_own_request_id() -> None:
    first, second = request_to_event("GET", "/health", []), request_to_event("GET", "/health", [])

    assert first["requestContext"]["requestId"] != second["requestContext"]["requestId"]


def test_given_headers_and_multi_value_headers_when_the_result_is_translated_then_multi_values_win_per_name() -> None:
    result = {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Cache": "MISS", "X-One": 1},
        "multiValueHeaders": {"x-cache": ["HIT"], "Set-Cookie": ["a=1", "b=2"]},
        "body": json.dumps({"ok": True}),
    }

    response = result_to_response(result)

    assert response.status == 200
    assert response.header("X-Cache") == "HIT"
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert response.header("x-one") == "1"
    assert response.header("content-type") == "application/json"
    assert json.loads(response.body) == {"ok": True}


def test_given_a_base64_result_when_translated_then_the_body_is_decoded_bytes() -> None:
    raw = b"\x1f\x8b\x08binary"

    response = result_to_response({"statusCode": 200, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True})

    assert response.body == raw


def test_given_a_result_without_body_when_translated_then_the_body_is_empty() -> None:
    response = result_to_response({"statusCode": 204})

    assert (response.status, response.body) == (204, b"")


@pytest.mark.parametrize(
    "result",
    [
        None,
        "a string",
        {},
        {"statusCode": "abc"},
        {"statusCode": 99},
        {"statusCode": True},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "body": "@@@", "isBase64Encoded": True},
        {"statusCode": 200, "headers": ["not", "an", "object"]},
    ],
)
def test_given_a_malformed_result_when_translated_then_502_in_the_openai_envelope(result: object) -> None:
    response = result_to_response(result)

    assert response.status == 502
    error = json.loads(response.body)["error"]
    assert error["type"] == "server_error" and error["code"] == "malformed_lambda_response"


def test_given_a_context_when_time_passes_then_the_remaining_time_shrinks_and_never_goes_negative() -> None:
    context = LocalLambdaContext(timeout_seconds=0.0)

    assert context.get_remaining_time_in_millis() == 0
    fresh = LocalLambdaContext(timeout_seconds=30.0)
    assert 0 < fresh.get_remaining_time_in_millis() <= 30_000
    assert fresh.function_name and fresh.invoked_function_arn.startswith("arn:aws:lambda:")
    assert fresh.memory_limit_in_mb > 0 and fresh.aws_request_id
