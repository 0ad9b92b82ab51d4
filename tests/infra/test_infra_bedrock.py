"""Amazon Bedrock in the synthesized templates: the role invokes exactly the models an environment lists."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra.config import ConfigError, load_config
from infra_support import Synthesized

from llmcache.constants import Env

ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]


def _bedrock_statements(synth: Synthesized) -> list[dict[str, Any]]:
    statements = [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    return [s for s in statements if any(str(a).startswith("bedrock:") for a in _list(s["Action"]))]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn(resource: Any) -> str:
    """An ARN as the template writes it (an Fn::Join of pseudo parameters), flattened to read."""
    if isinstance(resource, str):
        return resource
    parts = resource["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "${" + p["Ref"] + "}" for p in parts)


def test_given_prod_when_synthesized_then_bedrock_invoke_is_granted_on_the_listed_models_only(
    prod: Synthesized,
) -> None:
    [statement] = _bedrock_statements(prod)

    assert sorted(_list(statement["Action"])) == ACTIONS and statement["Effect"] == "Allow"
    assert sorted(_arn(r) for r in _list(statement["Resource"])) == sorted(
        [
            "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/"
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/"
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "arn:${AWS::Partition}:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
            "arn:${AWS::Partition}:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
            "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/amazon.nova-lite-v1:0",
        ]
    )
    assert prod.function_env[Env.BEDROCK_AUTH] == "iam"
    assert Env.BEDROCK_BASE_URL not in prod.function_env  # the function's own region


def test_given_an_environment_that_lists_no_models_when_synthesized_then_the_role_has_no_bedrock_right(
    dev: Synthesized,
) -> None:
    assert _bedrock_statements(dev) == []
    assert all("bedrock:" not in json.dumps(policy) for policy in dev.resources("AWS::IAM::Policy").values())


@pytest.mark.parametrize(
    ("bedrock", "message"),
    [
        ({"auth": "sigv5"}, "auth must be one of iam, passthrough"),
        ({"models": ["anthropic.claude/../../x"]}, "models must be a list"),
        ({"models": "amazon.nova-lite-v1:0"}, "models must be a list"),
        ({"region": "mars-1"}, "region must be an AWS region"),
        ({"modelz": []}, "not a known setting"),
    ],
)
def test_given_a_malformed_bedrock_setting_when_loaded_then_synthesis_stops_with_the_reason(
    cdk_context: dict[str, Any], bedrock: dict[str, Any], message: str
) -> None:
    context = json.loads(json.dumps(cdk_context))
    context["llmcache:environments"]["dev"]["bedrock"] = bedrock

    with pytest.raises(ConfigError, match=message):
        load_config(context, "dev")
