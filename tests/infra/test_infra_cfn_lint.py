"""cfn-lint over every environment's synthesized template: CloudFormation would accept what we deploy."""

from __future__ import annotations

import json

import pytest
from infra_support import HOT, Synthesized

ENVIRONMENTS = ["dev", "staging", "prod", HOT]
# CDK's own DependsOn on the function's role, beside the GetAtt that already orders them: harmless.
ACCEPTED_WARNINGS = {"W3005"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_given_an_environment_when_its_template_is_linted_then_cfn_lint_finds_no_error_nor_new_warning(
    synthesized: dict[str, Synthesized], environment: str
) -> None:
    from cfnlint.api import lint

    findings = lint(json.dumps(synthesized[environment].raw), regions=["us-east-1"])
    reported = [
        f"{m.rule.id} {m.path_string}: {m.message}"
        for m in findings
        if m.rule.id.startswith("E") or (m.rule.id.startswith("W") and m.rule.id not in ACCEPTED_WARNINGS)
    ]
    assert reported == [], "\n".join(reported)


def test_given_a_template_cloudformation_would_refuse_when_linted_then_the_error_is_reported(
    synthesized: dict[str, Synthesized],
) -> None:
    from cfnlint.api import lint

    template = json.loads(json.dumps(synthesized["dev"].raw))
    table = next(r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table")
    table["Properties"]["BillingMode"] = "PAY_AS_YOU_GO"  # not a billing mode
    assert any(m.rule.id.startswith("E") for m in lint(json.dumps(template), regions=["us-east-1"]))
