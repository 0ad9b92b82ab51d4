"""Typed settings, read from the environment once at start.

A bad value fails loudly at import of the wiring (cold start), never on the 1000th request.

Every setting may also be given as `LLMCACHE_<NAME>` (`LLMCACHE_UPSTREAM_BASE_URL`, `LLMCACHE_ANTHROPIC_API_KEY`,
...), and that name wins when it is present, even empty (which unsets the setting): a client exports
`ANTHROPIC_BASE_URL` to reach the gateway, so the gateway needs names no client uses. The plain names keep
working, as deployed stacks set them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from llmcache.constants import Env
from llmcache.savings import Price, PriceError, price_overrides
from llmcache.semantic import budget

KNOWN_TIERS = ("memory", "redis", "dynamodb")
OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"  # without /v1, as Anthropic's SDKs spell it
BEDROCK_AUTH_MODES = ("iam", "passthrough")
DEFAULT_REGION = "us-east-1"


def bedrock_runtime_url(region: str) -> str:
    """Bedrock Runtime's regional endpoint (what boto3's `bedrock-runtime` client calls)."""
    return f"https://bedrock-runtime.{region}.amazonaws.com"


SETTING_PREFIX = "LLMCACHE_"


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


def setting_source(env: Mapping[str, str], name: str) -> str | None:
    """The variable that gives setting `name`: `LLMCACHE_<name>` when present, else `name` when set and not
    blank; None when neither gives a value."""
    prefixed = SETTING_PREFIX + name
    if prefixed in env:
        return prefixed if env[prefixed].strip() else None
    return name if env.get(name, "").strip() else None


def with_prefixed_names(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with every `LLMCACHE_<NAME>` given as `<NAME>`, over whatever `<NAME>` held."""
    resolved = dict(env)
    for variable, value in env.items():
        if variable.startswith(SETTING_PREFIX) and len(variable) > len(SETTING_PREFIX):
            resolved[variable[len(SETTING_PREFIX) :]] = value
    return resolved


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _http_url(env: Mapping[str, str], name: str, default: str) -> str:
    url = (env.get(name, "").strip() or default).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"{name} must be an http(s) URL (value not shown: it may hold a password)")
    return url


_ALLOW_ENTRY = re.compile(r"(\*|GET|POST|PUT|PATCH|DELETE) /v1(/([A-Za-z0-9\-._~:@+=,]+|\*))+")


def _allowlist(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Entries `METHOD /v1/path` (a `*` segment: any one segment; `*` method: any), separated by commas or new
    lines; `*` alone allows every path. Checked here, so a typo fails the deploy instead of widening nothing."""
    entries = tuple(" ".join(e.split()) for e in re.split(r"[,\n]", env.get(name, "")) if e.strip())
    for entry in entries:
        if entry != "*" and not _ALLOW_ENTRY.fullmatch(entry):
            raise SettingsError(
                f"{name}: {entry[:80]!r} is not `METHOD /v1/path` (GET, POST, PUT, PATCH, DELETE or *; "
                "a * segment matches one path segment) nor `*`"
            )
    return entries


def _valid_redis_url(url: str) -> bool:
    """What redis-py's from_url would accept, checked here so that a bad deploy fails at import, not on
    every request (without importing redis-py, which cold start does not pay for when it is unused)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return bool(parts.path)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        return False
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError:
        return False
    db = parts.path.strip("/")
    return not db or (db.isascii() and db.isdigit())


def _redis_url(env: Mapping[str, str], name: str) -> str | None:
    url = env.get(name, "").strip() or None
    if url and not _valid_redis_url(url):
        raise SettingsError(f"{name} must be redis://host[:port][/db], rediss://... or unix://path (value not shown)")
    return url


def _tiers(env: Mapping[str, str], redis_url: str | None) -> tuple[str, ...]:
    raw = env.get(Env.CACHE_TIERS, "").strip()
    if not raw:
        return ("memory", "redis", "dynamodb") if redis_url else ("memory", "dynamodb")
    tiers = tuple(t.strip().lower() for t in raw.split(",") if t.strip())
    unknown = [t for t in tiers if t not in KNOWN_TIERS]
    if unknown or not tiers:
        raise SettingsError(f"{Env.CACHE_TIERS} takes a list of {', '.join(KNOWN_TIERS)}; got {raw!r}")
    if len(set(tiers)) != len(tiers):
        raise SettingsError(f"{Env.CACHE_TIERS} names a tier twice: {raw!r}")
    if "redis" in tiers and not redis_url:
        raise SettingsError(f"{Env.CACHE_TIERS} includes redis but {Env.REDIS_URL} is not set")
    return tiers


@dataclass(frozen=True)
class Settings:
    environment: str = "local"
    upstream_base_url: str = OPENAI_BASE_URL
    upstream_api_key: str | None = None
    upstream_api_key_secret_arn: str | None = None
    upstream_connect_timeout: float = 5.0
    upstream_read_timeout: float = 120.0
    # Anthropic's Messages API (`/v1/messages` and everything under it); managed mode when a key is set.
    anthropic_base_url: str = ANTHROPIC_BASE_URL
    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_api_key_secret_arn: str | None = None
    # Amazon Bedrock Runtime (`/model/{modelId}/...`): `iam` signs the gateway's own call (SigV4, its role),
    # `passthrough` forwards the client's Bedrock API key (`Authorization: Bearer`).
    aws_region: str = DEFAULT_REGION
    bedrock_base_url: str = bedrock_runtime_url(DEFAULT_REGION)
    bedrock_auth: str = "iam"
    # The longest one request may spend on the provider (coalescing waits, connect, every read), from arrival.
    request_deadline: float = 125.0
    cache_table: str = "llmcache-local"
    cache_bucket: str = "llmcache-local-bodies"
    redis_url: str | None = None
    tiers: tuple[str, ...] = ("memory", "dynamodb")
    default_ttl: int = 86_400
    max_ttl: int = 2_592_000
    scope: str = "tenant"
    inline_max_bytes: int = 256_000
    memory_max_bytes: int = 64 * 1024 * 1024
    # How long a container trusts its copy of a namespace's flush generation (see README, flush).
    generation_ttl: float = 1.0
    # Items a flush writes the counter to; each refresh reads one at random (docs/scale.md sizes it).
    generation_copies: int = 32
    # How long past `generation_ttl` a container keeps its copy when the counter cannot be read.
    generation_stale: float = 5.0
    # How long other containers wait for the one asking the provider about the same request.
    coalesce_lease_seconds: float = 30.0
    admin_api_key: str | None = field(default=None, repr=False)
    admin_api_key_secret_arn: str | None = None
    max_request_bytes: int = 6_291_456
    # A provider's answer larger than this is passed on to the client but never stored (nor parsed to be):
    # real answers are kilobytes, so only a hostile or broken upstream reaches it.
    max_answer_bytes: int = 16 * 1024 * 1024
    semantic_mode: str = "off"
    # The operating point (cosine threshold, pair-model cut): the shipped default, measured with the shipped
    # models (docs/semantic.md), or the point SEMANTIC_MAX_FALSE_HIT_RATE picks from the measured curves.
    semantic_threshold: float = budget.DEFAULT_THRESHOLD
    semantic_pair_cut: float = budget.DEFAULT_PAIR_CUT
    semantic_max_false_hit_rate: float | None = None
    # "local" (the shipped model, in-process) unless an embedding provider is configured
    semantic_embedder: str = "local"
    semantic_embedding_model: str = "text-embedding-3-small"
    # Longer texts are matched exactly only: all-MiniLM-L6-v2 reads 256 tokens (~1,000 characters) and
    # ignores the rest, so two prompts that differ after that would look identical.
    semantic_max_chars: int = 1000
    semantic_timeout: float = 2.0  # per embedding or index call: a slow one makes a plain miss, not a slow one
    # Where GET /cache/stats reads: "cloudwatch" (many containers), "process" (this one), "auto": CloudWatch
    # when running on Lambda, else the process.
    stats_source: str = "auto"
    qdrant_url: str | None = None
    qdrant_api_key: str | None = field(default=None, repr=False)
    qdrant_path: str | None = None
    # A deployment's own prices (USD per million tokens) over the shipped table (`prices.json`).
    price_overrides: Mapping[str, Price] = field(default_factory=dict)
    qdrant_api_key_secret_arn: str | None = None
    # The vector index: "qdrant" (embedded, or the server at QDRANT_URL) or "valkey" (Valkey/Redis vector search
    # at SEMANTIC_REDIS_URL, else REDIS_URL; its auth token read from Secrets Manager when an ARN is given).
    semantic_index: str = "qdrant"
    semantic_redis_url: str | None = None
    semantic_redis_auth_secret_arn: str | None = None
    # Share of plain cache hits that write the "answered" access line (misses, bypasses, errors: always).
    log_hit_sample_rate: float = 1.0
    # Managed mode: passed-on calls allowed beyond the stateless defaults (`api/access.py`, docs/security.md).
    passthrough_allow: tuple[str, ...] = ()
    # Streams one tenant may hold at once in one process (0: no cap); on Lambda one request runs at a time.
    max_streams_per_tenant: int = 32

    @property
    def managed_upstream_key(self) -> bool:
        """Managed mode: the gateway sends its own provider key; else the client's key is forwarded."""
        return bool(self.upstream_api_key or self.upstream_api_key_secret_arn)

    @property
    def managed_anthropic_key(self) -> bool:
        """Managed mode for Anthropic: the gateway sends its own key; else the client's key is forwarded."""
        return bool(self.anthropic_api_key or self.anthropic_api_key_secret_arn)

    @property
    def uses_aws(self) -> bool:
        return "dynamodb" in self.tiers

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = with_prefixed_names(os.environ if env is None else env)
        redis_url = _redis_url(env, Env.REDIS_URL)
        semantic_index = _choice(env, Env.SEMANTIC_INDEX, "qdrant", ("qdrant", "valkey"))
        # No embedding provider configured (no SEMANTIC_EMBEDDER, no SEMANTIC_EMBEDDING_MODEL): the shipped model.
        provider_default = "upstream" if env.get(Env.SEMANTIC_EMBEDDING_MODEL, "").strip() else "local"
        semantic_embedder = _choice(env, Env.SEMANTIC_EMBEDDER, provider_default, ("upstream", "bedrock", "local"))
        threshold, pair_cut, false_hit_budget = _semantic_operating_point(env, semantic_embedder)
        semantic_redis_url = _redis_url(env, Env.SEMANTIC_REDIS_URL) or redis_url
        if semantic_index == "valkey" and not semantic_redis_url:
            raise SettingsError(f"{Env.SEMANTIC_INDEX}=valkey needs {Env.SEMANTIC_REDIS_URL} (or {Env.REDIS_URL})")
        default_ttl = _int(env, Env.CACHE_DEFAULT_TTL, 86_400, minimum=1)
        max_ttl = _int(env, Env.CACHE_MAX_TTL, 2_592_000, minimum=1)
        if default_ttl > max_ttl:
            raise SettingsError(f"{Env.CACHE_DEFAULT_TTL} ({default_ttl}) exceeds {Env.CACHE_MAX_TTL} ({max_ttl})")
        region = (env.get(Env.AWS_REGION, "") or env.get("AWS_DEFAULT_REGION", "")).strip() or DEFAULT_REGION
        return cls(
            aws_region=region,
            bedrock_base_url=_http_url(env, Env.BEDROCK_BASE_URL, bedrock_runtime_url(region)),
            bedrock_auth=_choice(env, Env.BEDROCK_AUTH, "iam", BEDROCK_AUTH_MODES),
            environment=env.get(Env.ENVIRONMENT, "").strip() or "local",
            upstream_base_url=_http_url(env, Env.UPSTREAM_BASE_URL, OPENAI_BASE_URL),
            upstream_api_key=env.get(Env.UPSTREAM_API_KEY, "").strip() or None,
            upstream_api_key_secret_arn=env.get(Env.UPSTREAM_API_KEY_SECRET_ARN, "").strip() or None,
            upstream_connect_timeout=_float(env, Env.UPSTREAM_CONNECT_TIMEOUT, 5.0, 0.01, 60.0),
            upstream_read_timeout=_float(env, Env.UPSTREAM_READ_TIMEOUT, 120.0, 0.01, 900.0),
            anthropic_base_url=_http_url(env, Env.ANTHROPIC_BASE_URL, ANTHROPIC_BASE_URL),
            anthropic_api_key=env.get(Env.ANTHROPIC_API_KEY, "").strip() or None,
            anthropic_api_key_secret_arn=env.get(Env.ANTHROPIC_API_KEY_SECRET_ARN, "").strip() or None,
            request_deadline=_float(env, Env.REQUEST_DEADLINE, 125.0, 0.01, 900.0),
            cache_table=env.get(Env.CACHE_TABLE, "").strip() or "llmcache-local",
            cache_bucket=env.get(Env.CACHE_BUCKET, "").strip() or "llmcache-local-bodies",
            redis_url=redis_url,
            tiers=_tiers(env, redis_url),
            default_ttl=default_ttl,
            max_ttl=max_ttl,
            scope=_choice(env, Env.CACHE_SCOPE, "tenant", ("tenant", "shared")),
            inline_max_bytes=_int(env, Env.CACHE_INLINE_MAX_BYTES, 256_000, minimum=1),
            memory_max_bytes=_int(env, Env.CACHE_MEMORY_MAX_BYTES, 64 * 1024 * 1024, minimum=0),
            generation_ttl=_float(env, Env.CACHE_GENERATION_TTL, 1.0, 0.0, 300.0),
            generation_copies=_int(env, Env.CACHE_GENERATION_COPIES, 32, minimum=1),
            generation_stale=_float(env, Env.CACHE_GENERATION_STALE_SECONDS, 5.0, 0.0, 300.0),
            coalesce_lease_seconds=_float(env, Env.COALESCE_LEASE_SECONDS, 30.0, 0.0, 900.0),
            admin_api_key=env.get(Env.ADMIN_API_KEY, "").strip() or None,
            admin_api_key_secret_arn=env.get(Env.ADMIN_API_KEY_SECRET_ARN, "").strip() or None,
            max_request_bytes=_int(env, Env.MAX_REQUEST_BYTES, 6_291_456, minimum=1),
            max_answer_bytes=_int(env, Env.MAX_ANSWER_BYTES, 16 * 1024 * 1024, minimum=1),
            semantic_mode=_choice(env, Env.SEMANTIC_MODE, "off", ("off", "on")),
            semantic_threshold=threshold,
            semantic_pair_cut=pair_cut,
            semantic_max_false_hit_rate=false_hit_budget,
            semantic_embedder=semantic_embedder,
            semantic_embedding_model=env.get(Env.SEMANTIC_EMBEDDING_MODEL, "").strip() or "text-embedding-3-small",
            semantic_max_chars=_int(env, Env.SEMANTIC_MAX_CHARS, 1000, minimum=1),
            semantic_timeout=_float(env, Env.SEMANTIC_TIMEOUT, 2.0, 0.01, 60.0),
            stats_source=_choice(env, Env.STATS_SOURCE, "auto", ("auto", "cloudwatch", "process")),
            qdrant_url=env.get(Env.QDRANT_URL, "").strip() or None,
            qdrant_api_key=env.get(Env.QDRANT_API_KEY, "").strip() or None,
            qdrant_path=env.get(Env.QDRANT_PATH, "").strip() or None,
            price_overrides=_price_overrides(env),
            qdrant_api_key_secret_arn=env.get(Env.QDRANT_API_KEY_SECRET_ARN, "").strip() or None,
            semantic_index=semantic_index,
            semantic_redis_url=semantic_redis_url,
            semantic_redis_auth_secret_arn=env.get(Env.SEMANTIC_REDIS_AUTH_SECRET_ARN, "").strip() or None,
            log_hit_sample_rate=_float(env, Env.LOG_HIT_SAMPLE_RATE, 1.0, 0.0, 1.0),
            passthrough_allow=_allowlist(env, Env.PASSTHROUGH_ALLOW),
            max_streams_per_tenant=_int(env, Env.MAX_STREAMS_PER_TENANT, 32, minimum=0),
        )


def _semantic_operating_point(env: Mapping[str, str], embedder: str) -> tuple[float, float, float | None]:
    """(threshold, pair cut, budget): SEMANTIC_THRESHOLD with the shipped pair cut, or both from the measured
    curves for SEMANTIC_MAX_FALSE_HIT_RATE."""
    raw_budget = env.get(Env.SEMANTIC_MAX_FALSE_HIT_RATE, "").strip()
    if not raw_budget:
        threshold = _float(env, Env.SEMANTIC_THRESHOLD, budget.DEFAULT_THRESHOLD, 0.0, 1.0)
        return threshold, budget.DEFAULT_PAIR_CUT, None
    if env.get(Env.SEMANTIC_THRESHOLD, "").strip():
        raise SettingsError(
            f"set {Env.SEMANTIC_MAX_FALSE_HIT_RATE} or {Env.SEMANTIC_THRESHOLD}, not both: "
            "the budget picks the threshold"
        )
    if embedder != "local":
        raise SettingsError(
            f"{Env.SEMANTIC_MAX_FALSE_HIT_RATE} needs {Env.SEMANTIC_EMBEDDER}=local: the curves were measured with "
            "the shipped model; with another embedder set SEMANTIC_THRESHOLD from your own evaluation"
        )
    rate = _float(env, Env.SEMANTIC_MAX_FALSE_HIT_RATE, 0.0, 0.0, 1.0)
    try:
        point = budget.point_for_budget(rate)
    except (OSError, ValueError, KeyError) as exc:
        raise SettingsError(f"{Env.SEMANTIC_MAX_FALSE_HIT_RATE}={rate}: {exc}") from None
    return point.threshold, point.pair_cut, rate


def _price_overrides(env: Mapping[str, str]) -> dict[str, Price]:
    try:
        return price_overrides(env.get(Env.PRICES_FILE, "").strip() or None, env.get(Env.PRICES, "").strip() or None)
    except PriceError as exc:
        raise SettingsError(str(exc)) from None
