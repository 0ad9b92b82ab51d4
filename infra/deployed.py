"""What `make url`, `make deploy` and `make destroy` tell about a deployment (an environment or a namespace).

`make url` reads the deployed stack's `ApiUrl` output with boto3's describe-stacks (the same call as
`aws cloudformation describe-stacks`) and prints the `export LLMCACHE_URL=...` line on stdout, hints on
stderr, so `eval "$(make -s url ENV=dev NAMESPACE=pr-123)"` works. No credentials, no region or no such
stack: one line that says which, and what to do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from infra.config import EnvironmentConfig

URL_OUTPUT = "ApiUrl"
API_KEY_OUTPUT = "ApiKeyCommand"
ADMIN_KEY_OUTPUT = "AdminKeySecretArn"


class NotDeployed(RuntimeError):
    """The stack's outputs cannot be read: the message says why and what to do, in one line."""


def make_args(config: EnvironmentConfig) -> str:
    """`ENV=dev NAMESPACE=pr-123`: how the Makefile names this deployment, for the hints."""
    return f"ENV={config.environment}" + (f" NAMESPACE={config.namespace}" if config.namespace else "")


def _region(config: EnvironmentConfig) -> str | None:
    """The CLI's own order: cdk.json's region, then AWS_REGION (which older botocore does not read), then
    AWS_DEFAULT_REGION and the profile's region (boto3's, when this is None)."""
    return config.region or os.environ.get("AWS_REGION") or None


def _session(config: EnvironmentConfig) -> Any:
    """A session of its own, reading credentials now (boto3's default session keeps what it found first)."""
    import boto3

    return boto3.session.Session(region_name=_region(config))


def stack_outputs(config: EnvironmentConfig, client: Any = None) -> dict[str, str]:
    """OutputKey -> OutputValue of the deployment's stack, from CloudFormation."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        cfn = client or _session(config).client("cloudformation")
        stacks = cfn.describe_stacks(StackName=config.stack_name)["Stacks"]
    except NoCredentialsError:
        raise NotDeployed(
            "no AWS credentials: run `aws configure` or `aws sso login` (or set AWS_PROFILE), then "
            f"`make url {make_args(config)}` again"
        ) from None
    except NoRegionError:
        raise NotDeployed(f"no AWS region: set AWS_REGION (or `region` for {config.environment} in cdk.json)") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if "does not exist" in str(error.get("Message", "")):
            raise NotDeployed(
                f"stack {config.stack_name} is not deployed in {cfn.meta.region_name}: "
                f"`make deploy {make_args(config)}` first"
            ) from None
        raise NotDeployed(f"describe-stacks {config.stack_name}: {error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise NotDeployed(f"describe-stacks {config.stack_name}: {exc}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def url_export(outputs: Mapping[str, str], config: EnvironmentConfig) -> str:
    if URL_OUTPUT not in outputs:
        raise NotDeployed(f"stack {config.stack_name} has no {URL_OUTPUT} output yet (still creating?)")
    return f"export LLMCACHE_URL={outputs[URL_OUTPUT]}"


def print_url_export(config: EnvironmentConfig, client: Any = None) -> int:
    """stdout: the export line; stderr: where the keys come from. 1 with a one-line reason when it cannot."""
    try:
        outputs = stack_outputs(config, client)
        line = url_export(outputs, config)
    except NotDeployed as exc:
        print(f"make url: {exc}", file=sys.stderr)
        return 1
    print(line)
    if API_KEY_OUTPUT in outputs:
        print(f"# an API key (LLMCACHE_GATEWAY_KEY): {outputs[API_KEY_OUTPUT]}", file=sys.stderr)
    if ADMIN_KEY_OUTPUT in outputs:
        print(
            "# the admin key (LLMCACHE_ADMIN_KEY): aws secretsmanager get-secret-value "
            f"--secret-id {outputs[ADMIN_KEY_OUTPUT]} --query SecretString --output text",
            file=sys.stderr,
        )
    return 0


def check_account_log_role(config: EnvironmentConfig, client: Any = None) -> int:
    """Before a namespace deploys: its stage logs through the account's API Gateway CloudWatch role, which
    only the plain environments create. 1, with the fix in one line, when the account has none yet."""
    from botocore.exceptions import BotoCoreError, ClientError

    if config.namespace is None:
        return 0
    try:
        apigateway = client or _session(config).client("apigateway")
        role = apigateway.get_account().get("cloudwatchRoleArn")
    except (BotoCoreError, ClientError):
        return 0  # no credentials or no access: the CDK CLI says so itself, in its own words
    if role:
        return 0
    print(
        f"make deploy: API Gateway has no CloudWatch Logs role in this account ({apigateway.meta.region_name}), and "
        "a namespace does not set that account-wide role: deploy the plain environment once "
        f"(make deploy ENV={config.environment}), or point API Gateway at a role of yours: aws apigateway "
        "update-account --patch-operations op=replace,path=/cloudwatchRoleArn,value=<role ARN>",
        file=sys.stderr,
    )
    return 1


def destroy_notice(config: EnvironmentConfig) -> str:
    """What `make destroy` removes and what it keeps, said before the CDK asks for confirmation."""
    stack = config.stack_name
    left_behind = "Client API keys you created stay in the account (aws apigateway delete-api-key --api-key <id>)."
    if config.retain_data:
        how = f"make destroy {make_args(config)} RETAIN=false" if config.namespace else "delete them by hand"
        again = (
            f" Deploying {config.name} again needs those secrets deleted first: their names are taken."
            if config.namespace
            else ""
        )
        return (
            f"{stack}: KEEPS ITS DATA (retainData is true for {config.name}): the DynamoDB table (deletion protection "
            f"on), the S3 bucket, the secrets and the log groups stay after the stack is gone; to remove them too, "
            f"{how}.{again} {left_behind}"
        )
    if config.auto_delete_data:
        return (
            f"{stack}: removes everything: the table, the bucket (emptied first), the secrets, the log groups, "
            f"the alarms, the dashboard and the API. {left_behind}"
        )
    return (
        f"{stack}: removes the table, the secrets, the log groups, the alarms, the dashboard and the API; "
        "CloudFormation cannot delete a bucket that holds objects: empty it first "
        f'(aws s3 rm "s3://$(aws cloudformation describe-stacks --stack-name {stack} --query '
        '"Stacks[0].Outputs[?OutputKey==\'BucketName\'].OutputValue" --output text)" --recursive). '
        f"{left_behind}"
    )
