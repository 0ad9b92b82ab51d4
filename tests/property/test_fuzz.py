"""Property tests: keys never cross partitions, and no request, however odd, gets a 5xx."""

from __future__ import annotations

import json
import string

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmcache import keys, wiring
from llmcache.api.proxy_events import LocalLambdaContext, request_to_event, result_to_response
from llmcache.dialects.openai import canonical_request
from llmcache.settings import Settings

UPSTREAM = "http://fuzz-upstream.invalid/v1"

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
names = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=12)


@given(
    tenant_a=names,
    tenant_b=names,
    namespace_a=names,
    namespace_b=names,
    body=st.dictionaries(st.text(max_size=6), json_values, max_size=5),
)
@settings(max_examples=500, deadline=None)
def test_given_different_tenants_or_namespaces_when_keyed_then_keys_never_collide(
    tenant_a, tenant_b, namespace_a, namespace_b, body
):
    canonical = canonical_request(body)

    def key(tenant: str, namespace: str) -> str:
        return keys.request_key(
            tenant=tenant,
            namespace=namespace,
            generation="0.0",
            route="chat/completions",
            canonical=canonical,
            custom_key=None,
        )

    a, b = key(tenant_a, namespace_a), key(tenant_b, namespace_b)
    assert (a == b) == (tenant_a == tenant_b and namespace_a == namespace_b)


def _upstream_answer(request: httpx.Request) -> httpx.Response:
    """A well-formed provider, so any 5xx seen by the fuzzer is the gateway's own fault."""
    try:
        body = json.loads(request.content)
    except ValueError:
        return httpx.Response(400, json={"error": {"message": "bad json", "type": "invalid_request_error"}})
    if request.url.path.endswith("/embeddings"):
        inputs = body.get("input") if isinstance(body, dict) else None
        count = len(inputs) if isinstance(inputs, list) else 1
        data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2]} for i in range(count)]
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": data,
                "model": "m",
                "usage": {"prompt_tokens": count, "total_tokens": count},
            },
        )
    choice = {"index": 0, "message": {"role": "assistant", "content": "ok"}, "text": "ok", "finish_reason": "stop"}
    return httpx.Response(
        200,
        json={
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [choice],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        },
    )


@pytest.fixture(scope="module")
def fuzz_gateway():
    wiring.configure(
        Settings.from_env(
            {
                "CACHE_TIERS": "memory",
                "UPSTREAM_BASE_URL": UPSTREAM,
                "ADMIN_API_KEY": "admin",
                "MAX_REQUEST_BYTES": "20000",
            }
        )
    )
    with respx.mock(base_url=UPSTREAM, assert_all_called=False) as mock:
        mock.post(url__regex=r".*").mock(side_effect=_upstream_answer)
        # Every other /v1/ path and method is passed on to the provider, which answers it as an unknown route.
        mock.route(url__regex=r".*").mock(
            return_value=httpx.Response(
                404, json={"error": {"message": "Unknown request URL", "type": "invalid_request_error"}}
            )
        )
        yield
    wiring.configure(Settings())


control_headers = st.dictionaries(
    st.sampled_from(
        [
            "Cache-Control",
            "X-Cache-TTL",
            "X-Cache-Namespace",
            "X-Cache-Custom-Key",
            "X-Cache-Semantic",
            "X-Cache-Semantic-Threshold",
            "Authorization",
            "Content-Type",
            "OpenAI-Organization",
            "X-Weird-\u00e9",
        ]
    ),
    st.text(max_size=40),
    max_size=4,
)
routes = st.sampled_from(
    [
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/chat/completions",
        "/cache/flush",
        "/cache/stats",
        "/cache/entries/" + "a" * 64,
        "/health",
        "/v1/nope",
        "/",
    ]
)
methods = st.sampled_from(["POST", "POST", "POST", "GET", "PATCH", "DELETE", "PUT"])
base_fields = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "prompt": "hi", "input": "hi"}


@st.composite
def bodies(draw) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:  # a valid request with one field replaced by anything
        body = dict(base_fields)
        body[
            draw(st.sampled_from([*base_fields, "temperature", "stream", "cache", "tools", "n", "stream_options"]))
        ] = draw(json_values)
        return json.dumps(body).encode()
    if kind == 1:  # a valid request with an odd cache object
        body = {
            **base_fields,
            "cache": draw(
                st.dictionaries(
                    st.sampled_from(
                        ["no-cache", "no-store", "s-maxage", "ttl", "namespace", "cache_key", "semantic", "x"]
                    ),
                    json_values,
                    max_size=3,
                )
            ),
        }
        return json.dumps(body).encode()
    if kind == 2:  # any JSON at all
        return json.dumps(draw(json_values)).encode()
    if draw(st.booleans()):
        return b'{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":1e999}'
    return draw(st.binary(max_size=64))  # not even JSON


@given(method=methods, route=routes, headers=control_headers, body=bodies(), with_key=st.booleans())
@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
def test_given_any_request_when_handled_then_the_answer_is_2xx_or_an_error_envelope_never_5xx(
    fuzz_gateway, method, route, headers, body, with_key
):
    from llmcache.handler import lambda_handler

    sent = [(k, v) for k, v in headers.items() if k != "Authorization"]
    if with_key:
        sent.append(("Authorization", headers.get("Authorization") or "Bearer sk-fuzz"))
    event = request_to_event(method, route, sent, body)
    response = result_to_response(lambda_handler(event, LocalLambdaContext()))
    assert response.status < 500, (response.status, response.body[:300])
    if response.status >= 400:
        error = json.loads(response.body)["error"]
        assert isinstance(error["message"], str) and error["message"]
