"""Optional hot tier: ElastiCache Serverless (Valkey) in a VPC, reached by the function over TLS.

Turning it on puts the function in private subnets. The upstream provider is on the internet, so
the VPC gets NAT gateways (they bill every hour); DynamoDB and S3 traffic takes free gateway
endpoints instead of the NAT.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache

from constructs import Construct
from infra.constructs.network import add_network

VALKEY_MAJOR_VERSION = "8"
# ElastiCache Serverless listens on 6379 (primary) and 6380 (reads from replicas).
VALKEY_PORTS = ec2.Port.tcp_range(6379, 6380)


class HotTier(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        env_name: str,
        max_azs: int,
        nat_gateways: int,
        max_data_storage_gb: int,
        max_ecpu_per_second: int,
        log_retention_days: int,
        retain_logs: bool,
    ) -> None:
        super().__init__(scope, id)

        network = add_network(
            self,
            env_name=env_name,
            max_azs=max_azs,
            nat_gateways=nat_gateways,
            log_retention_days=log_retention_days,
            retain_logs=retain_logs,
        )
        self.network = network
        self.vpc = network.vpc
        self.function_security_group = network.function_security_group
        self.cache_security_group = ec2.SecurityGroup(
            self,
            "CacheSg",
            vpc=self.vpc,
            description=f"llmcache {env_name} Valkey: reachable from the function only",
            allow_all_outbound=False,
        )
        self.function_security_group.add_egress_rule(self.cache_security_group, VALKEY_PORTS, "Valkey over TLS")
        self.cache_security_group.add_ingress_rule(
            self.function_security_group, VALKEY_PORTS, "Valkey over TLS from the function"
        )

        self.cache = elasticache.CfnServerlessCache(
            self,
            "Valkey",
            engine="valkey",
            major_engine_version=VALKEY_MAJOR_VERSION,
            serverless_cache_name=f"llmcache-{env_name}",
            description=f"llmcache {env_name} hot tier",
            security_group_ids=[self.cache_security_group.security_group_id],
            subnet_ids=network.private_subnet_ids(),
            cache_usage_limits=elasticache.CfnServerlessCache.CacheUsageLimitsProperty(
                data_storage=elasticache.CfnServerlessCache.DataStorageProperty(unit="GB", maximum=max_data_storage_gb),
                ecpu_per_second=elasticache.CfnServerlessCache.ECPUPerSecondProperty(maximum=max_ecpu_per_second),
            ),
        )
        # The hot tier holds copies of what DynamoDB holds: nothing to keep on delete.
        self.cache.apply_removal_policy(RemovalPolicy.DESTROY)

    @property
    def redis_url(self) -> str:
        """TLS is always on for ElastiCache Serverless: the client must speak rediss://."""
        return f"rediss://{self.cache.attr_endpoint_address}:{self.cache.attr_endpoint_port}"
