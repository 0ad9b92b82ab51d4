"""Namespaces of an environment (`-c env=dev -c namespace=pr-123`): stacks of their own, side by side.

A namespace inherits its environment's settings, carries its name in every physical name, passes cdk-nag
and cfn-lint like the environments, goes away whole on destroy unless its environment keeps data, and the
plain environments synthesize exactly as they did before namespaces existed.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from infra.config import (
    ELASTICACHE_NAME_MAX,
    NAMESPACES_KEY,
    ConfigError,
    ContextError,
    check_namespace,
    load_config,
    namespace_max_length,
)
from infra_support import LONGEST_STAGING_NAMESPACE, Synthesized, physical_names, template_shape
from moto import mock_aws

from infra import app as infra_app
from infra import deployed

ROOT = Path(__file__).resolve().parents[2]
PLAIN_SHAPES = Path(__file__).with_name("plain_environments.json")
PR_123, PR_456 = "dev/pr-123", "dev/pr-456"
LONGEST = f"staging/{LONGEST_STAGING_NAMESPACE}"
# Names that are not physical names in an account: inline policy names live inside their role, metric names
# are what the function emits.
NOT_ACCOUNT_WIDE = ("PolicyName", "MetricName")
ELASTICACHE_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def account_names(s: Synthesized) -> set[str]:
    names = {s.stack.stack_name}
    for props in physical_names(s.raw).values():
        names |= {value for key, value in props.items() if key not in NOT_ACCOUNT_WIDE}
    return names


def deletion_policies(s: Synthesized, type_: str) -> set[str]:
    return {r.get("DeletionPolicy", "Delete") for r in s.resources(type_).values()}


# ---- names --------------------------------------------------------------------------------------


def test_given_two_namespaces_of_dev_when_synthesized_then_stack_and_physical_names_are_disjoint(
    namespaced: dict[str, Synthesized],
) -> None:
    first, second = account_names(namespaced[PR_123]), account_names(namespaced[PR_456])

    assert namespaced[PR_123].stack.stack_name == "LlmCache-dev-pr-123"
    assert namespaced[PR_456].stack.stack_name == "LlmCache-dev-pr-456"
    assert len(first) > 10, first  # API, usage plan, stage, alarms, dashboard, secrets, topic
    assert first & second == set()


@pytest.mark.parametrize("label", [PR_123, "prod/acme", LONGEST])
def test_given_a_namespace_when_synthesized_then_every_physical_name_and_the_tags_carry_it(
    namespaced: dict[str, Synthesized], label: str
) -> None:
    s = namespaced[label]
    namespace = s.config.namespace
    assert namespace

    named = account_names(s)
    assert {n for n in named if namespace not in n} == set()
    for kind in ("AWS::SecretsManager::Secret", "AWS::CloudWatch::Alarm", "AWS::ApiGateway::UsagePlan"):
        assert s.resources(kind), kind
    # Tags: the environment it came from, and the namespace, on every taggable resource
    tagged = [r for r in s.raw["Resources"].values() if isinstance(r.get("Properties", {}).get("Tags"), list)]
    assert tagged
    for resource in tagged:
        tags = {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"]}
        assert tags.get("Namespace") == namespace and tags.get("Environment") == s.config.environment, resource
    # The function's metrics and the alarms on them use the deployment's name, not the environment's
    cache_function = s.resources("AWS::Lambda::Function")[
        s.stack.get_logical_id(s.stack.function.function.node.default_child)
    ]
    environment = cache_function["Properties"]["Environment"]["Variables"]["ENVIRONMENT"]
    assert environment == s.config.name == f"{s.config.environment}-{namespace}"
    dimensions = [
        d["Value"]
        for alarm in s.resources("AWS::CloudWatch::Alarm").values()
        for d in alarm["Properties"].get("Dimensions", [])
        if d["Name"] == "environment"
    ]
    assert dimensions and set(dimensions) == {s.config.name}


def test_given_the_longest_namespace_staging_takes_when_synthesized_then_every_elasticache_name_is_valid(
    namespaced: dict[str, Synthesized],
) -> None:
    s = namespaced[LONGEST]
    cache_names = [
        *(r["Properties"]["ServerlessCacheName"] for r in s.resources("AWS::ElastiCache::ServerlessCache").values()),
        *(r["Properties"]["ReplicationGroupId"] for r in s.resources("AWS::ElastiCache::ReplicationGroup").values()),
    ]

    assert len(cache_names) == 2, "the hot tier and the semantic index"
    assert max(len(n) for n in cache_names) == ELASTICACHE_NAME_MAX, "the limit is the tightest name, not looser"
    assert all(ELASTICACHE_NAME.match(n) for n in cache_names), cache_names
    with pytest.raises(ContextError, match="at most 19 characters"):
        load_config(infra_app.cdk_json_context(), "staging", LONGEST_STAGING_NAMESPACE + "9")


# ---- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_given_a_namespace_without_overrides_when_loaded_then_it_has_every_setting_of_its_environment(
    cdk_context: dict[str, Any], env_name: str
) -> None:
    namespaced = load_config(cdk_context, env_name, "alice")

    assert namespaced.name == f"{env_name}-alice" and namespaced.environment == env_name
    assert dataclasses.replace(namespaced, name=env_name, namespace=None) == load_config(cdk_context, env_name)


def test_given_namespace_overrides_in_cdk_json_when_loaded_then_they_win_and_the_rest_is_inherited(
    cdk_context: dict[str, Any],
) -> None:
    context = copy.deepcopy(cdk_context)
    context[NAMESPACES_KEY] = {"prod": {"acme": {"alarms": {"email": "ops@acme.example"}, "logRetentionDays": 30}}}

    acme = load_config(context, "prod", "acme")
    prod = load_config(context, "prod")

    assert acme.alarms.email == "ops@acme.example" and acme.log_retention_days == 30
    assert acme.alarms.hit_rate_min_percent == prod.alarms.hit_rate_min_percent
    assert acme.retain_data is True and acme.api == prod.api
    assert load_config(context, "prod", "other").alarms.email is None, "overrides are per namespace"


def test_given_a_misspelt_namespace_override_when_loaded_then_the_error_names_where(
    cdk_context: dict[str, Any],
) -> None:
    context = copy.deepcopy(cdk_context)
    context[NAMESPACES_KEY] = {"dev": {"alice": {"function": {"memoryMB": 2048}}}}

    with pytest.raises(ConfigError, match=r"llmcache:namespaces\.dev\.alice\.function\.memoryMB"):
        load_config(context, "dev", "alice")


# ---- refused names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "rule"),
    [
        ("Pr-123", "lowercase letters and digits"),
        ("pr_123", "lowercase letters and digits"),
        ("123-pr", "starting with a letter"),
        ("pr--123", "single hyphens"),
        ("pr-", "single hyphens"),
        ("pr.1", "lowercase letters and digits"),
        ("", "lowercase letters and digits"),
        ("a" * (namespace_max_length("dev") + 1), f"a namespace of dev takes at most {namespace_max_length('dev')}"),
    ],
)
def test_given_a_bad_namespace_when_loaded_then_it_is_refused_with_its_rule_in_one_line(
    cdk_context: dict[str, Any], namespace: str, rule: str
) -> None:
    with pytest.raises(ContextError) as refused:
        load_config(cdk_context, "dev", namespace)

    message = str(refused.value)
    assert rule in message and f"namespace {namespace!r} is refused" in message
    assert "\n" not in message


def test_given_a_bad_namespace_on_the_command_line_when_the_app_runs_then_it_exits_with_the_rule() -> None:
    with pytest.raises(SystemExit) as exited:
        infra_app.main(["-c", "env=dev", "-c", "namespace=PR_1"])

    assert str(exited.value).startswith("namespace 'PR_1' is refused: use lowercase letters")


def test_given_a_namespace_whose_stack_an_environment_could_own_when_checked_then_it_is_refused() -> None:
    environments = {"dev": {}, "dev-eu": {}, "prod": {}}

    with pytest.raises(ContextError, match="could also be environment 'dev-eu'"):
        check_namespace(environments, "dev", "eu-alice")  # LlmCache-dev-eu-alice: dev-eu's namespace alice too
    with pytest.raises(ContextError, match="could also be environment 'dev-eu'"):
        check_namespace(environments, "dev", "eu")
    assert check_namespace(environments, "dev", "europe") == "dev-europe"


def test_given_retain_for_a_plain_environment_when_loaded_then_it_is_refused(cdk_context: dict[str, Any]) -> None:
    with pytest.raises(ContextError, match="applies to namespaces only"):
        load_config(cdk_context, "prod", retain=False)
    with pytest.raises(SystemExit, match="use true or false"):
        infra_app.main(["-c", "env=prod", "-c", "namespace=acme", "-c", "retain=no"])


# ---- checks: cdk-nag and cfn-lint ----------------------------------------------------------------


@pytest.mark.parametrize("label", [PR_123, PR_456, "prod/acme", "prod/acme retain=false", LONGEST])
def test_given_a_namespace_when_nag_checked_and_linted_then_both_are_clean(
    namespaced: dict[str, Synthesized], label: str
) -> None:
    from cdk_nag import AwsSolutionsChecks
    from cfnlint.api import lint
    from test_infra_cfn_lint import ACCEPTED_WARNINGS

    report = AwsSolutionsChecks().validate_scope(namespaced[label].stack)
    findings = lint(json.dumps(namespaced[label].raw), regions=["us-east-1"])

    assert [v.rule_name for v in report.violations] == [] and report.success
    reported = [
        f"{m.rule.id} {m.path_string}: {m.message}"
        for m in findings
        if m.rule.id.startswith("E") or (m.rule.id.startswith("W") and m.rule.id not in ACCEPTED_WARNINGS)
    ]
    assert reported == [], "\n".join(reported)


# ---- plain environments: as before --------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_given_a_plain_environment_when_synthesized_then_its_resources_are_as_before_namespaces(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    """Logical ids, types, deletion policies, physical names and tags equal the shape recorded before this
    change (tests/infra/plain_environments.json); outputs may only be added. A deliberate change to an
    environment's resources rewrites that file (template_shape in infra_support), reviewed in the diff."""
    before = json.loads(PLAIN_SHAPES.read_text())[env_name]
    now = template_shape(synthesized[env_name].stack.stack_name, synthesized[env_name].raw)

    assert now["stackName"] == before["stackName"] == f"LlmCache-{env_name}"
    assert now["description"] == before["description"]
    assert sorted(now["resources"]) == sorted(before["resources"]), "logical ids added or removed"
    changed = {lid for lid, shape in before["resources"].items() if now["resources"][lid] != shape}
    assert changed == set(), {lid: (before["resources"][lid], now["resources"][lid]) for lid in changed}
    assert set(before["outputs"]) <= set(now["outputs"])


def test_given_plain_and_namespaced_stacks_when_compared_then_only_the_plain_one_sets_the_account_log_role(
    synthesized: dict[str, Synthesized], namespaced: dict[str, Synthesized]
) -> None:
    # the account-wide API Gateway logging role is the environments' (retained); a namespace neither
    # repoints it nor leaves a role behind
    assert synthesized["dev"].resources("AWS::ApiGateway::Account")
    assert namespaced[PR_123].resources("AWS::ApiGateway::Account") == {}
    assert namespaced[PR_123].resources("AWS::ApiGateway::Stage"), "access logs still go to its own log group"


# ---- destroy ------------------------------------------------------------------------------------


DATA = ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup")


@pytest.mark.parametrize("label", [PR_123, "prod/acme retain=false"])
def test_given_a_namespace_without_retained_data_when_destroyed_then_nothing_stays(
    namespaced: dict[str, Synthesized], label: str
) -> None:
    s = namespaced[label]

    for kind in DATA:
        assert deletion_policies(s, kind) == {"Delete"}, kind
    assert s.one("AWS::DynamoDB::Table")["Properties"]["DeletionProtectionEnabled"] is False
    assert s.resources("Custom::S3AutoDeleteObjects"), "the bucket is emptied so CloudFormation can delete it"
    assert "removes everything" in deployed.destroy_notice(s.config)


def test_given_a_prod_based_namespace_when_destroyed_then_its_data_stays_and_the_notice_says_so(
    namespaced: dict[str, Synthesized],
) -> None:
    s = namespaced["prod/acme"]

    for kind in DATA:
        assert deletion_policies(s, kind) == {"Retain"}, kind
    assert s.resources("Custom::S3AutoDeleteObjects") == {}
    notice = deployed.destroy_notice(s.config)
    assert "KEEPS ITS DATA" in notice and "make destroy ENV=prod NAMESPACE=acme RETAIN=false" in notice


def test_given_a_plain_dev_when_destroyed_then_the_notice_says_to_empty_the_bucket(
    synthesized: dict[str, Synthesized],
) -> None:
    assert synthesized["dev"].resources("Custom::S3AutoDeleteObjects") == {}
    assert "aws s3 rm" in deployed.destroy_notice(synthesized["dev"].config)


# ---- outputs and make url -----------------------------------------------------------------------


def test_given_a_namespace_when_synthesized_then_outputs_give_the_url_an_api_key_command_and_the_admin_key(
    namespaced: dict[str, Synthesized],
) -> None:
    outputs = namespaced[PR_123].raw["Outputs"]
    command = json.dumps(outputs["ApiKeyCommand"]["Value"])

    assert {"ApiUrl", "ApiKeyCommand", "AdminKeySecretArn"} <= set(outputs)
    for step in ("create-api-key", "create-usage-plan-key", "get-api-key --api-key", "--include-value"):
        assert step in command
    assert "ApiUsagePlan" in command, "the key is added to this stack's usage plan"
    assert "get-secret-value" in outputs["AdminKeySecretArn"]["Description"]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


def test_given_a_deployed_namespace_when_make_url_runs_then_it_prints_the_export_line(
    cdk_context: dict[str, Any], aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(cdk_context, "dev", "pr-123")
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "ApiUrl": {"Value": "https://abc123.execute-api.eu-west-1.amazonaws.com/dev-pr-123/"},
            "ApiKeyCommand": {"Value": "KEY_ID=$(aws apigateway create-api-key ...)"},
        },
    }
    with mock_aws():
        boto3.client("cloudformation").create_stack(StackName=config.stack_name, TemplateBody=json.dumps(template))
        code = deployed.print_url_export(config)
        missing = deployed.print_url_export(load_config(cdk_context, "dev", "pr-456"))

    out, err = capsys.readouterr()
    assert code == 0
    assert out == "export LLMCACHE_URL=https://abc123.execute-api.eu-west-1.amazonaws.com/dev-pr-123/\n"
    assert "create-api-key" in err
    assert missing == 1
    assert "stack LlmCache-dev-pr-456 is not deployed in eu-west-1" in err
    assert "make deploy ENV=dev NAMESPACE=pr-456" in err


def test_given_no_aws_credentials_when_make_url_runs_then_one_line_says_so(
    cdk_context: dict[str, Any], aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # boto3's default session, made while credentials were around, keeps them: make url must not use it
    boto3.setup_default_session()
    boto3.client("cloudformation")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code = deployed.print_url_export(load_config(cdk_context, "dev", "pr-123"))

    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith("make url: no AWS credentials") and err.count("\n") == 1


# ---- the Makefile -------------------------------------------------------------------------------


def test_given_no_credentials_when_make_url_runs_then_stdout_stays_empty_for_eval(tmp_path: Path) -> None:
    """`eval "$(make -s url ...)"` must only ever see the export line: install's chatter goes to stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true"}
    env |= {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    done = subprocess.run(
        ["make", "-s", "url", "ENV=dev", "NAMESPACE=pr-123"], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert done.returncode != 0
    assert done.stdout == ""
    assert "make url: no AWS credentials" in done.stderr


def make_dry_run(*args: str) -> str:
    done = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout


def test_given_make_targets_with_a_namespace_when_dry_run_then_the_cdk_gets_its_context() -> None:
    assert "infra/app.py -c env=dev -c namespace=pr-123" in make_dry_run("synth", "ENV=dev", "NAMESPACE=pr-123")
    assert "deploy -c env=dev -c namespace=pr-123 --require-approval broadening" in make_dry_run(
        "deploy", "ENV=dev", "NAMESPACE=pr-123"
    )
    assert "infra/app.py url -c env=dev -c namespace=pr-123" in make_dry_run("url", "ENV=dev", "NAMESPACE=pr-123")
    assert "check-account -c env=dev -c namespace=pr-123" in make_dry_run("deploy", "ENV=dev", "NAMESPACE=pr-123")
    assert "check-account" not in make_dry_run("deploy", "ENV=dev"), "an environment sets the role itself"
    assert "infra/app.py -c env=prod\n" in make_dry_run("synth", "ENV=prod"), "no namespace: the environment"


def test_given_make_destroy_with_retain_false_when_dry_run_then_it_deploys_unretained_before_destroying() -> None:
    plan = make_dry_run("destroy", "ENV=prod", "NAMESPACE=acme", "RETAIN=false")
    context = "-c env=prod -c namespace=acme -c retain=false"

    notice = plan.index(f"destroy-notice {context}")
    deploy = plan.index(f"deploy {context} --require-approval never")
    destroy = plan.index(f"aws-cdk@2 destroy {context}")
    assert notice < deploy < destroy
    assert "--require-approval never" not in make_dry_run("destroy", "ENV=dev", "NAMESPACE=pr-1")


def test_given_an_account_without_the_api_gateway_log_role_when_a_namespace_deploys_then_it_stops_with_the_fix(
    cdk_context: dict[str, Any], aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace, plain = load_config(cdk_context, "dev", "pr-123"), load_config(cdk_context, "dev")
    with mock_aws():
        without = deployed.check_account_log_role(namespace)
        plain_without = deployed.check_account_log_role(plain)
        boto3.client("apigateway").update_account(
            patchOperations=[
                {"op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::123456789012:role/apigw-logs"}
            ]
        )
        with_role = deployed.check_account_log_role(namespace)

    err = capsys.readouterr().err
    assert (without, plain_without, with_role) == (1, 0, 0), "the plain environment creates the role itself"
    assert "make deploy ENV=dev" in err and "update-account" in err and err.count("\n") == 1
