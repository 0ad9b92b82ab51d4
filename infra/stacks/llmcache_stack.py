"""One environment of llmcache: storage, secrets, function, API, optional hot tier, monitoring."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, Stack, Tags
from aws_cdk import aws_ec2 as ec2

from constructs import Construct
from infra.config import EnvironmentConfig
from infra.constructs.api import CacheApi
from infra.constructs.function import CacheFunction
from infra.constructs.hot_tier import HotTier
from infra.constructs.monitoring import CacheMonitoring
from infra.constructs.network import Network, add_network
from infra.constructs.secrets import CacheSecrets
from infra.constructs.semantic_index import QdrantApiKey, ValkeySemanticIndex, semantic_environment
from infra.constructs.storage import CacheStorage
from llmcache.constants import BUCKET_BODY_PREFIX, METRIC_NAMESPACE, SERVICE_NAME, Env
from llmcache.settings import bedrock_runtime_url

# Seconds the function keeps for itself after a provider read stalls: it answers 504 in
# OpenAI's envelope before API Gateway cuts the connection with its own bare 504.
UPSTREAM_READ_MARGIN_SECONDS = 5
# Streaming: a provider silent this long between two reads is taken as stalled (the client gets an error
# event). Under API Gateway's 5-minute idle timeout for Regional streams, so the client hears why.
STREAM_STALL_SECONDS = 240
# The Lambda Web Adapter's settings (its docs: "Environment Variables", "Response Streaming"): it wraps the
# runtime, runs run.sh, waits for GET /health, then streams each answer the app writes on port 8080.
ADAPTER_ENV = {
    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
    "AWS_LWA_INVOKE_MODE": "response_stream",
    "AWS_LWA_READINESS_CHECK_PATH": "/health",
    "AWS_LWA_PORT": "8080",
}


def function_environment(
    config: EnvironmentConfig,
    *,
    table_name: str,
    bucket_name: str,
    admin_key_secret_arn: str,
    upstream_key_secret_arn: str | None,
    redis_url: str | None,
    anthropic_key_secret_arn: str | None = None,
    semantic: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment the function gets: names from `llmcache.constants.Env`, values from config."""
    cache = config.cache
    tiers = ("memory", "redis", "dynamodb") if redis_url else ("memory", "dynamodb")
    # Everything one request spends on the provider (coalescing waits, connect, reads) ends before API
    # Gateway's integration timeout, so the caller gets our 504 (or error event), not the gateway's bare cut.
    deadline = max(1, config.api.integration_timeout_seconds - UPSTREAM_READ_MARGIN_SECONDS)
    read_timeout = min(deadline, STREAM_STALL_SECONDS) if config.api.streaming else deadline
    env = {
        Env.ENVIRONMENT: config.name,
        Env.UPSTREAM_BASE_URL: cache.upstream_base_url,
        Env.ANTHROPIC_BASE_URL: cache.anthropic_base_url,
        Env.UPSTREAM_READ_TIMEOUT: str(read_timeout),
        Env.REQUEST_DEADLINE: str(deadline),
        Env.CACHE_TABLE: table_name,
        Env.CACHE_BUCKET: bucket_name,
        Env.CACHE_TIERS: ",".join(tiers),
        Env.CACHE_DEFAULT_TTL: str(cache.default_ttl_seconds),
        Env.CACHE_MAX_TTL: str(cache.max_ttl_seconds),
        Env.CACHE_SCOPE: cache.scope,
        Env.CACHE_INLINE_MAX_BYTES: str(cache.inline_max_bytes),
        Env.MAX_REQUEST_BYTES: str(cache.max_request_bytes),
        Env.ADMIN_API_KEY_SECRET_ARN: admin_key_secret_arn,
        **(semantic or {Env.SEMANTIC_MODE: "off"}),
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRIC_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": config.function.log_level,
    }
    if config.api.streaming:
        env.update(ADAPTER_ENV)
    if upstream_key_secret_arn:
        env[Env.UPSTREAM_API_KEY_SECRET_ARN] = upstream_key_secret_arn
    if anthropic_key_secret_arn:
        env[Env.ANTHROPIC_API_KEY_SECRET_ARN] = anthropic_key_secret_arn
    if redis_url:
        env[Env.REDIS_URL] = redis_url
    env[Env.BEDROCK_AUTH] = config.bedrock.auth
    if config.bedrock.region:  # else the function's own region (AWS_REGION, set by Lambda)
        env[Env.BEDROCK_BASE_URL] = bedrock_runtime_url(config.bedrock.region)
    if cache.passthrough_allow:
        env[Env.PASSTHROUGH_ALLOW] = ",".join(cache.passthrough_allow)
    return env


def api_key_command(*, deployment: str, region: str, usage_plan_id: str) -> str:
    """One shell line for a client API key: create it, add it to the usage plan, print its value."""
    cli = f"aws apigateway --region {region}"
    return (
        f'KEY_ID=$({cli} create-api-key --name "llmcache-{deployment}-$USER" --enabled --query id --output text)'
        f' && {cli} create-usage-plan-key --usage-plan-id {usage_plan_id} --key-id "$KEY_ID" --key-type API_KEY'
        f' >/dev/null && {cli} get-api-key --api-key "$KEY_ID" --include-value --query value --output text'
    )


def _named(prefix: str | None, purpose: str) -> str | None:
    return f"{prefix}{purpose}" if prefix else None


class LlmCacheStack(Stack):
    def __init__(
        self,
        scope: Construct,
        *,
        config: EnvironmentConfig,
        code_dir: Path,
        layer_dir: Path,
        **kwargs: object,
    ) -> None:
        super().__init__(
            scope,
            config.stack_name,
            description=f"llmcache ({config.name}): serverless cache for OpenAI-compatible LLM APIs",
            **kwargs,  # type: ignore[arg-type]
        )
        self.config = config
        namespace_tag = {"Namespace": config.namespace} if config.namespace else {}
        for key, value in {**config.tags, "Environment": config.environment, **namespace_tag}.items():
            Tags.of(self).add(key, value)

        storage = CacheStorage(
            self,
            "Storage",
            retain_data=config.retain_data,
            body_expiry_days=config.cache.body_expiry_days,
            auto_delete_objects=config.auto_delete_data,
        )
        secrets = CacheSecrets(
            self,
            "Secrets",
            env_name=config.name,
            managed_upstream_key=config.cache.managed_upstream_key,
            managed_anthropic_key=config.cache.managed_anthropic_key,
            retain_data=config.retain_data,
            name_prefix=config.secret_name_prefix,
        )

        hot: HotTier | None = None
        vpc: ec2.IVpc | None = None
        security_groups: list[ec2.ISecurityGroup] | None = None
        if config.hot_tier.enabled:
            hot = HotTier(
                self,
                "HotTier",
                env_name=config.name,
                max_azs=config.hot_tier.max_azs,
                nat_gateways=config.hot_tier.nat_gateways,
                max_data_storage_gb=config.hot_tier.max_data_storage_gb,
                max_ecpu_per_second=config.hot_tier.max_ecpu_per_second,
                log_retention_days=config.log_retention_days,
                retain_logs=config.retain_data,
            )
            vpc, security_groups = hot.vpc, [hot.function_security_group]

        semantic_index: ValkeySemanticIndex | None = None
        qdrant_key: QdrantApiKey | None = None
        if config.semantic.index == "valkey":
            network = hot.network if hot else self._network(config)
            vpc, security_groups = network.vpc, [network.function_security_group]
            semantic_index = ValkeySemanticIndex(
                self,
                "SemanticIndex",
                env_name=config.name,
                network=network,
                node_type=config.semantic.node_type,
                replicas=config.semantic.replicas,
                engine_version=config.semantic.engine_version,
                retain_data=config.retain_data,
                replication_group_id=config.semantic_index_id,
                secret_name=_named(config.secret_name_prefix, "valkey-auth-token"),
            )
        elif config.semantic.index == "qdrant":
            qdrant_key = QdrantApiKey(
                self,
                "QdrantApiKey",
                env_name=config.name,
                retain_data=config.retain_data,
                secret_name=_named(config.secret_name_prefix, "qdrant-api-key"),
            )

        self.environment_variables = function_environment(
            config,
            table_name=storage.table.table_name,
            bucket_name=storage.bucket.bucket_name,
            admin_key_secret_arn=secrets.admin_key.secret_arn,
            upstream_key_secret_arn=secrets.upstream_key.secret_arn if secrets.upstream_key else None,
            anthropic_key_secret_arn=secrets.anthropic_key.secret_arn if secrets.anthropic_key else None,
            redis_url=hot.redis_url if hot else None,
            semantic=semantic_environment(
                config.semantic,
                redis_url=semantic_index.redis_url if semantic_index else None,
                auth_secret_arn=semantic_index.auth_token.secret_arn if semantic_index else None,
                qdrant_key_secret_arn=qdrant_key.secret.secret_arn if qdrant_key else None,
            ),
        )
        fn = CacheFunction(
            self,
            "Cache",
            code_dir=code_dir,
            layer_dir=layer_dir,
            environment=self.environment_variables,
            memory_mb=config.function.memory_mb,
            timeout=Duration.seconds(config.function.timeout_seconds),
            log_level=config.function.log_level,
            log_retention_days=config.log_retention_days,
            retain_logs=config.retain_data,
            reserved_concurrency=config.function.reserved_concurrency,
            streaming=config.api.streaming,
            semantic_model=config.semantic.index != "off",
            vpc=vpc,
            security_groups=security_groups,
        )
        fn.allow_table_items(storage.table)
        fn.allow_bucket_objects(storage.bucket, BUCKET_BODY_PREFIX)
        fn.allow_secret(secrets.admin_key)
        for provider_key in (secrets.upstream_key, secrets.anthropic_key):
            if provider_key:
                fn.allow_secret(provider_key)
        fn.allow_metric_reads()
        if config.bedrock.auth == "iam":
            fn.allow_bedrock(config.bedrock.models, config.bedrock.region)
        if semantic_index:
            fn.allow_secret(semantic_index.auth_token)
        if qdrant_key:
            fn.allow_secret(qdrant_key.secret)

        api = CacheApi(
            self,
            "Api",
            env_name=config.name,
            handler=fn.function,
            integration_timeout=Duration.seconds(config.api.integration_timeout_seconds),
            streaming=config.api.streaming,
            throttle_rate_limit=config.api.throttle_rate_limit,
            throttle_burst_limit=config.api.throttle_burst_limit,
            quota_requests_per_day=config.api.quota_requests_per_day,
            log_retention_days=config.log_retention_days,
            retain_logs=config.retain_data,
            waf_web_acl_arn=config.api.waf_web_acl_arn,
            account_log_role=config.namespace is None,
        )
        monitoring = CacheMonitoring(
            self, "Monitoring", env_name=config.name, alarms=config.alarms, stage=api.stage, function=fn.function
        )

        self.function = fn
        self.api = api
        self.storage = storage
        self.secrets = secrets
        self.hot_tier = hot
        self.semantic_index = semantic_index
        self.monitoring = monitoring

        CfnOutput(self, "ApiUrl", value=api.url, description="Base URL; clients use <ApiUrl>v1")
        CfnOutput(
            self,
            "UsagePlanId",
            value=api.usage_plan.usage_plan_id,
            description="Add client API keys to this usage plan",
        )
        CfnOutput(
            self,
            "ApiKeyCommand",
            value=api_key_command(
                deployment=config.name, region=self.region, usage_plan_id=api.usage_plan.usage_plan_id
            ),
            description="Run with the aws CLI: creates a client API key in this stack's usage plan and prints it",
        )
        CfnOutput(
            self,
            "AdminKeySecretArn",
            value=secrets.admin_key.secret_arn,
            description="The admin key (/cache/* routes): aws secretsmanager get-secret-value --secret-id <this ARN> "
            "--query SecretString --output text",
        )
        if secrets.upstream_key:
            CfnOutput(
                self,
                "UpstreamKeySecretArn",
                value=secrets.upstream_key.secret_arn,
                description="Put the provider API key here (put-secret-value)",
            )
        if secrets.anthropic_key:
            CfnOutput(
                self,
                "AnthropicKeySecretArn",
                value=secrets.anthropic_key.secret_arn,
                description="Put the Anthropic API key here (put-secret-value)",
            )
        if qdrant_key:
            CfnOutput(
                self,
                "QdrantApiKeySecretArn",
                value=qdrant_key.secret.secret_arn,
                description="Put the Qdrant API key here (put-secret-value)",
            )
        CfnOutput(self, "AlarmTopicArn", value=monitoring.topic.topic_arn)
        CfnOutput(
            self,
            "DashboardUrl",
            value=f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#dashboards/dashboard/{monitoring.dashboard.dashboard_name}",
        )
        CfnOutput(self, "TableName", value=storage.table.table_name)
        CfnOutput(self, "BucketName", value=storage.bucket.bucket_name)
        CfnOutput(self, "FunctionName", value=fn.function.function_name)

    def _network(self, config: EnvironmentConfig) -> Network:
        """The function's VPC when the Valkey semantic index needs one and the hot tier is off."""
        return add_network(
            Construct(self, "Network"),
            env_name=config.name,
            max_azs=config.hot_tier.max_azs,
            nat_gateways=config.hot_tier.nat_gateways,
            log_retention_days=config.log_retention_days,
            retain_logs=config.retain_data,
        )
