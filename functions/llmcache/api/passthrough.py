"""Every other path under /v1/ (models, files, moderations, audio, images, batches, `/v1/messages/count_tokens`,
`/v1/responses/{id}`, ...): passed on uncached to the provider it was made for, the answer relayed as it arrives,
with `X-Cache: BYPASS`.

In order, before anything reaches a provider:
1. the provider is chosen by what the client sends (`providers.py`), and the credential as that provider reads it;
2. the path is checked (`path_guard.py`): nothing that could leave the provider's base path or change the request;
3. a key recognisably made for another provider is refused (passthrough mode);
4. managed mode (the gateway's own key): only allowed paths, and bodies naming only allowed objects (`access.py`);
   passthrough mode: the admin key, this gateway's own secret, never goes up as a provider key;
5. the tenant's stream slot is taken (`stream_limits.py`): a passed-on answer is relayed as it arrives;
6. only allowed headers go up and come back (`relay_headers.py`).
The provider's answer is the client's, whatever it is: only a 5xx counts as an upstream error (a 404 for a file
that does not exist is not a provider outage).

The cached routes take the same rules for their bodies and credentials (`check_cached_call`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmcache import keys, wiring
from llmcache.api import access, relay_headers
from llmcache.api.path_guard import checked_path
from llmcache.api.providers import Provider, ProviderTable, Signals, is_anthropic_path, table
from llmcache.api.stream_limits import held_while_streaming, tenant_streams
from llmcache.constants import HEADER_CACHE, Metric
from llmcache.dialects.registry import dialect_for
from llmcache.errors import Forbidden, GatewayError
from llmcache.exchange import BodyStream, GatewayResponse
from llmcache.observability import record

if TYPE_CHECKING:
    from llmcache.dialects.base import Dialect
    from llmcache.engine.core import Engine
    from llmcache.settings import Settings


@dataclass(frozen=True)
class PassedOn:
    """One request to pass on, as the route read it (header names lower case)."""

    method: str
    path: str  # decoded once, as API Gateway and the ASGI door hand it over
    raw_path: str | None  # as the client sent it, when the door knows it (ASGI)
    query: str
    body: bytes
    headers: dict[str, str]
    credential: str | None
    api_key_id: str | None  # API Gateway's key id, deployed with API keys
    deadline: float


@dataclass(frozen=True)
class _Rules:
    """What the checks read from the settings, built once per settings object (the hit path pays a lookup)."""

    table: ProviderTable
    providers: dict[str, Provider]
    allowlist: access.Allowlist
    admin_configured: bool


_built: tuple[Settings, _Rules] | None = None


def _rules() -> _Rules:
    global _built
    settings = wiring.settings()
    if _built is None or _built[0] is not settings:
        providers = table(settings)
        rules = _Rules(
            providers,
            {p.name: p for p in providers.entries},
            access.Allowlist.of(settings.passthrough_allow),
            bool(settings.admin_api_key or settings.admin_api_key_secret_arn),
        )
        _built = (settings, rules)
    return _built[1]


def dialect_of_path(path: str) -> Dialect[Any]:
    """The dialect whose envelope an error uses when only the path is known (a door's refusal): Anthropic's on
    its paths, else OpenAI's."""
    return dialect_for("messages") if is_anthropic_path(path) else dialect_for("chat/completions")


def provider_of(path: str, headers: Mapping[str, str], api_gateway_key: bool) -> Provider:
    """The provider a passed-on request was made for."""
    signals = Signals(path, headers, _presented_key(headers, api_gateway_key), api_gateway_key)
    return _rules().table.for_request(signals)


def error_dialect(path: str, headers: Mapping[str, str], api_gateway_key: bool) -> Dialect[Any]:
    """The dialect whose error envelope a passed-on path's errors use: its provider's."""
    return dialect_for(provider_of(path, headers, api_gateway_key).error_route)


def pass_on(engine: Engine, request: PassedOn) -> GatewayResponse:
    """The provider's answer to the request; its body is relayed piece by piece as it arrives."""
    provider = provider_of(request.path, request.headers, request.api_key_id is not None)
    checked_path(request.path, request.raw_path)
    _check_access(provider, request.credential, request.body, lambda: _json_or_none(request.body), request)
    tenant = keys.tenant_id(request.credential, request.api_key_id, passthrough=not provider.managed)
    streams = tenant_streams(wiring.settings())
    return held_while_streaming(streams, tenant, lambda: relay(engine, provider, request))


def check_cached_call(dialect: Dialect[Any], raw: bytes, body: dict[str, Any], credential: str | None) -> None:
    """A cached route's request under the same rules: its key goes only to the provider it was made for, and in
    managed mode its body names only provider objects the caller may read."""
    provider = _rules().providers.get(dialect.provider)
    if provider is not None:  # a provider without an entry (yet) signs its own calls and forwards no client key
        _check_access(provider, credential, raw, lambda: body, None)


def _check_access(
    provider: Provider, credential: str | None, raw: bytes, parsed: Callable[[], Any], passed_on: PassedOn | None
) -> None:
    rules = _rules()
    rules.table.check_credential(provider, credential)
    if not provider.managed:
        if rules.admin_configured and access.is_key(credential, _admin_key()):
            raise Forbidden(
                "this is the gateway's admin key: it is never sent to a provider; send your provider key",
                code="admin_key_not_forwarded",
            )
        return

    def is_admin() -> bool:
        return access.is_key(credential, _admin_key())

    if passed_on is not None:
        access.check_path(rules.allowlist, passed_on.method, passed_on.path, is_admin)
    access.check_body(rules.allowlist, raw, parsed, is_admin)


def relay(engine: Engine, provider: Provider, request: PassedOn) -> GatewayResponse:
    """The request relayed to `provider` as it is (its path, access and stream slot already checked by the caller)."""
    services = engine.services
    upstream = services.providers.get(provider.name, services.upstream)
    record(Metric.CACHE_BYPASS)
    started = time.perf_counter()
    resources = ExitStack()
    try:
        head, chunks = resources.enter_context(
            upstream.relay(
                request.method,
                provider.upstream_path(request.path),
                request.query,
                request.body,
                relay_headers.up(request.headers, managed=provider.managed),
                request.credential,
                deadline=request.deadline,
                used_key_header="x-api-key" in request.headers and request.api_key_id is None,
            )
        )
    except BaseException:
        resources.close()
        raise
    record(Metric.UPSTREAM_LATENCY, (time.perf_counter() - started) * 1000)
    if head.status >= 500:
        record(Metric.UPSTREAM_ERROR)
    relayed = relay_headers.down(head.headers)
    content_type = relayed.pop("content-type", "application/json")
    relayed[HEADER_CACHE] = "BYPASS"
    return GatewayResponse(head.status, b"", content_type, relayed, BodyStream(chunks, resources, _cut_short))


def _admin_key() -> str | None:
    """The admin key, or None when it cannot be read (then nobody is admin)."""
    try:
        key: str | None = wiring.admin().admin_key()
    except GatewayError:
        return None
    return key


def _presented_key(headers: Mapping[str, str], api_gateway_key: bool) -> str | None:
    """The key as the client presented it (unchecked: only its shape is read, to choose the provider)."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None if api_gateway_key else headers.get("x-api-key")


def _json_or_none(raw: bytes) -> Any:
    """A passed-on body as JSON, or None (a multipart upload, audio): only JSON can name objects by field."""
    try:
        return json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return None


def _cut_short(_: GatewayError) -> bytes:
    # A body of any format broke after its status was sent: nothing can be appended that its client would parse.
    return b""
