"""The provider table: which provider answers a request, and with which credential.

A request goes to the provider its credential was made for. What the client sends chooses (its headers, the shape
of its key), never the path alone: the anthropic SDK's `models.list()` is `GET /v1/models` like the openai SDK's,
and only `anthropic-version` and `x-api-key` tell them apart. A credential recognisably made for one provider is
never sent to another (`sk-ant-...` to the OpenAI-compatible upstream, `sk-proj-...` to Anthropic).

Each provider is one `Provider` entry: its name (the key of the engine's upstreams and of a dialect's `provider`),
where its API lives, how its credential travels, whether the gateway holds its own key (managed mode), and how a
request made for it is recognised. The entries are tried in order and the first that recognises a request takes
it; the last entry is the default. A new provider (Amazon Bedrock, SigV4-signed) is one more entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from llmcache.errors import Unauthorized
from llmcache.settings import Settings

BEARER = "bearer"  # Authorization: Bearer <key>
X_API_KEY = "x-api-key"  # Anthropic's own header (its SDKs send it; a bearer token is accepted too)
SIGV4 = "sigv4"  # AWS Signature Version 4 (the gateway signs its own call)


@dataclass(frozen=True)
class Signals:
    """What a request says about the provider it was made for (header names lower case)."""

    path: str
    headers: Mapping[str, str]
    credential: str | None
    # Deployed with API Gateway API keys, `x-api-key` is API Gateway's, so it says nothing about the provider.
    api_gateway_key: bool = False


@dataclass(frozen=True)
class Provider:
    name: str  # "openai" (any OpenAI-compatible API), "anthropic", "bedrock"
    base_url: str  # where its API lives, with its version prefix: a client path /v1/x goes to base_url + /x
    auth: str  # BEARER | X_API_KEY | SIGV4: how the credential travels
    managed: bool  # the gateway sends its own credential; a client's key never goes up
    managed_key: str | None = field(default=None, repr=False)  # the key itself, when given in the environment
    managed_key_secret_arn: str | None = None  # else where Secrets Manager keeps it
    error_route: str = "chat/completions"  # the dialect whose error envelope the provider's passed-on paths use
    client_prefix: str = "/v1"  # the client path's prefix that stands for base_url
    # Key prefixes that only this provider issues: such a credential is recognised as its own.
    key_prefixes: tuple[str, ...] = ()
    recognises: Callable[[Signals], bool] = field(default=lambda _: False, repr=False, compare=False)

    def upstream_path(self, path: str) -> str:
        """The path under `base_url` for a client path (`/v1/models` -> `models`)."""
        return path.removeprefix(self.client_prefix).lstrip("/")


@dataclass(frozen=True)
class ProviderTable:
    entries: tuple[Provider, ...]  # tried in order; the last is the default
    _foreign: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    def for_request(self, signals: Signals) -> Provider:
        """The provider a request was made for (the default one when nothing says otherwise)."""
        for provider in self.entries[:-1]:
            if provider.recognises(signals):
                return provider
        return self.entries[-1]

    def _foreign_prefixes(self, provider: Provider) -> tuple[str, ...]:
        prefixes = self._foreign.get(provider.name)
        if prefixes is None:
            prefixes = tuple(p for other in self.entries if other is not provider for p in other.key_prefixes)
            self._foreign[provider.name] = prefixes
        return prefixes

    def named(self, name: str) -> Provider:
        return next(p for p in self.entries if p.name == name)

    def owner_of(self, credential: str) -> Provider | None:
        """The provider whose keys look like `credential` (the longest matching prefix), or None."""
        best: tuple[int, Provider | None] = (0, None)
        for provider in self.entries:
            for prefix in provider.key_prefixes:
                if credential.startswith(prefix) and len(prefix) > best[0]:
                    best = (len(prefix), provider)
        return best[1]

    def check_credential(self, provider: Provider, credential: str | None) -> None:
        """Unauthorized when the client's own credential (passthrough mode) was recognisably made for another
        provider: it is never sent to one it was not made for."""
        if credential is None or provider.managed:
            return  # managed mode: the gateway's own key goes up, the client's stays here
        if not credential.startswith(self._foreign_prefixes(provider)):
            return  # one str.startswith on the hit path
        owner = self.owner_of(credential)
        if owner is not None and owner.name != provider.name and not _same_host(owner, provider):
            raise Unauthorized(
                f"this credential looks like a key of the {owner.name} provider, and this request goes to the "
                f"{provider.name} provider: the gateway never sends a key to a provider it was not made for",
                code="credential_provider_mismatch",
            )


def _same_host(a: Provider, b: Provider) -> bool:
    # An OpenAI-compatible upstream on the other provider's own host (Anthropic's OpenAI-compatible endpoint)
    # takes that provider's keys: it is where they were made for.
    return urlsplit(a.base_url).netloc.lower() == urlsplit(b.base_url).netloc.lower()


OPENAI_KEY_PREFIXES = ("sk-proj-", "sk-svcacct-", "sk-admin-")
# Amazon Bedrock API keys: long-term ones are `ABSK` + base64 of `BedrockAPIKey-...`, short-term ones
# `bedrock-api-key-` + a presigned URL, base64.
BEDROCK_KEY_PREFIXES = ("ABSK", "bedrock-api-key-")
# Bedrock Runtime's own paths (the model's operations, guardrails, async invocations): no other API has them.
BEDROCK_ROOTS = ("/model/", "/guardrail/", "/async-invoke")
ANTHROPIC_KEY_PREFIXES = ("sk-ant-",)
ANTHROPIC_HEADERS = ("anthropic-version", "anthropic-beta")


def is_anthropic_path(path: str) -> bool:
    """`/v1/messages` and what is under it (also spelled without /v1, as the cached routes are): only Anthropic's
    API has them."""
    bare = path.removeprefix("/v1")
    return bare.rstrip("/") == "/messages" or bare.startswith("/messages/")


def made_for_anthropic(signals: Signals) -> bool:
    """Anthropic's path, its SDKs' headers (`anthropic-version` on every call), its key header, or its key."""
    headers = signals.headers
    return (
        is_anthropic_path(signals.path)
        or any(name in headers for name in ANTHROPIC_HEADERS)
        or ("x-api-key" in headers and not signals.api_gateway_key)
        or (signals.credential or "").startswith(ANTHROPIC_KEY_PREFIXES)
    )


def is_bedrock_path(path: str) -> bool:
    return path.startswith(BEDROCK_ROOTS)


def made_for_bedrock(signals: Signals) -> bool:
    """Bedrock Runtime's paths. Its key alone does not choose it: Bedrock also serves OpenAI-shaped APIs, and
    a Bedrock key sent to `/v1/...` is for that upstream when it is Bedrock's (see `_same_host`)."""
    return is_bedrock_path(signals.path)


def build_table(settings: Settings) -> ProviderTable:
    anthropic = Provider(
        name="anthropic",
        base_url=f"{settings.anthropic_base_url}/v1",
        auth=X_API_KEY,
        managed=settings.managed_anthropic_key,
        managed_key=settings.anthropic_api_key,
        managed_key_secret_arn=settings.anthropic_api_key_secret_arn,
        error_route="messages",
        key_prefixes=ANTHROPIC_KEY_PREFIXES,
        recognises=made_for_anthropic,
    )
    openai = Provider(
        name="openai",
        base_url=settings.upstream_base_url,
        auth=BEARER,
        managed=settings.managed_upstream_key,
        managed_key=settings.upstream_api_key,
        managed_key_secret_arn=settings.upstream_api_key_secret_arn,
        key_prefixes=OPENAI_KEY_PREFIXES,
    )
    iam = settings.bedrock_auth == "iam"
    bedrock = Provider(
        name="bedrock",
        base_url=settings.bedrock_base_url,
        auth=SIGV4 if iam else BEARER,
        managed=iam,  # BEDROCK_AUTH=iam: the gateway signs with its own role, a client's key never goes up
        error_route="bedrock/converse",
        client_prefix="",
        key_prefixes=BEDROCK_KEY_PREFIXES,
        recognises=made_for_bedrock,
    )
    return ProviderTable((bedrock, anthropic, openai))


_built: tuple[Settings, ProviderTable] | None = None


def table(settings: Settings) -> ProviderTable:
    """The table for these settings, built once per settings object."""
    global _built
    if _built is None or _built[0] is not settings:
        _built = (settings, build_table(settings))
    return _built[1]
