"""The one Lambda function (ARM64, Python) and its dependency layer, role and log group."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from infra.config import LAMBDA_PYTHON_VERSION, LOG_RETENTION_DAYS
from infra.nag import acknowledge
from llmcache.semantic.pair_verifier import PAIR_CUT

HANDLER = "llmcache.handler.lambda_handler"
# Streaming: the handler is the app's start script, run by the Lambda Web Adapter (its layer's /opt/bootstrap).
STREAMING_HANDLER = "run.sh"
# The AWS-published Lambda Web Adapter layer (awslabs/aws-lambda-web-adapter, "Zip Packages"): account
# 753240598075 in the commercial regions, one layer per architecture; the function is ARM64.
ADAPTER_LAYER_ACCOUNT = "753240598075"
ADAPTER_LAYER_NAME = "LambdaAdapterLayerArm64"
ADAPTER_LAYER_VERSION = 26
# What functions/llmcache/stores/dynamodb.py and engine/leases.py call: point reads (also batched for embeddings),
# conditional puts and deletes (leases), and atomic counters (flush generations).
TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, "PYTHON_" + LAMBDA_PYTHON_VERSION.replace(".", "_"))
# llmcache/local (the `make run` server, moto bootstrap and offline provider) is never imported on Lambda.
ASSET_EXCLUDES = [
    "**/__pycache__",
    "**/*.pyc",
    "**/.mypy_cache",
    "**/.pytest_cache",
    "*.egg-info",
    "llmcache/local",
    "llmcache/cli",  # the operator command: runs on a laptop, needs click and rich (not in the layer)
    "llmcache/semantic/model/training-report.*",  # how the models were made: for readers, not the function
    "llmcache/semantic/offline",  # training, evaluation, hard-negative data: run on a workstation, never on Lambda
    # The trained pair model ships only when the shipped path asks it (PAIR_CUT set).
    *([] if PAIR_CUT is not None else ["llmcache/semantic/model/pair.int8.onnx"]),
]
# The local embedding model (ONNX files, ~25 MB): only where the environment turns semantic matching on.
SEMANTIC_MODEL_DIR = "llmcache/semantic/model"


def _latest_python() -> lambda_.Runtime:
    """The newest Python runtime this aws-cdk-lib knows, which is what cdk-nag's L1 asks for."""
    pythons = [r for r in lambda_.Runtime.ALL if r.family == lambda_.RuntimeFamily.PYTHON]
    return max(pythons, key=lambda r: tuple(int(p) for p in r.name.removeprefix("python").split(".")))


_RETENTION_NAMES = (
    "ONE_DAY",
    "THREE_DAYS",
    "FIVE_DAYS",
    "ONE_WEEK",
    "TWO_WEEKS",
    "ONE_MONTH",
    "TWO_MONTHS",
    "THREE_MONTHS",
    "FOUR_MONTHS",
    "FIVE_MONTHS",
    "SIX_MONTHS",
    "ONE_YEAR",
    "THIRTEEN_MONTHS",
    "EIGHTEEN_MONTHS",
    "TWO_YEARS",
    "THREE_YEARS",
    "FIVE_YEARS",
    "SIX_YEARS",
    "SEVEN_YEARS",
    "EIGHT_YEARS",
    "NINE_YEARS",
    "TEN_YEARS",
)
_RETENTION = dict(zip(LOG_RETENTION_DAYS, _RETENTION_NAMES, strict=True))


def retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a number of days that config.py accepted."""
    if days not in _RETENTION:
        raise ValueError(f"CloudWatch Logs has no retention of {days} days")
    return getattr(logs.RetentionDays, _RETENTION[days])


BEDROCK_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
# A cross-region (system-defined) inference profile's id: a geography, then the foundation model's id.
_INFERENCE_PROFILE = re.compile(r"^(us|eu|apac|global|jp|au|ca|us-gov)\.(.+)$")


def bedrock_model_arns(models: tuple[str, ...], region: str) -> tuple[list[str], list[str]]:
    """(ARNs in `region`, foundation-model ARNs in any region) that invoking `models` needs: a foundation model
    is `foundation-model/<id>`; an inference profile is its own ARN plus its model in each region it routes to;
    an ARN is taken as it is."""
    partition, account = Aws.PARTITION, Aws.ACCOUNT_ID
    resources: list[str] = []
    cross_region: list[str] = []
    for model in models:
        profile = _INFERENCE_PROFILE.match(model)
        if model.startswith("arn:"):
            resources.append(model)
        elif profile is not None:
            resources.append(f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model}")
            cross_region.append(f"arn:{partition}:bedrock:*::foundation-model/{profile.group(2)}")
        else:
            resources.append(f"arn:{partition}:bedrock:{region}::foundation-model/{model}")
    return resources, sorted(set(cross_region))


class CacheFunction(Construct):
    """Gets exactly the environment it is given; its role gets exactly what `grant_*` adds."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        code_dir: Path,
        layer_dir: Path,
        environment: Mapping[str, str],
        memory_mb: int,
        timeout: Duration,
        log_level: str,
        log_retention_days: int,
        retain_logs: bool,
        reserved_concurrency: int | None = None,
        streaming: bool = False,
        semantic_model: bool = False,
        vpc: ec2.IVpc | None = None,
        security_groups: list[ec2.ISecurityGroup] | None = None,
    ) -> None:
        super().__init__(scope, id)

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention(log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY,
        )
        # An explicit role with no AWS managed policies: logs, X-Ray and (in a VPC) ENI rights
        # are written out below, data rights are added by the grant_* methods.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="llmcache function: its log group, table, bucket and secrets only",
        )
        self.log_group.grant_write(self.role)

        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(layer_dir)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="llmcache run-time dependencies (make layer)",
        )

        layers: list[lambda_.ILayerVersion] = [self.layer]
        if streaming:
            stack = Stack.of(self)
            adapter_arn = (
                f"arn:{stack.partition}:lambda:{stack.region}:{ADAPTER_LAYER_ACCOUNT}:"
                f"layer:{ADAPTER_LAYER_NAME}:{ADAPTER_LAYER_VERSION}"
            )
            layers.append(lambda_.LayerVersion.from_layer_version_arn(self, "WebAdapter", adapter_arn))

        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=STREAMING_HANDLER if streaming else HANDLER,
            code=lambda_.Code.from_asset(
                str(code_dir), exclude=ASSET_EXCLUDES if semantic_model else [*ASSET_EXCLUDES, SEMANTIC_MODEL_DIR]
            ),
            layers=layers,
            memory_size=memory_mb,
            timeout=timeout,
            role=self.role,
            environment=dict(environment),
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=getattr(lambda_.ApplicationLogLevel, log_level),
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=reserved_concurrency,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS) if vpc else None,
            security_groups=security_groups,
            allow_public_subnet=False,
            description="llmcache: OpenAI-compatible response cache",
        )
        if vpc is not None:
            # What AWSLambdaVPCAccessExecutionRole grants, without attaching a managed policy.
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    resources=["*"],
                )
            )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Only actions without resource-level permissions use '*': xray:PutTraceSegments and "
            "xray:PutTelemetryRecords (active tracing), cloudwatch:GetMetricData (the /cache/stats "
            "route) and, when the function runs in the VPC, the ec2 network-interface actions Lambda "
            "needs to attach it. Table, bucket, secrets and logs are scoped to their ARNs.",
        )
        if RUNTIME.name != _latest_python().name:
            acknowledge(
                self.function,
                "AwsSolutions-L1",
                f"The runtime is pinned to Python {LAMBDA_PYTHON_VERSION} because the dependency "
                "layer's binary wheels are built for exactly that version (layers/build.py reads "
                "infra.config.LAMBDA_PYTHON_VERSION); bump both together.",
            )

    def allow_metric_reads(self) -> None:
        """cloudwatch:GetMetricData for the admin stats route; it has no resource-level scoping."""
        self.role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"]))

    def allow_table_items(self, table: dynamodb.ITable) -> None:
        """Only the item calls the code makes (entries, leases, generations). Not grant_read_write_data:
        it adds Scan and Query, which would let the role read every tenant's cached answers at once."""
        self.role.add_to_policy(iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=[table.table_arn]))

    def allow_secret(self, secret: secretsmanager.ISecret) -> None:
        secret.grant_read(self.role)

    def allow_bedrock(self, models: tuple[str, ...], region: str | None) -> None:
        """Invoke (plain and streamed: Converse and ConverseStream are authorized as these) exactly the listed
        models, in the configured region (default: the function's). Nothing when none are listed."""
        if not models:
            return
        resources, cross_region = bedrock_model_arns(models, region or Aws.REGION)
        self.role.add_to_policy(
            iam.PolicyStatement(actions=list(BEDROCK_ACTIONS), resources=[*resources, *cross_region])
        )
        for arn in cross_region:
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::{arn.replace(Aws.PARTITION, '<AWS::Partition>')}]",
                "A cross-region inference profile sends each call to the named foundation model in one of the "
                "profile's regions, so the model is granted in any region; the model itself is pinned.",
            )

    def allow_bucket_objects(self, bucket: s3.IBucket, prefix: str) -> None:
        """Get, put and delete objects under `prefix`; list the bucket so a missing body is a 404."""
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[bucket.arn_for_objects(f"{prefix}*")],
            )
        )
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::<{Stack.of(self).get_logical_id(bucket.node.default_child)}.Arn>/{prefix}*]",
            f"Cached bodies are objects named by cache key under '{prefix}' in this environment's own "
            "bucket; the key set is unbounded, so the grant is the prefix, not single objects.",
        )
