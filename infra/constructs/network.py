"""The function's VPC: private subnets with NAT (the provider is on the internet), free gateway endpoints for
DynamoDB and S3, rejected-traffic flow logs, and the function's security group (HTTPS out only; each cache
adds its own rule). Made by whichever comes first of the hot tier and the Valkey semantic index.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs

from constructs import Construct
from infra.constructs.function import retention


@dataclass(frozen=True)
class Network:
    vpc: ec2.Vpc
    function_security_group: ec2.SecurityGroup

    def private_subnet_ids(self) -> list[str]:
        return self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids


def add_network(
    scope: Construct,
    *,
    env_name: str,
    max_azs: int,
    nat_gateways: int,
    log_retention_days: int,
    retain_logs: bool,
) -> Network:
    """The VPC and the function's security group, as children of `scope` (ids Vpc, FlowLogs, FunctionSg)."""
    vpc = ec2.Vpc(
        scope,
        "Vpc",
        max_azs=max_azs,
        nat_gateways=nat_gateways,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
            ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
        ],
        gateway_endpoints={
            "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
        },
        restrict_default_security_group=False,
    )
    flow_logs = logs.LogGroup(
        scope,
        "FlowLogs",
        retention=retention(log_retention_days),
        removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY,
    )
    vpc.add_flow_log(
        "FlowLog",
        destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
        traffic_type=ec2.FlowLogTrafficType.REJECT,
    )
    function_security_group = ec2.SecurityGroup(
        scope,
        "FunctionSg",
        vpc=vpc,
        description=f"llmcache {env_name} function: HTTPS out (provider, AWS APIs) and Valkey",
        allow_all_outbound=False,
    )
    function_security_group.add_egress_rule(
        ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the provider, AWS APIs and gateway endpoints"
    )
    return Network(vpc, function_security_group)
