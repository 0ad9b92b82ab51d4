"""The composition root: settings are read at import (a bad deploy fails at cold start, loudly);
stores, upstream and engine are built once, on first use, so importing the handler stays cheap.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmcache.errors import ServiceUnavailable
from llmcache.settings import Settings

if TYPE_CHECKING:
    from llmcache.engine.admin import Admin
    from llmcache.engine.core import Engine
    from llmcache.engine.leases import Leases, LeaseStore
    from llmcache.stores.cloudwatch import MetricsReader
    from llmcache.stores.dynamodb import DynamoDbStore
    from llmcache.stores.memory import MemoryStore
    from llmcache.stores.redis import RedisStore
    from llmcache.stores.tiered import TieredStore
    from llmcache.upstream import SigV4Signer, Upstream

_settings = Settings.from_env()
_lock = threading.Lock()
_engine: Engine | None = None
_admin: Admin | None = None


def settings() -> Settings:
    return _settings


def configure(new_settings: Settings | None = None) -> None:
    """Rebuild from new settings (tests, the local runner). Closes the old upstream client."""
    global _settings, _engine, _admin
    with _lock:
        if _engine is not None:
            services = _engine.services
            for upstream in (services.upstream, *services.providers.values()):
                upstream.close()
        _settings = new_settings if new_settings is not None else Settings.from_env()
        from llmcache.observability import use_environment

        use_environment(_settings.environment)
        _engine = None
        _admin = None


def engine() -> Engine:
    global _engine
    built = _engine
    if built is None:
        with _lock:
            if _engine is None:
                _engine = build_engine(_settings)
            built = _engine
    return built


def admin() -> Admin:
    global _admin
    built = _admin
    if built is None:
        from llmcache.engine.admin import Admin

        built_engine = engine()
        with _lock:
            if _admin is None:
                _admin = Admin(
                    built_engine.services,
                    _secret_reader(_settings.admin_api_key, _settings.admin_api_key_secret_arn, "admin key"),
                    semantic=built_engine.semantic,
                    metrics_reader=_metrics_reader(_settings),
                )
            built = _admin
    return built


def _secret_reader(value: str | None, secret_arn: str | None, what: str) -> Callable[[], str | None]:
    """A key given directly, or read from Secrets Manager once and cached for the container.

    A secret that cannot be read (Secrets Manager down, access denied, deleted) is a 503 naming `what`,
    never a 500; the error's text is logged, never the secret."""
    if value or not secret_arn:
        return lambda: value
    cache: dict[str, str] = {}

    def read() -> str | None:
        if "value" not in cache:
            from aws_lambda_powertools.utilities import parameters

            try:
                cache["value"] = str(parameters.get_secret(secret_arn, max_age=3600)).strip()
            except Exception as exc:
                from llmcache.observability import logger

                logger.warning("secret unreadable", extra={"secret": what, "error": type(exc).__name__})
                raise ServiceUnavailable(f"the {what} could not be read from Secrets Manager; try again") from None
        return cache["value"]

    return read


def _metrics_reader(settings: Settings) -> MetricsReader | None:
    """Deployed (many containers), stats come from CloudWatch; under `make run`, from this process."""
    source = settings.stats_source
    if source == "cloudwatch" or (source == "auto" and os.environ.get("AWS_LAMBDA_FUNCTION_NAME")):
        from llmcache.stores.cloudwatch import MetricsReader

        return MetricsReader(os.environ.get("POWERTOOLS_SERVICE_NAME", "llmcache"), settings.environment)
    return None


def build_engine(settings: Settings) -> Engine:
    from llmcache.dialects.openai import ACCOUNT_HEADERS, ANSWER_HEADERS
    from llmcache.engine.core import Engine
    from llmcache.engine.generations import Generations
    from llmcache.engine.services import Services
    from llmcache.observability import report_backend_failure
    from llmcache.stores.tiered import TieredStore
    from llmcache.upstream import Upstream

    tiers: list[MemoryStore | RedisStore | DynamoDbStore] = []
    for name in settings.tiers:
        if name == "memory":
            from llmcache.stores.memory import MemoryStore

            tiers.append(MemoryStore(settings.memory_max_bytes))
        elif name == "redis":
            from llmcache.stores.redis import RedisStore

            assert settings.redis_url is not None
            tiers.append(RedisStore(settings.redis_url))
        elif name == "dynamodb":
            from llmcache.stores.dynamodb import DynamoDbStore
            from llmcache.stores.s3 import S3BodyStore

            tiers.append(
                DynamoDbStore(settings.cache_table, S3BodyStore(settings.cache_bucket), settings.inline_max_bytes)
            )
    # The most durable tier keeps the flush generations that every container must agree on.
    generation_source = tiers[-1]
    store = TieredStore(tiers, report_backend_failure)
    generations = Generations(
        generation_source,
        settings.generation_ttl,
        report_backend_failure,
        # one container's memory needs no copies: nobody else reads it
        copies=1 if generation_source.name == "memory" else settings.generation_copies,
        stale=settings.generation_stale,
    )
    managed_key = (
        _secret_reader(settings.upstream_api_key, settings.upstream_api_key_secret_arn, "provider key")
        if settings.managed_upstream_key
        else None
    )
    upstream = Upstream(
        settings.upstream_base_url,
        connect_timeout=settings.upstream_connect_timeout,
        read_timeout=settings.upstream_read_timeout,
        managed_key=managed_key,
        # Beside the operator's key, a caller does not choose the operator's organization or project.
        forwarded_headers=(
            *(h for h in ANSWER_HEADERS if not (managed_key and h in ACCOUNT_HEADERS)),
            "accept-language",
        ),
        signer=None if managed_key else bedrock_signer(settings, settings.upstream_base_url),
    )
    semantic = None
    if settings.semantic_mode == "on":
        from llmcache.semantic import build_semantic_matcher
        from llmcache.upstream import upstream_embedder

        semantic = build_semantic_matcher(
            settings,
            upstream_embed=upstream_embedder(upstream, timeout=settings.semantic_timeout),
            read_secret=_secret_reader,
        )
    providers = {"anthropic": _anthropic_upstream(settings), "bedrock": _bedrock_upstream(settings)}
    services = Services(settings, store, generations, upstream, providers=providers)
    return Engine(services, semantic, leases=_leases(settings, store))


def _anthropic_upstream(settings: Settings) -> Upstream:
    """Anthropic's API for /v1/messages and what is under it: its own key header and answer-selecting headers."""
    from llmcache.dialects.messages import ANSWER_HEADERS
    from llmcache.upstream import Upstream

    managed_key = (
        _secret_reader(settings.anthropic_api_key, settings.anthropic_api_key_secret_arn, "Anthropic key")
        if settings.managed_anthropic_key
        else None
    )
    return Upstream(
        f"{settings.anthropic_base_url}/v1",
        connect_timeout=settings.upstream_connect_timeout,
        read_timeout=settings.upstream_read_timeout,
        managed_key=managed_key,
        forwarded_headers=(*ANSWER_HEADERS, "accept-language"),
        key_header="x-api-key",
        signer=None if managed_key else bedrock_signer(settings, settings.anthropic_base_url),
    )


def bedrock_signer(settings: Settings, url: str) -> SigV4Signer | None:
    """A SigV4 signer with the function's own credentials when `url` is one of Amazon Bedrock's OpenAI- or
    Anthropic-shaped endpoints and BEDROCK_AUTH=iam; None otherwise (the client's key goes up, as elsewhere)."""
    from llmcache.upstream import SigV4Signer, bedrock_endpoint

    endpoint = bedrock_endpoint(url) if settings.bedrock_auth == "iam" else None
    return SigV4Signer(endpoint[1], service=endpoint[0]) if endpoint else None


def _bedrock_upstream(settings: Settings) -> Upstream:
    """Amazon Bedrock Runtime: each call signed with the function's own credentials (SigV4, `BEDROCK_AUTH=iam`),
    or carrying the client's Bedrock API key (`passthrough`); InvokeModel's answer-selecting headers passed on."""
    from llmcache.dialects.bedrock_invoke import ANSWER_HEADERS, FORWARDED_ONLY_HEADERS, RETURNED_HEADERS
    from llmcache.upstream import SigV4Signer, Upstream

    return Upstream(
        settings.bedrock_base_url,
        connect_timeout=settings.upstream_connect_timeout,
        read_timeout=settings.upstream_read_timeout,
        forwarded_headers=(*ANSWER_HEADERS, *FORWARDED_ONLY_HEADERS),
        returned_headers=RETURNED_HEADERS,
        signer=SigV4Signer(settings.aws_region) if settings.bedrock_auth == "iam" else None,
    )


def _leases(settings: Settings, store: TieredStore) -> Leases | None:
    """Cross-container coalescing through the fastest shared tier; none when memory is the only tier."""
    from llmcache.engine.leases import Leases
    from llmcache.observability import report_backend_failure

    lease_store: LeaseStore | None = None
    for tier in store.tiers:
        if tier.name == "redis":
            from llmcache.stores.redis import RedisLeases, RedisStore

            assert isinstance(tier, RedisStore)
            lease_store = RedisLeases(tier)
            break
        if tier.name == "dynamodb":
            from llmcache.stores.dynamodb import DynamoDbLeases, DynamoDbStore

            assert isinstance(tier, DynamoDbStore)
            lease_store = DynamoDbLeases(tier)
            break
    if lease_store is None or settings.coalesce_lease_seconds <= 0:
        return None
    return Leases(
        lease_store,
        lease_seconds=settings.coalesce_lease_seconds,
        poll_seconds=0.1,
        report_failure=report_backend_failure,
        breaker=store.breakers.get(lease_store.name),  # the tier's own: a tier skipped for reads is for leases
    )
