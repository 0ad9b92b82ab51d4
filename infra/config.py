"""Typed per-environment settings for the CDK app, parsed from `cdk.json` context in one place.

`cdk.json` holds `llmcache:defaults` (every key) and `llmcache:environments` (per-environment
overrides, merged over the defaults key by key). Keys are camelCase in JSON and snake_case here.
An unknown or malformed key fails synthesis with a message naming it, so a typo never deploys.

A namespace (`-c namespace=pr-123`) is a further deployment of an environment: it inherits every
setting of its environment, plus the overrides under `llmcache:namespaces.<env>.<namespace>` if any
(never required), and its name `<env>-<namespace>` replaces the environment's in every physical name.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmcache.constants import Env
from llmcache.settings import Settings, SettingsError

# The threshold `make eval-semantic` measured (docs/semantic.md), the function's own default: what ships.
MEASURED_THRESHOLD = Settings.semantic_threshold

DEFAULTS_KEY = "llmcache:defaults"
ENVIRONMENTS_KEY = "llmcache:environments"
NAMESPACES_KEY = "llmcache:namespaces"
# The layer's binary wheels (layers/build.py) and the function runtime must agree on this.
LAMBDA_PYTHON_VERSION = "3.12"
# API Gateway REST (Regional) integration timeouts above 29 s are allowed, and so are
# Lambda timeouts up to 900 s.
MAX_FUNCTION_TIMEOUT_SECONDS = 900
# Lambda takes at most 6 MiB per synchronous invocation, for the whole API Gateway event: the body (JSON-escaped
# inside the event), headers and request context. A body limit above this leaves room for them, so an
# oversized request reaches the function and gets the contract's 413 instead of API Gateway's own error.
MAX_DEPLOYED_REQUEST_BYTES = 6 * 1024 * 1024 - 1024 * 1024
# The retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,20}$")
# A namespace feeds names with the strictest rules AWS has for them, ElastiCache's (letters, digits, single
# hyphens, a letter first, no hyphen last), and the tightest length: a replication group id takes at most
# 40 characters, and a namespace's Valkey semantic index is named SEMANTIC_INDEX_ID (the hot tier's
# serverless cache, `llmcache-<deployment>`, and every other name are shorter or allow more).
NAMESPACE_RULE = "lowercase letters and digits in words joined by single hyphens, starting with a letter"
_NAMESPACE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
ELASTICACHE_NAME_MAX = 40
SEMANTIC_INDEX_ID = "llmcache-{deployment}-vec"


class ConfigError(ValueError):
    """`cdk.json` context is missing, misspelt or inconsistent."""


class ContextError(ConfigError):
    """A `-c` value (a namespace, a retain flag) is refused; cdk.json itself is fine."""


@dataclass(frozen=True)
class ApiConfig:
    integration_timeout_seconds: int
    throttle_rate_limit: float  # steady requests per second, per API key (usage plan) and per stage
    throttle_burst_limit: int
    # STREAM transfer mode: the ASGI app behind the Lambda Web Adapter relays streamed misses as they come.
    # False: BUFFERED, the Lambda handler answers whole (docs/streaming.md).
    streaming: bool = True
    quota_requests_per_day: int | None = None  # None: no daily quota in the usage plan
    waf_web_acl_arn: str | None = None  # associate an existing WAFv2 web ACL with the stage


@dataclass(frozen=True)
class FunctionConfig:
    memory_mb: int
    timeout_seconds: int
    log_level: str  # DEBUG | INFO | WARN | ERROR
    # The most concurrent executions this function may use, reserved for it out of the account's pool: one
    # client (or a runaway loop) can then neither take the account's whole concurrency nor be starved by
    # another function. None: unreserved (an account with a low concurrency quota cannot reserve any).
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class CacheConfig:
    upstream_base_url: str
    managed_upstream_key: bool  # True: the gateway's own provider key from Secrets Manager
    default_ttl_seconds: int
    max_ttl_seconds: int
    scope: str  # tenant | shared
    inline_max_bytes: int
    max_request_bytes: int
    # /v1/messages: Anthropic's API, and whether the gateway pays it with its own key (a secret, as for OpenAI)
    # or passes on each caller's key.
    anthropic_base_url: str = "https://api.anthropic.com"
    managed_anthropic_key: bool = False
    # Managed mode: passed-on calls allowed beyond the stateless defaults, `METHOD /v1/path` each
    # (PASSTHROUGH_ALLOW; docs/security.md). Empty: the defaults only.
    passthrough_allow: tuple[str, ...] = ()

    @property
    def body_expiry_days(self) -> int:
        """S3 lifecycle expiry: the max TTL in whole days, plus one day of margin."""
        return -(-self.max_ttl_seconds // 86_400) + 1


@dataclass(frozen=True)
class HotTierConfig:
    enabled: bool
    max_data_storage_gb: int
    max_ecpu_per_second: int
    nat_gateways: int
    max_azs: int


SEMANTIC_INDEXES = ("off", "valkey", "qdrant")
# Vector search on ElastiCache for Valkey: node-based clusters from engine 8.2 on (not Serverless).
MIN_VALKEY_SEARCH_VERSION = (8, 2)


@dataclass(frozen=True)
class SemanticConfig:
    index: str  # off | valkey (a node-based ElastiCache for Valkey cluster in the VPC) | qdrant (QDRANT_URL)
    threshold: float  # SEMANTIC_THRESHOLD: the deployment's floor on similarity
    node_type: str = "cache.t4g.small"  # valkey: the cluster's node type (docs/semantic-deploy.md sizes it)
    replicas: int = 0  # valkey: read replicas; 1 or more turns on Multi-AZ with automatic failover
    engine_version: str = "8.2"  # valkey: 8.2 or later
    qdrant_url: str | None = None  # qdrant: https URL of the server; its API key goes in a secret the stack makes
    # SEMANTIC_MAX_FALSE_HIT_RATE: an error budget in place of the threshold; the function picks threshold and
    # pair cut from the curves measured with the shipped models (llmcache/semantic/model/operating-points.json)
    max_false_hit_rate: float | None = None

    @property
    def enabled(self) -> bool:
        return self.index != "off"


@dataclass(frozen=True)
class AlarmConfig:
    period_minutes: int
    evaluation_periods: int
    datapoints_to_alarm: int
    hit_rate_min_percent: float  # alarm when the hit rate falls below this...
    hit_rate_min_requests: int  # ...and at least this many lookups (hits + misses) happened in the period
    server_error_max_percent: float  # API Gateway 5XX / Count, in percent
    server_error_min_requests: int
    upstream_errors_max: int  # UpstreamError sum per period
    backend_errors_max: int  # CacheBackendError sum per period
    hit_latency_p99_max_ms: int  # HitLatency p99
    email: str | None = None  # SNS e-mail subscription; None: subscribe by hand


BEDROCK_AUTH_MODES = ("iam", "passthrough")
# A Bedrock model id (`anthropic.claude-3-5-haiku-20241022-v1:0`), an inference profile id (`us.amazon.nova-lite-v1:0`)
# or an ARN (a provisioned model, an application inference profile, a prompt).
_BEDROCK_MODEL = re.compile(r"^(arn:aws[a-z-]*:bedrock:[a-z0-9-]*:[0-9]*:[a-z-]+/)?[A-Za-z0-9._:+-]+$")
_AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


@dataclass(frozen=True)
class BedrockConfig:
    """Amazon Bedrock Runtime (`/model/{modelId}/converse`, ...): how the function reaches it."""

    auth: str = "iam"  # iam: the function's role signs each call; passthrough: each client's Bedrock API key
    region: str | None = None  # None: the function's own region
    models: tuple[str, ...] = ()  # iam: the model ids, inference profile ids or ARNs the role may invoke


@dataclass(frozen=True)
class EnvironmentConfig:
    # The deployment's name: the environment's (`dev`), or `<environment>-<namespace>` (`dev-pr-123`).
    # The stack name, the stage, the metrics' environment dimension and every physical name derive from it.
    name: str
    retain_data: bool  # RETAIN table, bucket and secrets on stack deletion; PITR and deletion protection
    log_retention_days: int
    tags: Mapping[str, str]
    api: ApiConfig
    function: FunctionConfig
    cache: CacheConfig
    hot_tier: HotTierConfig
    alarms: AlarmConfig
    semantic: SemanticConfig = SemanticConfig(index="off", threshold=MEASURED_THRESHOLD)
    account: str | None = None  # None: the CLI's default account and region (or env-agnostic)
    region: str | None = None
    namespace: str | None = None  # None: the plain environment
    bedrock: BedrockConfig = BedrockConfig()

    @property
    def stack_name(self) -> str:
        return f"LlmCache-{self.name}"

    @property
    def environment(self) -> str:
        """The cdk.json environment this deployment is made from (`dev` for `dev-pr-123`)."""
        return self.name.removesuffix(f"-{self.namespace}") if self.namespace else self.name

    @property
    def auto_delete_data(self) -> bool:
        """A namespace whose data is not retained goes away whole with its stack (the bucket is emptied first).
        Plain environments keep today's template: their bucket must be emptied by hand (docs/deploying.md)."""
        return self.namespace is not None and not self.retain_data

    @property
    def secret_name_prefix(self) -> str | None:
        """A namespace's secrets are named `llmcache/<deployment>/<purpose>` (CloudFormation deletes secrets
        without a recovery window, so a destroyed namespace can be deployed again); a plain environment's
        keep the generated names they were created with (renaming would replace them, and their values)."""
        return f"llmcache/{self.name}/" if self.namespace else None

    @property
    def semantic_index_id(self) -> str | None:
        """The Valkey semantic index's replication group id in a namespace; None keeps the generated one."""
        return SEMANTIC_INDEX_ID.format(deployment=self.name) if self.namespace else None

    def with_hot_tier(self, enabled: bool = True) -> EnvironmentConfig:
        return dataclasses.replace(self, hot_tier=dataclasses.replace(self.hot_tier, enabled=enabled))


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _build(cls: type, raw: Mapping[str, Any], where: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be an object, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = _snake(key)
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{where}.{key} is not a known setting (known: {known})")
        values[name] = value
    missing = [
        n
        for n, f in fields.items()
        if n not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where} is missing {', '.join(missing)}")
    return values


def _check_allowlist(entries: Any, where: str) -> None:
    """The function's own parser checks the entries, so a typo fails the synth, not the cold start."""
    _check(
        isinstance(entries, (list, tuple)) and all(isinstance(e, str) and "," not in e for e in entries),
        f"{where} must be a list of `METHOD /v1/path` strings",
    )
    try:
        Settings.from_env({Env.PASSTHROUGH_ALLOW: ",".join(entries)})
    except SettingsError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def _positive_int(value: Any, where: str, minimum: int = 1) -> int:
    _check(
        isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
        f"{where} must be a whole number >= {minimum}, got {value!r}",
    )
    return int(value)


def parse_flag(value: Any, name: str) -> bool | None:
    """A true/false context value (`-c retain=false` arrives as a string, cdk.json as a boolean); None: not given."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ContextError(f"-c {name}={value}: use true or false")
    return text == "true"


def namespace_max_length(env_name: str) -> int:
    """The longest namespace of `env_name` whose names every AWS service takes (ElastiCache's are the tightest)."""
    return ELASTICACHE_NAME_MAX - len(SEMANTIC_INDEX_ID.format(deployment=f"{env_name}-"))


def check_namespace(environments: Mapping[str, Any], env_name: str, namespace: str) -> str:
    """The deployment name `<env>-<namespace>`, or a one-line ContextError naming the rule it breaks."""
    refused = f"namespace {namespace!r} is refused:"
    if not _NAMESPACE.match(namespace):
        raise ContextError(f"{refused} use {NAMESPACE_RULE} (ElastiCache's naming rule)")
    deployment = f"{env_name}-{namespace}"
    if len(namespace) > namespace_max_length(env_name):
        raise ContextError(
            f"{refused} a namespace of {env_name} takes at most {namespace_max_length(env_name)} characters, because "
            f"it names the ElastiCache cluster {SEMANTIC_INDEX_ID.format(deployment=deployment)} and ElastiCache "
            f"names stop at {ELASTICACHE_NAME_MAX}"
        )
    for other in environments:
        rest = deployment.removeprefix(f"{other}-")
        if deployment == other or (other != env_name and rest != deployment and _NAMESPACE.match(rest)):
            raise ContextError(f"{refused} its stack LlmCache-{deployment} could also be environment {other!r}'s")
    return deployment


def load_config(
    context: Mapping[str, Any], env_name: str, namespace: str | None = None, *, retain: bool | None = None
) -> EnvironmentConfig:
    """The typed settings of `env_name` (or of its `namespace`), from the CDK context (cdk.json plus `-c`
    overrides). `retain` overrides `retainData` for a namespace (`-c retain=false` before destroying one)."""
    defaults = context.get(DEFAULTS_KEY)
    environments = context.get(ENVIRONMENTS_KEY)
    _check(isinstance(defaults, Mapping), f"cdk.json context has no {DEFAULTS_KEY!r} object")
    _check(isinstance(environments, Mapping), f"cdk.json context has no {ENVIRONMENTS_KEY!r} object")
    assert isinstance(defaults, Mapping) and isinstance(environments, Mapping)
    if env_name not in environments:
        raise ConfigError(f"unknown environment {env_name!r}; choose one of {', '.join(environments)} with -c env=NAME")
    _check(bool(_NAME.match(env_name)), f"environment name {env_name!r} must match {_NAME.pattern}")
    raw = _merge(defaults, environments[env_name] or {})
    where = f"{ENVIRONMENTS_KEY}.{env_name}"
    name = env_name
    if namespace is not None:
        name = check_namespace(environments, env_name, namespace)
        overrides = _namespace_overrides(context.get(NAMESPACES_KEY), env_name, namespace)
        if overrides:
            raw, where = _merge(raw, overrides), f"{NAMESPACES_KEY}.{env_name}.{namespace}"
    if retain is not None:
        if namespace is None:
            raise ContextError("-c retain=... applies to namespaces only; an environment's retainData is in cdk.json")
        raw = {**raw, "retainData": retain}
    top = _build(EnvironmentConfig, {"name": name, **raw}, where)
    _check("namespace" not in top, f"{where}.namespace is not a setting: name a namespace with -c namespace=NAME")

    api = ApiConfig(**_build(ApiConfig, top["api"], f"{where}.api"))
    function = FunctionConfig(**_build(FunctionConfig, top["function"], f"{where}.function"))
    cache = CacheConfig(**_build(CacheConfig, top["cache"], f"{where}.cache"))
    hot = HotTierConfig(**_build(HotTierConfig, top["hot_tier"], f"{where}.hotTier"))
    alarms = AlarmConfig(**_build(AlarmConfig, top["alarms"], f"{where}.alarms"))
    semantic = _semantic(top.get("semantic") or {"index": "off", "threshold": MEASURED_THRESHOLD}, f"{where}.semantic")

    _positive_int(api.integration_timeout_seconds, f"{where}.api.integrationTimeoutSeconds")
    _positive_int(function.timeout_seconds, f"{where}.function.timeoutSeconds")
    _check(
        api.integration_timeout_seconds < function.timeout_seconds <= MAX_FUNCTION_TIMEOUT_SECONDS,
        f"{where}: function.timeoutSeconds ({function.timeout_seconds}) must exceed "
        f"api.integrationTimeoutSeconds ({api.integration_timeout_seconds}) and be at most "
        f"{MAX_FUNCTION_TIMEOUT_SECONDS}, so API Gateway gives up before the function does",
    )
    _check(
        128 <= _positive_int(function.memory_mb, f"{where}.function.memoryMb") <= 10_240,
        f"{where}.function.memoryMb must be 128..10240",
    )
    if function.reserved_concurrency is not None:
        _positive_int(function.reserved_concurrency, f"{where}.function.reservedConcurrency")
    _check(
        function.log_level in ("DEBUG", "INFO", "WARN", "ERROR"),
        f"{where}.function.logLevel must be DEBUG, INFO, WARN or ERROR",
    )
    _check(cache.scope in ("tenant", "shared"), f"{where}.cache.scope must be tenant or shared")
    _check(cache.upstream_base_url.startswith("https://"), f"{where}.cache.upstreamBaseUrl must be an https:// URL")
    _check(cache.anthropic_base_url.startswith("https://"), f"{where}.cache.anthropicBaseUrl must be an https:// URL")
    _check(isinstance(cache.managed_anthropic_key, bool), f"{where}.cache.managedAnthropicKey must be true or false")
    _positive_int(cache.default_ttl_seconds, f"{where}.cache.defaultTtlSeconds")
    _check_allowlist(cache.passthrough_allow, f"{where}.cache.passthroughAllow")
    _check(
        0 < cache.max_request_bytes <= MAX_DEPLOYED_REQUEST_BYTES,
        f"{where}.cache.maxRequestBytes must be 1..{MAX_DEPLOYED_REQUEST_BYTES}: Lambda's 6 MiB event limit "
        "includes headers and the escaped body, and a larger body would never reach the function's 413",
    )
    _positive_int(cache.max_ttl_seconds, f"{where}.cache.maxTtlSeconds")
    _check(cache.default_ttl_seconds <= cache.max_ttl_seconds, f"{where}.cache.defaultTtlSeconds exceeds maxTtlSeconds")
    _check(0 <= alarms.hit_rate_min_percent <= 100, f"{where}.alarms.hitRateMinPercent must be 0..100")
    _check(0 < alarms.server_error_max_percent <= 100, f"{where}.alarms.serverErrorMaxPercent must be 0..100")
    _check(
        1 <= alarms.datapoints_to_alarm <= alarms.evaluation_periods,
        f"{where}.alarms.datapointsToAlarm must be 1..evaluationPeriods",
    )
    _check(
        hot.nat_gateways >= 1 or not (hot.enabled or semantic.index == "valkey"),
        f"{where}.hotTier.natGateways must be >= 1: the upstream provider is on the internet (the function is in "
        "a VPC with the hot tier or the Valkey semantic index)",
    )
    log_days = top["log_retention_days"]
    _check(log_days in LOG_RETENTION_DAYS, f"{where}.logRetentionDays must be one of {LOG_RETENTION_DAYS}")

    return EnvironmentConfig(
        name=name,
        namespace=namespace,
        account=top.get("account") or None,
        region=top.get("region") or None,
        retain_data=bool(top["retain_data"]),
        log_retention_days=log_days,
        tags=dict(top.get("tags") or {}),
        api=api,
        function=function,
        cache=cache,
        hot_tier=hot,
        alarms=alarms,
        semantic=semantic,
        bedrock=_bedrock(top.get("bedrock") or {}, f"{where}.bedrock"),
    )


def _namespace_overrides(namespaces: Any, env_name: str, namespace: str) -> Mapping[str, Any]:
    """`llmcache:namespaces.<env>.<namespace>` from cdk.json, or nothing: overrides are never required."""
    if namespaces is None:
        return {}
    _check(isinstance(namespaces, Mapping), f"{NAMESPACES_KEY} must be an object of environments")
    of_env = namespaces.get(env_name) or {}
    _check(isinstance(of_env, Mapping), f"{NAMESPACES_KEY}.{env_name} must be an object of namespaces")
    overrides = of_env.get(namespace) or {}
    _check(isinstance(overrides, Mapping), f"{NAMESPACES_KEY}.{env_name}.{namespace} must be an object of settings")
    return overrides


def _semantic(raw: Mapping[str, Any], where: str) -> SemanticConfig:
    semantic = SemanticConfig(**_build(SemanticConfig, raw, where))
    _check(semantic.index in SEMANTIC_INDEXES, f"{where}.index must be one of {', '.join(SEMANTIC_INDEXES)}")
    _check(
        isinstance(semantic.threshold, int | float) and 0 < semantic.threshold <= 1,
        f"{where}.threshold must be a number in (0, 1], got {semantic.threshold!r}",
    )
    _check(isinstance(semantic.replicas, int) and 0 <= semantic.replicas <= 5, f"{where}.replicas must be 0..5")
    budget = semantic.max_false_hit_rate
    _check(
        budget is None or (isinstance(budget, int | float) and 0 < budget < 1),
        f"{where}.maxFalseHitRate must be a number in (0, 1), got {budget!r}",
    )
    _check(
        isinstance(semantic.node_type, str)
        and semantic.node_type.startswith("cache.")
        and "gd." not in semantic.node_type,
        f"{where}.nodeType must be an ElastiCache node type (cache.*) without data tiering (no search on r6gd)",
    )
    version = tuple(int(p) for p in re.findall(r"\d+", str(semantic.engine_version))[:2])
    _check(
        version >= MIN_VALKEY_SEARCH_VERSION,
        f"{where}.engineVersion must be 8.2 or later: vector search needs it, got {semantic.engine_version!r}",
    )
    if semantic.index == "qdrant":
        _check(
            bool(semantic.qdrant_url) and str(semantic.qdrant_url).startswith("https://"),
            f"{where}.qdrantUrl must be the https:// URL of the Qdrant server when index is qdrant",
        )
    return semantic


def _bedrock(raw: Mapping[str, Any], where: str) -> BedrockConfig:
    values = _build(BedrockConfig, raw, where)
    models = values.get("models") or []
    _check(
        isinstance(models, list) and all(isinstance(m, str) and _BEDROCK_MODEL.match(m) for m in models),
        f"{where}.models must be a list of Bedrock model ids, inference profile ids or ARNs, got {models!r}",
    )
    bedrock = BedrockConfig(**{**values, "models": tuple(models)})
    _check(bedrock.auth in BEDROCK_AUTH_MODES, f"{where}.auth must be one of {', '.join(BEDROCK_AUTH_MODES)}")
    _check(
        bedrock.region is None or bool(_AWS_REGION.match(str(bedrock.region))),
        f"{where}.region must be an AWS region name (us-east-1) or null, got {bedrock.region!r}",
    )
    return bedrock
