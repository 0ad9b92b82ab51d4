"""cfn-lint over every environment's synthesized template: CloudFormation would accept what we deploy."""

from __future__ import annotations

import json

import pytest
from infra_support import HOT, Synthesized

ENVIRONMENTS = ["dev", "staging", "prod", HOT]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_given_an_environment_when_its_template_is_linted_then_cfn_lint_finds_no_error(
    synthesized: dict[str, Synthesized], environment: str
) -> None:
    from cfnlint.api import lint

    template = synthesized[environment].raw
    findings = lint(json.dumps(template), regions=["us-east-1"])
    errors = [f"{m.rule.id} {m.path_string}: {m.message}" for m in findings if m.rule.id.startswith("E")]
    assert errors == [], "\n".join(errors)
