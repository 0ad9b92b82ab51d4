"""The synthesized dev and prod templates: function, API, storage, secrets, IAM, hot tier, tags."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template
from infra.constructs.secrets import CacheSecrets
from infra.stacks.llmcache_stack import ADAPTER_ENV, function_environment
from infra_support import BUFFERED, Synthesized

from llmcache import constants
from llmcache.constants import BUCKET_BODY_PREFIX, TABLE_PARTITION_KEY, TABLE_TTL_ATTRIBUTE, Env
from llmcache.settings import Settings

POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
    "POWERTOOLS_METRICS_NAMESPACE": constants.METRIC_NAMESPACE,
}
ENV_NAMES = {v for k, v in vars(Env).items() if not k.startswith("_")}


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every name `Settings.from_env` asks for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return self.values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def concrete(env: Mapping[str, Any]) -> dict[str, str]:
    """Template values with CloudFormation references replaced by plausible strings."""
    out = {}
    for key, value in env.items():
        if isinstance(value, str):
            out[key] = value
        elif key == Env.REDIS_URL:
            out[key] = "rediss://cache.example:6379"
        else:
            out[key] = f"resolved-{key.lower()}"
    return out


# ---- function -------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["dev", "prod", BUFFERED])
def test_given_env_when_synthesized_then_function_is_python_arm64_traced_with_json_logs(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    s = synthesized[env_name]
    streaming = s.config.api.streaming
    s.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": Match.string_like_regexp(r"^python3\.(1[2-9])$"),
            "Architectures": ["arm64"],
            "Handler": "run.sh" if streaming else "llmcache.handler.lambda_handler",
            "TracingConfig": {"Mode": "Active"},
            "MemorySize": s.config.function.memory_mb,
            "Timeout": s.config.function.timeout_seconds,
            "Layers": [{"Ref": Match.any_value()}, Match.any_value()] if streaming else [{"Ref": Match.any_value()}],
            "LoggingConfig": {
                "LogFormat": "JSON",
                "ApplicationLogLevel": s.config.function.log_level,
                "SystemLogLevel": "WARN",
                "LogGroup": {"Ref": Match.any_value()},
            },
        },
    )
    log_groups = [r["Properties"].get("RetentionInDays") for r in s.resources("AWS::Logs::LogGroup").values()]
    assert log_groups and set(log_groups) == {s.config.log_retention_days}


def test_given_dev_when_synthesized_then_the_function_asset_is_the_package_without_the_local_runner(
    dev: Synthesized, cdk_outdir: Path
) -> None:
    function = dev.one("AWS::Lambda::Function")
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    asset = cdk_outdir / f"asset.{asset_hash}"
    assert (asset / "llmcache" / "handler.py").is_file()
    assert (asset / "llmcache" / "asgi.py").is_file()
    assert (asset / "run.sh").stat().st_mode & 0o111  # the adapter executes it
    assert (asset / "llmcache" / "stores" / "tiered.py").is_file()
    assert not (asset / "llmcache" / "local").exists()  # make run's server and fake provider: never on Lambda
    assert not list(asset.rglob("__pycache__"))
    assert not (asset / "llmcache" / "semantic" / "model").exists()  # semantic is off in dev: no model files


def test_given_staging_with_semantic_on_when_synthesized_then_the_asset_carries_the_models_the_path_asks(
    staging: Synthesized, cdk_outdir: Path
) -> None:
    from llmcache.semantic.pair_verifier import PAIR_CUT

    function = staging.one("AWS::Lambda::Function")
    model = cdk_outdir / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}" / "llmcache"
    model = model / "semantic" / "model"
    assert (model / "embedder.int8.onnx").is_file() and (model / "tokenizer.json").is_file()
    assert (model / "pair.int8.onnx").is_file() == (PAIR_CUT is not None)  # only when the decision asks it
    assert not list(model.glob("training-report.*"))
    assert (model / "operating-points.json").is_file()  # SEMANTIC_MAX_FALSE_HIT_RATE reads it at start
    assert not (model.parent / "offline").exists()  # training and evaluation never ship


def test_given_dev_when_synthesized_then_function_timeout_exceeds_the_integration_timeout(dev: Synthesized) -> None:
    timeout_ms = {
        m["Properties"]["Integration"]["TimeoutInMillis"] for m in dev.resources("AWS::ApiGateway::Method").values()
    }
    function_timeout = dev.one("AWS::Lambda::Function")["Properties"]["Timeout"]

    assert timeout_ms == {dev.config.api.integration_timeout_seconds * 1000}
    assert min(timeout_ms) > 29_000, "slow LLM answers need more than REST API's default 29 s"
    assert function_timeout * 1000 > max(timeout_ms)
    # the request's own deadline ends first, so callers get our 504 envelope rather than API Gateway's
    deadline = float(dev.one("AWS::Lambda::Function")["Properties"]["Environment"]["Variables"][Env.REQUEST_DEADLINE])
    assert 0 < deadline * 1000 < min(timeout_ms)


@pytest.mark.parametrize("env_name", ["dev", "prod", "prodhot"])
def test_given_env_when_synthesized_then_function_env_names_are_the_ones_settings_reads(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    env = synthesized[env_name].function_env
    app_vars = {k: v for k, v in env.items() if not k.startswith("POWERTOOLS_") and k not in ADAPTER_ENV}

    recording = RecordingEnv(concrete(app_vars))
    settings = Settings.from_env(recording)

    assert set(app_vars) <= ENV_NAMES, f"not in llmcache.constants.Env: {set(app_vars) - ENV_NAMES}"
    assert set(app_vars) <= recording.asked, f"never read by Settings: {set(app_vars) - recording.asked}"
    assert {k: env[k] for k in POWERTOOLS_ENV} == POWERTOOLS_ENV
    assert env["POWERTOOLS_LOG_LEVEL"] == synthesized[env_name].config.function.log_level
    assert settings.environment == synthesized[env_name].config.name
    assert settings.max_ttl == synthesized[env_name].config.cache.max_ttl_seconds
    assert settings.managed_upstream_key and settings.admin_api_key_secret_arn
    assert settings.semantic_mode == "off"


def test_given_dev_when_synthesized_then_function_env_points_at_its_own_table_bucket_and_secrets(
    dev: Synthesized,
) -> None:
    env = dev.function_env
    table = next(iter(dev.resources("AWS::DynamoDB::Table")))
    bucket = next(iter(dev.resources("AWS::S3::Bucket")))
    secrets = set(dev.resources("AWS::SecretsManager::Secret"))

    assert env[Env.CACHE_TABLE] == {"Ref": table}
    assert env[Env.CACHE_BUCKET] == {"Ref": bucket}
    assert {env[Env.ADMIN_API_KEY_SECRET_ARN]["Ref"], env[Env.UPSTREAM_API_KEY_SECRET_ARN]["Ref"]} == secrets
    assert env[Env.CACHE_TIERS] == "memory,dynamodb"
    assert Env.REDIS_URL not in env
    assert not any(k in env for k in (Env.UPSTREAM_API_KEY, Env.ADMIN_API_KEY)), "no secret values in env"


# ---- IAM ------------------------------------------------------------------------------------


def _statements(s: Synthesized) -> list[dict[str, Any]]:
    policies = s.resources("AWS::IAM::Policy")
    return [st for p in policies.values() for st in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


@pytest.mark.parametrize("env_name", ["dev", "prodhot"])
def test_given_env_when_synthesized_then_function_role_is_least_privilege(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    s = synthesized[env_name]
    function_role = s.one("AWS::Lambda::Function")["Properties"]["Role"]["Fn::GetAtt"][0]
    role = s.raw["Resources"][function_role]["Properties"]
    table = next(iter(s.resources("AWS::DynamoDB::Table")))
    bucket = next(iter(s.resources("AWS::S3::Bucket")))
    allowed_star = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:GetMetricData",
                    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                    "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses"}  # fmt: skip

    assert "ManagedPolicyArns" not in role, "no AWS managed policies on the function role"
    for st in _statements(s):
        assert st["Effect"] == "Allow"
        assert not any(a.endswith("*") for a in _actions(st)), st
        if st["Resource"] == "*":
            assert set(_actions(st)) <= allowed_star, st
        if any(a.startswith("dynamodb:") for a in _actions(st)):
            assert st["Resource"] == {"Fn::GetAtt": [table, "Arn"]}
            # only item calls: no Scan or Query, which would read every tenant's answers at once
            assert set(_actions(st)) == {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem",
                                         "dynamodb:UpdateItem", "dynamodb:DeleteItem"}  # fmt: skip
        if any(a.startswith("s3:") and a != "s3:ListBucket" for a in _actions(st)):
            assert set(_actions(st)) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
            assert st["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, f"/{BUCKET_BODY_PREFIX}*"]]}
        if any(a.startswith("secretsmanager:") for a in _actions(st)):
            assert set(_actions(st)) <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
            refs = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            assert {r["Ref"] for r in refs} == set(s.resources("AWS::SecretsManager::Secret"))
    granted = {a for st in _statements(s) for a in _actions(st)}
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
            "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "secretsmanager:GetSecretValue",
            "cloudwatch:GetMetricData", "logs:PutLogEvents"} <= granted  # fmt: skip


# ---- storage and secrets --------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_given_env_when_synthesized_then_table_is_on_demand_encrypted_with_ttl(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    synthesized[env_name].template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": TABLE_PARTITION_KEY, "AttributeType": "S"}],
            "TimeToLiveSpecification": {"AttributeName": TABLE_TTL_ATTRIBUTE, "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_given_prod_when_synthesized_then_table_is_retained_with_pitr_and_deletion_protection(
    prod: Synthesized,
) -> None:
    table = prod.one("AWS::DynamoDB::Table")

    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["Properties"]["DeletionProtectionEnabled"] is True


def test_given_dev_when_synthesized_then_table_can_be_destroyed(dev: Synthesized) -> None:
    table = dev.one("AWS::DynamoDB::Table")

    assert table["DeletionPolicy"] == "Delete"
    assert table["Properties"].get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True
    assert table["Properties"].get("DeletionProtectionEnabled") is not True


@pytest.mark.parametrize(("env_name", "policy"), [("dev", "Delete"), ("prod", "Retain")])
def test_given_env_when_synthesized_then_bucket_is_private_encrypted_tls_only_and_expires_bodies(
    synthesized: dict[str, Synthesized], env_name: str, policy: str
) -> None:
    s = synthesized[env_name]
    bucket = s.one("AWS::S3::Bucket")
    props = bucket["Properties"]
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}

    assert bucket["DeletionPolicy"] == policy
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }  # fmt: skip
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    expiry = rules["expire-bodies-after-max-ttl"]
    assert expiry["Prefix"] == BUCKET_BODY_PREFIX and expiry["Status"] == "Enabled"
    assert expiry["ExpirationInDays"] * 86_400 > s.config.cache.max_ttl_seconds
    assert expiry["ExpirationInDays"] == s.config.cache.body_expiry_days
    s.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Effect": "Deny", "Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        })])}},
    )  # fmt: skip


def test_given_dev_and_prod_when_synthesized_then_body_expiry_follows_each_max_ttl(
    dev: Synthesized, prod: Synthesized
) -> None:
    def days(s: Synthesized) -> int:
        rules = s.one("AWS::S3::Bucket")["Properties"]["LifecycleConfiguration"]["Rules"]
        return next(r["ExpirationInDays"] for r in rules if r["Id"] == "expire-bodies-after-max-ttl")

    assert (days(dev), days(prod)) == (2, 31)


@pytest.mark.parametrize(("env_name", "policy"), [("dev", "Delete"), ("prod", "Retain")])
def test_given_env_when_synthesized_then_upstream_and_admin_secrets_exist(
    synthesized: dict[str, Synthesized], env_name: str, policy: str
) -> None:
    secrets = synthesized[env_name].resources("AWS::SecretsManager::Secret")

    assert len(secrets) == 2
    assert {s["DeletionPolicy"] for s in secrets.values()} == {policy}
    assert all("GenerateSecretString" in s["Properties"] for s in secrets.values())


# ---- API ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_given_env_when_synthesized_then_api_is_regional_with_access_logs_and_throttling(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    s = synthesized[env_name]
    api = s.config.api
    s.template.has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {
            "EndpointConfiguration": {"Types": ["REGIONAL"]},
            "ApiKeySourceType": "HEADER",
            "Name": f"llmcache-{env_name}",
        },
    )
    stage = s.one("AWS::ApiGateway::Stage")["Properties"]
    assert stage["StageName"] == env_name
    assert stage["TracingEnabled"] is True
    assert set(json.loads(stage["AccessLogSetting"]["Format"])) >= {"requestId", "status", "apiKeyId", "latencyMs"}
    assert stage["MethodSettings"] == [{
        "HttpMethod": "*", "ResourcePath": "/*", "LoggingLevel": "ERROR", "DataTraceEnabled": False,
        "MetricsEnabled": True, "ThrottlingRateLimit": api.throttle_rate_limit,
        "ThrottlingBurstLimit": api.throttle_burst_limit,
    }]  # fmt: skip
    plan = s.one("AWS::ApiGateway::UsagePlan")["Properties"]
    assert plan["Throttle"] == {"RateLimit": api.throttle_rate_limit, "BurstLimit": api.throttle_burst_limit}
    if api.quota_requests_per_day:
        assert plan["Quota"] == {"Limit": api.quota_requests_per_day, "Period": "DAY"}
    else:
        assert "Quota" not in plan
    assert plan["ApiStages"][0]["Stage"] == {"Ref": next(iter(s.resources("AWS::ApiGateway::Stage")))}


def test_given_dev_when_synthesized_then_every_route_proxies_to_the_function_and_needs_a_key_but_health(
    dev: Synthesized,
) -> None:
    function = next(iter(dev.resources("AWS::Lambda::Function")))
    paths = {k: v["Properties"].get("PathPart") for k, v in dev.resources("AWS::ApiGateway::Resource").items()}
    methods = {}
    for m in dev.resources("AWS::ApiGateway::Method").values():
        p = m["Properties"]
        resource = p["ResourceId"]
        path = "/" if "Fn::GetAtt" in resource else paths[resource["Ref"]]
        methods[(path, p["HttpMethod"])] = p["ApiKeyRequired"]
        assert p["Integration"]["Type"] == "AWS_PROXY"
        assert function in json.dumps(p["Integration"]["Uri"])

    assert methods == {("/", "ANY"): True, ("{proxy+}", "ANY"): True, ("health", "GET"): False}


# ---- hot tier -------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_given_default_config_when_synthesized_then_no_vpc_nat_or_elasticache(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    s = synthesized[env_name]
    for type_ in ("AWS::EC2::VPC", "AWS::EC2::NatGateway", "AWS::ElastiCache::ServerlessCache"):
        s.template.resource_count_is(type_, 0)
    assert "VpcConfig" not in s.one("AWS::Lambda::Function")["Properties"]


def test_given_hot_tier_on_when_synthesized_then_valkey_serverless_in_private_subnets_over_tls(
    hot: Synthesized,
) -> None:
    cache = hot.one("AWS::ElastiCache::ServerlessCache")
    cache_props = cache["Properties"]
    function = hot.one("AWS::Lambda::Function")["Properties"]
    env = function["Environment"]["Variables"]
    cache_id = next(iter(hot.resources("AWS::ElastiCache::ServerlessCache")))

    assert cache_props["Engine"] == "valkey"
    assert cache_props["CacheUsageLimits"] == {
        "DataStorage": {"Unit": "GB", "Maximum": hot.config.hot_tier.max_data_storage_gb},
        "ECPUPerSecond": {"Maximum": hot.config.hot_tier.max_ecpu_per_second},
    }
    assert env[Env.CACHE_TIERS] == "memory,redis,dynamodb"
    assert env[Env.REDIS_URL] == {"Fn::Join": ["", [
        "rediss://", {"Fn::GetAtt": [cache_id, "Endpoint.Address"]}, ":", {"Fn::GetAtt": [cache_id, "Endpoint.Port"]},
    ]]}  # fmt: skip
    private = {k for k, v in hot.resources("AWS::EC2::Subnet").items()
               if not v["Properties"].get("MapPublicIpOnLaunch")}  # fmt: skip
    assert {s["Ref"] for s in function["VpcConfig"]["SubnetIds"]} == private
    assert {s["Ref"] for s in cache_props["SubnetIds"]} == private


def test_given_hot_tier_on_when_synthesized_then_nat_and_gateway_endpoints_carry_the_traffic(hot: Synthesized) -> None:
    endpoints = hot.resources("AWS::EC2::VPCEndpoint").values()
    services = sorted(json.dumps(e["Properties"]["ServiceName"]) for e in endpoints)

    hot.template.resource_count_is("AWS::EC2::NatGateway", hot.config.hot_tier.nat_gateways)
    assert {e["Properties"]["VpcEndpointType"] for e in endpoints} == {"Gateway"}
    assert len(services) == 2 and "dynamodb" in services[0] and "s3" in services[1]
    hot.template.resource_count_is("AWS::EC2::FlowLog", 1)


def test_given_hot_tier_on_when_synthesized_then_only_the_function_reaches_valkey(hot: Synthesized) -> None:
    cache_sg = hot.one("AWS::ElastiCache::ServerlessCache")["Properties"]["SecurityGroupIds"][0]["Fn::GetAtt"][0]
    function_sg = hot.one("AWS::Lambda::Function")["Properties"]["VpcConfig"]["SecurityGroupIds"][0]["Fn::GetAtt"][0]
    ingress = [r["Properties"] for r in hot.resources("AWS::EC2::SecurityGroupIngress").values()]
    inline = hot.raw["Resources"][cache_sg]["Properties"].get("SecurityGroupIngress", [])

    assert not inline
    assert len(ingress) == 1
    rule = ingress[0]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 6379, 6380)
    assert rule["GroupId"] == {"Fn::GetAtt": [cache_sg, "GroupId"]}
    assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": [function_sg, "GroupId"]}


# ---- names and tags -------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_given_env_when_synthesized_then_stack_name_and_tags_carry_the_environment(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    s = synthesized[env_name]

    assert s.stack.stack_name == f"LlmCache-{env_name}"
    for type_ in ("AWS::Lambda::Function", "AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SNS::Topic"):
        tags = {t["Key"]: t["Value"] for t in s.one(type_)["Properties"]["Tags"]}
        assert tags["Environment"] == env_name and tags["Project"] == "llmcache", type_
    named = [r["Properties"]["AlarmName"] for r in s.resources("AWS::CloudWatch::Alarm").values()]
    assert named and all(n.startswith(f"llmcache-{env_name}-") for n in named)


# ---- streaming (issue 13) -------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_given_a_streaming_env_when_synthesized_then_every_method_streams_from_the_web_adapter(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    s = synthesized[env_name]
    methods = s.resources("AWS::ApiGateway::Method").values()
    integrations = [m["Properties"]["Integration"] for m in methods if m["Properties"]["HttpMethod"] != "OPTIONS"]
    assert integrations and {i["ResponseTransferMode"] for i in integrations} == {"STREAM"}
    # A streamed proxy integration invokes with InvokeWithResponseStream.
    assert all("response-streaming-invocations" in json.dumps(i["Uri"]) for i in integrations)
    function = s.one("AWS::Lambda::Function")["Properties"]
    assert function["Handler"] == "run.sh"
    adapter = json.dumps(function["Layers"][1])
    assert "753240598075" in adapter and "LambdaAdapterLayerArm64" in adapter  # ARM64 function, AWS's layer
    assert {k: s.function_env[k] for k in ADAPTER_ENV} == ADAPTER_ENV
    assert s.function_env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert s.function_env["AWS_LWA_READINESS_CHECK_PATH"] == "/health"


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_given_a_streaming_env_when_synthesized_then_a_long_generation_fits_and_a_stalled_one_is_cut(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    s = synthesized[env_name]
    integration_ms = {
        m["Properties"]["Integration"]["TimeoutInMillis"] for m in s.resources("AWS::ApiGateway::Method").values()
    }
    assert integration_ms == {s.config.api.integration_timeout_seconds * 1000}
    deadline = float(s.function_env[Env.REQUEST_DEADLINE])
    stall = float(s.function_env[Env.UPSTREAM_READ_TIMEOUT])
    # Ten minutes for a whole answer; the function outlives API Gateway, which outlives the request deadline.
    assert s.config.api.integration_timeout_seconds >= 600
    assert deadline < s.config.api.integration_timeout_seconds < s.config.function.timeout_seconds <= 900
    assert stall < 300  # a provider silent this long is cut before API Gateway's 5-minute stream idle timeout


def test_given_a_buffered_env_when_synthesized_then_the_lambda_handler_answers_without_the_adapter(
    dev_buffered: Synthesized,
) -> None:
    methods = dev_buffered.resources("AWS::ApiGateway::Method").values()
    assert {m["Properties"]["Integration"].get("ResponseTransferMode", "BUFFERED") for m in methods} == {"BUFFERED"}
    function = dev_buffered.one("AWS::Lambda::Function")["Properties"]
    assert function["Handler"] == "llmcache.handler.lambda_handler" and len(function["Layers"]) == 1
    assert not set(ADAPTER_ENV) & set(dev_buffered.function_env)


def test_given_a_managed_anthropic_key_when_built_then_a_placeholder_secret_the_function_reads_by_arn(
    dev: Synthesized,
) -> None:
    stack = Stack(App(), "AnthropicSecrets")
    secrets = CacheSecrets(
        stack, "Secrets", env_name="dev", managed_upstream_key=False, retain_data=False, managed_anthropic_key=True
    )
    descriptions = [
        r["Properties"]["Description"]
        for r in Template.from_stack(stack).find_resources("AWS::SecretsManager::Secret").values()
    ]
    config = dataclasses.replace(dev.config, cache=dataclasses.replace(dev.config.cache, managed_anthropic_key=True))
    env = function_environment(
        config,
        table_name="t",
        bucket_name="b",
        admin_key_secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:admin",
        upstream_key_secret_arn=None,
        redis_url=None,
        anthropic_key_secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:anthropic",
    )
    settings = Settings.from_env({k: v for k, v in env.items() if k not in ADAPTER_ENV})

    assert secrets.anthropic_key is not None and secrets.upstream_key is None
    assert any("Anthropic API key" in d for d in descriptions)
    assert settings.managed_anthropic_key and not settings.managed_upstream_key
    assert settings.anthropic_base_url == dev.config.cache.anthropic_base_url == "https://api.anthropic.com"


def test_given_dev_when_synthesized_then_messages_pass_each_callers_anthropic_key_on(dev: Synthesized) -> None:
    env = dev.function_env

    assert env[Env.ANTHROPIC_BASE_URL] == "https://api.anthropic.com"
    assert Env.ANTHROPIC_API_KEY_SECRET_ARN not in env  # cdk.json: managedAnthropicKey false
