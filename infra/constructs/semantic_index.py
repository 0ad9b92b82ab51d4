"""The semantic index a deployment uses, and the function environment that points at it.

- valkey: a node-based ElastiCache for Valkey replication group (8.2 or later: ElastiCache Serverless has no
  vector search) in the function's VPC, private subnets only, reachable from the function's security group
  only, encrypted in transit (TLS required) and at rest, with an AUTH token generated into Secrets Manager.
  The function reads the token by ARN at its first semantic lookup; it never sits in the environment.
- qdrant: a Qdrant server outside the stack (`semantic.qdrantUrl`); its API key goes into a secret the stack
  creates (operators put the real key with put-secret-value), read by ARN the same way.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from infra.config import SemanticConfig
from infra.constructs.network import Network
from infra.nag import acknowledge
from llmcache.constants import Env

VALKEY_PORT = 6379
PARAMETER_GROUP_FAMILY = "valkey8"
# ElastiCache asks burstable nodes that run search to reserve more memory (its search features and limits page):
# at least 50% on micro and 30% on small t2/t3/t4g nodes. Other nodes keep the default (25%).
SEARCH_MEMORY_RESERVE = {"micro": "50", "small": "30"}


def search_memory_reserve(node_type: str) -> str | None:
    """reserved-memory-percent that search needs on this node type; None: the default is enough."""
    family, _, size = node_type.removeprefix("cache.").partition(".")
    return SEARCH_MEMORY_RESERVE.get(size) if family[:1] == "t" else None


def semantic_environment(
    config: SemanticConfig,
    *,
    redis_url: str | None = None,
    auth_secret_arn: str | None = None,
    qdrant_key_secret_arn: str | None = None,
) -> dict[str, str]:
    """The function's semantic settings (names from `llmcache.constants.Env`)."""
    if not config.enabled:
        return {Env.SEMANTIC_MODE: "off"}
    env = {
        Env.SEMANTIC_MODE: "on",
        Env.SEMANTIC_INDEX: config.index,
        Env.SEMANTIC_EMBEDDER: "local",  # the model shipped in the package, run in-process: no paid API call
    }
    if config.max_false_hit_rate is not None:  # the function picks threshold and pair cut from the shipped curves
        env[Env.SEMANTIC_MAX_FALSE_HIT_RATE] = repr(float(config.max_false_hit_rate))
    else:
        env[Env.SEMANTIC_THRESHOLD] = repr(float(config.threshold))
    if config.index == "valkey":
        assert redis_url and auth_secret_arn
        env[Env.SEMANTIC_REDIS_URL] = redis_url
        env[Env.SEMANTIC_REDIS_AUTH_SECRET_ARN] = auth_secret_arn
    else:
        assert config.qdrant_url and qdrant_key_secret_arn
        env[Env.QDRANT_URL] = config.qdrant_url
        env[Env.QDRANT_API_KEY_SECRET_ARN] = qdrant_key_secret_arn
    return env


class ValkeySemanticIndex(Construct):
    """A node-based ElastiCache for Valkey cluster with vector search, for the semantic index only."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        env_name: str,
        network: Network,
        node_type: str,
        replicas: int,
        engine_version: str,
        retain_data: bool,
        replication_group_id: str | None = None,
        secret_name: str | None = None,
    ) -> None:
        """`replication_group_id` and `secret_name`: physical names; None leaves them to CloudFormation."""
        super().__init__(scope, id)

        # ElastiCache AUTH tokens: 16-128 printable characters, no punctuation needed.
        self.auth_token = secretsmanager.Secret(
            self,
            "AuthToken",
            secret_name=secret_name,
            description=f"llmcache {env_name}: AUTH token of the Valkey semantic index",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=64),
            removal_policy=RemovalPolicy.DESTROY,  # the index only holds vectors that point at cached entries
        )
        acknowledge(
            self.auth_token,
            "AwsSolutions-SMG4",
            "The AUTH token is set on the replication group by CloudFormation; rotating it takes a "
            "ModifyReplicationGroup with AuthTokenUpdateStrategy ROTATE, done by hand (docs/semantic-deploy.md). "
            "The function re-reads the secret on its next cold start.",
        )

        self.security_group = ec2.SecurityGroup(
            self,
            "Sg",
            vpc=network.vpc,
            description=f"llmcache {env_name} Valkey semantic index: reachable from the function only",
            allow_all_outbound=False,
        )
        port = ec2.Port.tcp(VALKEY_PORT)
        network.function_security_group.add_egress_rule(self.security_group, port, "Valkey semantic index over TLS")
        self.security_group.add_ingress_rule(
            network.function_security_group, port, "Valkey semantic index over TLS from the function"
        )

        subnets = elasticache.CfnSubnetGroup(
            self,
            "Subnets",
            description=f"llmcache {env_name} semantic index: private subnets",
            subnet_ids=network.private_subnet_ids(),
        )
        reserve = search_memory_reserve(node_type)
        parameters = None
        if reserve is not None:
            parameters = elasticache.CfnParameterGroup(
                self,
                "Parameters",
                cache_parameter_group_family=PARAMETER_GROUP_FAMILY,
                description=f"llmcache {env_name} semantic index: memory reserve that search needs on {node_type}",
                properties={"reserved-memory-percent": reserve},
            )

        multi_az = replicas > 0
        self.cluster = elasticache.CfnReplicationGroup(
            self,
            "Valkey",
            replication_group_id=replication_group_id,
            replication_group_description=f"llmcache {env_name} semantic index (vector search)",
            engine="valkey",
            engine_version=engine_version,
            cache_node_type=node_type,
            num_cache_clusters=1 + replicas,
            automatic_failover_enabled=multi_az,
            multi_az_enabled=multi_az,
            port=VALKEY_PORT,
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[self.security_group.security_group_id],
            cache_parameter_group_name=parameters.ref if parameters is not None else None,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            auth_token=self.auth_token.secret_value.unsafe_unwrap(),  # a dynamic reference, resolved by CloudFormation
            auto_minor_version_upgrade=True,
            snapshot_retention_limit=1 if retain_data else 0,
        )
        self.cluster.apply_removal_policy(RemovalPolicy.DESTROY)
        if not multi_az:
            acknowledge(
                self.cluster,
                "AwsSolutions-AEC4",
                "One node by default (semantic.replicas = 0): a lost node costs semantic hits until it is "
                "replaced, never a request (a failing index is a plain miss). Set semantic.replicas >= 1 "
                "for Multi-AZ with automatic failover.",
            )

    @property
    def redis_url(self) -> str:
        """TLS is required on the cluster: the client speaks rediss:// to the primary endpoint."""
        return f"rediss://{self.cluster.attr_primary_end_point_address}:{self.cluster.attr_primary_end_point_port}"


class QdrantApiKey(Construct):
    """The secret that holds the external Qdrant server's API key (a placeholder until operators put it)."""

    def __init__(
        self, scope: Construct, id: str, *, env_name: str, retain_data: bool, secret_name: str | None = None
    ) -> None:
        super().__init__(scope, id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=secret_name,
            description=f"llmcache {env_name}: API key of the Qdrant semantic index (replace with put-secret-value)",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=32),
            removal_policy=RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "The Qdrant API key is issued by the Qdrant server, outside AWS, so no rotation Lambda can mint one; "
            "operators rotate it by hand with put-secret-value and the function re-reads it on its next cold start.",
        )
