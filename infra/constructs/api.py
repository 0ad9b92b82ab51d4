"""Regional REST API: every route proxied to the one function, API keys, usage plan, access logs."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2

from constructs import Construct
from infra.constructs.function import retention
from infra.nag import acknowledge

HEALTH_PATH = "health"

ACCESS_LOG_FORMAT = {
    "requestId": apigw.AccessLogField.context_request_id(),
    "requestTime": apigw.AccessLogField.context_request_time(),
    "ip": apigw.AccessLogField.context_identity_source_ip(),
    "apiKeyId": apigw.AccessLogField.context_identity_api_key_id(),
    "method": apigw.AccessLogField.context_http_method(),
    "path": apigw.AccessLogField.context_path(),
    "status": apigw.AccessLogField.context_status(),
    "responseLength": apigw.AccessLogField.context_response_length(),
    "latencyMs": apigw.AccessLogField.context_response_latency(),
    "integrationLatencyMs": apigw.AccessLogField.context_integration_latency(),
    "integrationStatus": apigw.AccessLogField.context_integration_status(),
    "errorMessage": apigw.AccessLogField.context_error_message(),
    "userAgent": apigw.AccessLogField.context_identity_user_agent(),
}


class CacheApi(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        env_name: str,
        handler: lambda_.IFunction,
        integration_timeout: Duration,
        streaming: bool,
        throttle_rate_limit: float,
        throttle_burst_limit: int,
        quota_requests_per_day: int | None,
        log_retention_days: int,
        retain_logs: bool,
        waf_web_acl_arn: str | None = None,
        account_log_role: bool = True,
    ) -> None:
        """`account_log_role`: create the account-level role API Gateway logs through (and point the account's
        settings at it). False uses the role the account already has: a namespace must not repoint, nor leave
        behind, an account-wide setting that the environments' stages log through."""
        super().__init__(scope, id)

        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention(log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"llmcache-{env_name}",
            description=f"llmcache {env_name}: OpenAI-compatible response cache",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            api_key_source_type=apigw.ApiKeySourceType.HEADER,
            # API Gateway writes execution and access logs through the account-level role.
            cloud_watch_role=account_log_role,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if account_log_role else None,
            deploy_options=apigw.StageOptions(
                stage_name=env_name,
                tracing_enabled=True,
                metrics_enabled=True,
                # ERROR, never INFO with data tracing: request bodies are prompts.
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT)),
            ),
            disable_execute_api_endpoint=False,
        )
        # STREAM: API Gateway invokes with InvokeWithResponseStream and passes bytes on as the function writes
        # them (up to 15 minutes; a Regional stream idle for 5 minutes is cut). Every method of a streaming
        # environment streams: the adapter answers every route the same way.
        integration = apigw.LambdaIntegration(
            handler,
            proxy=True,
            timeout=integration_timeout,
            response_transfer_mode=apigw.ResponseTransferMode.STREAM
            if streaming
            else apigw.ResponseTransferMode.BUFFERED,
        )
        with_key = apigw.MethodOptions(api_key_required=True)

        # Every route goes to the function, which owns routing, 404 and 405.
        self.api.root.add_method("ANY", integration, api_key_required=True)
        self.api.root.add_proxy(default_integration=integration, default_method_options=with_key, any_method=True)
        # GET /health is the one route without a credential (the contract says so).
        self.api.root.add_resource(HEALTH_PATH).add_method("GET", integration, api_key_required=False)

        self.stage = self.api.deployment_stage
        self.usage_plan = self.api.add_usage_plan(
            "UsagePlan",
            name=f"llmcache-{env_name}",
            description=f"llmcache {env_name}: per-key throttling; add client API keys to this plan",
            throttle=apigw.ThrottleSettings(rate_limit=throttle_rate_limit, burst_limit=throttle_burst_limit),
            quota=apigw.QuotaSettings(limit=quota_requests_per_day, period=apigw.Period.DAY)
            if quota_requests_per_day
            else None,
        )
        self.usage_plan.add_api_stage(stage=self.stage)

        if waf_web_acl_arn:
            wafv2.CfnWebACLAssociation(self, "Waf", resource_arn=self.stage.stage_arn, web_acl_arn=waf_web_acl_arn)
        else:
            acknowledge(
                self.stage,
                "AwsSolutions-APIG3",
                "Every route but /health needs an API key, and the usage plan and stage throttle each "
                "key; a WAF web ACL is an account-level choice, attached by setting api.wafWebAclArn "
                "in cdk.json.",
            )
        acknowledge(
            self.api,
            "AwsSolutions-APIG2",
            "Bodies are OpenAI-compatible requests that are passed through to the provider with "
            "fields API Gateway cannot know; the function validates them and answers 400 in "
            "OpenAI's error envelope, which a gateway request validator could not produce.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG4",
            "Clients authenticate with an API Gateway API key (usage plan) plus the bearer "
            "credential the function checks: the provider key in passthrough mode, the admin key for "
            "/cache/*. GET /health is public by contract and returns no data.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-COG4",
            "Callers are programs using OpenAI SDKs with static keys, not Cognito users; API keys "
            "with a usage plan and the function's bearer check authenticate them.",
        )
        if account_log_role:
            acknowledge(
                self.api,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "The account-level API Gateway CloudWatch role must use the AWS managed policy that "
                "API Gateway documents for pushing execution and access logs; it is retained on delete.",
            )

    @property
    def url(self) -> str:
        return self.api.url
