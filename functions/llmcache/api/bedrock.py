"""Amazon Bedrock Runtime's paths: the four cached operations handed to the engine, the rest passed on.

`POST /model/{modelId}/converse`, `/converse-stream` (one entry for both), `/invoke` and
`/invoke-with-response-stream` are cached. Every other path of the Bedrock Runtime API (`count-tokens`,
`/guardrail/.../apply`, `/async-invoke`) is passed on uncached with `X-Cache: BYPASS`: under `BEDROCK_AUTH=iam`
it is signed with the gateway's own role, so only the stateless calls in `IAM_ALLOWED` go (the managed-mode
rule: no caller acts on the operator's account objects); under `passthrough` the client's own key goes up.

Who the client is: deployed, the API Gateway key (`x-api-key`) chose the tenant. Without one (`make run`), a
SigV4-signed client's tenant is the access key id of its credential scope (the gateway holds no client's secret
key, so it cannot check the signature: this names a local caller, it proves nothing), and a bearer token's
tenant is derived from the token as for the other APIs.
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote

from llmcache import keys, wiring
from llmcache.api import passthrough
from llmcache.api.body import parse_json_object
from llmcache.api.providers import table
from llmcache.api.stream_limits import held_while_streaming, tenant_streams
from llmcache.constants import HEADER_CACHE
from llmcache.dialects import bedrock
from llmcache.dialects.registry import dialect_for
from llmcache.errors import Forbidden, NotFound, Unauthorized
from llmcache.exchange import ClientRequest, GatewayResponse
from llmcache.observability import log_answered

CONVERSE_OPERATIONS = ("converse", "converse-stream")
STREAM_OPERATIONS = ("converse-stream", "invoke-with-response-stream")
# Passed on with the gateway's own role (BEDROCK_AUTH=iam): stateless calls only. Async invocations write to
# the operator's S3 and list the operator's jobs: a caller gets those only with its own key (passthrough).
IAM_ALLOWED = (
    re.compile(r"^/model/[^/]+/count-tokens$"),
    re.compile(r"^/guardrail/[^/]+/version/[^/]+/apply$"),
)
# Bedrock Runtime's other paths, each identifier in them (decoded) checked as the model id is: a name, or an ARN.
_GUARDRAIL_PATH = re.compile(r"^/guardrail/(?P<id>.+)/version/(?P<version>[^/]+)/apply$")
_ASYNC_PATH = re.compile(r"^/async-invoke(?:/(?P<arn>.+))?$")


def answer(
    method: str, path: str, query: str, raw: bytes, headers: dict[str, str], api_key_id: str | None
) -> GatewayResponse:
    """The answer to a request on Bedrock's paths (`headers` lower-cased, `raw` the body as sent)."""
    parsed = bedrock.parse_model_path(path)
    credential, tenant = _client(headers, api_key_id)
    deadline = time.monotonic() + wiring.settings().request_deadline
    if method != "POST" or parsed is None or parsed.operation not in bedrock.CACHED_OPERATIONS:
        upstream_path = _checked_path(path, parsed)
        _check_iam_allowed(method, upstream_path)
        settings = wiring.settings()
        passed = passthrough.PassedOn(
            method, upstream_path, None, query, raw, headers, credential, api_key_id, deadline
        )
        bedrock_provider = table(settings).named("bedrock")
        engine = wiring.engine()
        return held_while_streaming(
            tenant_streams(settings), tenant, lambda: passthrough.relay(engine, bedrock_provider, passed)
        )
    stream = parsed.operation in STREAM_OPERATIONS
    request_body = parse_json_object(raw)
    if parsed.operation in CONVERSE_OPERATIONS:
        dialect = dialect_for("bedrock/converse")
        # The key's view: the client's fields (a body `cache` or `stream`, if any, is Bedrock's business, not
        # the gateway's: Bedrock's API has no such field and boto3 cannot send one), the path's model id, and
        # the operation (which alone says whether the answer streams).
        body = {k: v for k, v in request_body.items() if k not in ("cache", "stream")}
        body.update(model=parsed.model_id, **({"stream": True} if stream else {}))
    else:
        dialect = dialect_for("bedrock/invoke")
        body = {"model": parsed.model_id, "body": request_body, "stream": stream}
    dialect.validate(body)
    request = ClientRequest(dialect, body, raw, headers, credential, tenant, deadline)
    if stream:  # relayed as it arrives on a miss: one of the tenant's stream slots, as for the other APIs
        result = held_while_streaming(
            tenant_streams(wiring.settings()), tenant, lambda: wiring.engine().handle(request)
        )
    else:
        result = wiring.engine().handle(request)
    if stream and parsed.operation != "converse-stream" and result.headers.get(HEADER_CACHE) == "HIT":
        # What Bedrock says of the chunks' media type (the `accept` the request asked for, in the key).
        result.headers["x-amzn-bedrock-content-type"] = headers.get("x-amzn-bedrock-accept", "application/json")
    log_answered(
        route=f"bedrock/{parsed.operation}",
        status=result.status,
        cache=result.headers.get(HEADER_CACHE),
        tier=result.headers.get("X-Cache-Tier"),
        tenant=tenant,
        model=parsed.model_id,
        sample_rate=wiring.settings().log_hit_sample_rate,
    )
    return result


def _checked_path(path: str, parsed: bedrock.ModelPath | None) -> str:
    """The path to send upstream: each identifier decoded, checked (a Bedrock name or ARN: no `..`, `?`, control
    characters or stray slashes) and encoded again as botocore encodes it. Anything else is not Bedrock's."""
    if parsed is not None:
        return bedrock.model_path(parsed.model_id, parsed.operation)
    guardrail = _GUARDRAIL_PATH.match(path)
    if guardrail is not None:
        name, version = bedrock.checked_id(guardrail["id"]), bedrock.checked_id(guardrail["version"])
        return f"/guardrail/{quote(name, safe='')}/version/{quote(version, safe='')}/apply"
    invocation = _ASYNC_PATH.match(path)
    if invocation is not None:
        arn = invocation["arn"]
        return "/async-invoke" + (f"/{quote(bedrock.checked_id(arn), safe='')}" if arn else "")
    raise NotFound(f"unknown route {path[:200]}; Bedrock Runtime's are /model/..., /guardrail/... and /async-invoke")


def _client(headers: dict[str, str], api_key_id: str | None) -> tuple[str | None, str]:
    """(the credential sent upstream: the client's Bedrock API key under passthrough, else none), the tenant."""
    if api_key_id is not None:  # deployed: `x-api-key` is API Gateway's own, never a provider key
        headers = {name: value for name, value in headers.items() if name != "x-api-key"}
    token, access_key = bedrock.bedrock_credential(headers)
    if wiring.settings().bedrock_auth == "passthrough":
        if token is None:
            raise Unauthorized(
                "BEDROCK_AUTH=passthrough forwards your Bedrock API key: send it as `Authorization: Bearer <key>` "
                "(boto3 does with AWS_BEARER_TOKEN_BEDROCK set; over https only)",
                code="missing_api_key",
            )
        providers = table(wiring.settings())
        providers.check_credential(providers.named("bedrock"), token)  # an OpenAI or Anthropic key stays here
        return token, keys.tenant_id(token, api_key_id, passthrough=True)
    if api_key_id is not None:
        return None, keys.tenant_id(None, api_key_id)
    if access_key is not None:
        return None, keys.tenant_id(f"aws-access-key:{access_key}")
    if token is not None:
        return None, keys.tenant_id(token)
    raise Unauthorized("no credential: sign the request (boto3 does) or send `Authorization: Bearer <key>`")


def _check_iam_allowed(method: str, path: str) -> None:
    """Under BEDROCK_AUTH=iam a passed-on call is made with the gateway's own role: only stateless ones go."""
    if wiring.settings().bedrock_auth == "iam" and not any(rule.match(path) for rule in IAM_ALLOWED):
        raise Forbidden(
            f"{method} {path} is not passed on with the gateway's own AWS role (BEDROCK_AUTH=iam): only stateless "
            "calls are (count-tokens, apply guardrail); use BEDROCK_AUTH=passthrough to make it with your own key"
        )
