"""cdk-nag (AwsSolutions) over the synthesized stacks: no finding without a written reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks
from infra.config import load_config
from infra_support import HOT, QDRANT, Synthesized, with_qdrant

from infra import app as infra_app
from infra import nag


def acknowledgments(scope: Any) -> Iterator[tuple[str, str, str]]:
    """(construct path, rule id, reason) for every acknowledgment below `scope`."""
    for node in [scope, *scope.node.find_all()]:
        for entry in node.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule_id, reason in entry.data.items():
                    if rule_id.lower().startswith("annotation::"):
                        yield node.node.path, rule_id.split("::", 1)[1], reason


@pytest.mark.parametrize("env_name", ["dev", "prod", HOT, "staging", QDRANT])
def test_given_env_when_nag_checked_then_no_unacknowledged_findings(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    report = AwsSolutionsChecks().validate_scope(synthesized[env_name].stack)

    findings = [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations]
    assert findings == []
    assert report.success


@pytest.mark.parametrize("env_name", ["dev", "prod", HOT, "staging", QDRANT])
def test_given_env_when_synthesized_then_every_acknowledgment_has_a_written_reason(
    synthesized: dict[str, Synthesized], env_name: str
) -> None:
    acks = list(acknowledgments(synthesized[env_name].stack))

    assert acks, "expected acknowledged cdk-nag findings (e.g. AwsSolutions-APIG4)"
    for path, rule_id, reason in acks:
        if rule_id.startswith("AwsSolutions-"):
            assert len(reason) >= nag.MIN_REASON_CHARS, (path, rule_id)


def test_given_acknowledgments_switched_off_when_nag_checked_then_findings_are_exactly_the_acknowledged_ones(
    cdk_context: dict[str, Any], stub_layer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No stale acknowledgment: each one silences a real finding, and nothing else is silenced."""
    acknowledged: set[tuple[str, str]] = set()

    def record(scope: Any, rule_id: str, reason: str) -> None:
        acknowledged.add((scope.node.path, rule_id))

    import infra.constructs.api as api_mod
    import infra.constructs.function as function_mod
    import infra.constructs.secrets as secrets_mod
    import infra.constructs.semantic_index as semantic_mod
    import infra.constructs.storage as storage_mod

    for module in (api_mod, function_mod, secrets_mod, semantic_mod, storage_mod):
        monkeypatch.setattr(module, "acknowledge", record)
    app = cdk.App(context=cdk_context)
    prod = load_config(cdk_context, "prod")
    staging = load_config(cdk_context, "staging")  # semantic matching on, Valkey index
    stacks = [
        infra_app.add_stack(app, load_config(cdk_context, "dev"), layer_dir=stub_layer),
        infra_app.add_stack(app, prod.with_hot_tier(), layer_dir=stub_layer),
        infra_app.add_stack(app, staging, layer_dir=stub_layer),
        infra_app.add_stack(app, with_qdrant(staging), layer_dir=stub_layer),
        # a namespace: no account log role, and a bucket emptied on delete by CDK's provider function
        infra_app.add_stack(app, load_config(cdk_context, "dev", "pr-1"), layer_dir=stub_layer),
    ]

    found: set[tuple[str, str]] = set()
    for stack in stacks:
        for violation in AwsSolutionsChecks().validate_scope(stack).violations:
            for resource in violation.violating_resources:
                found.add((resource.construct_path, violation.rule_name))

    def covered(path: str, rule: str) -> bool:
        return any(rule == r and (path == p or path.startswith(p + "/")) for p, r in acknowledged)

    assert {f for f in found if not covered(*f)} == set(), "findings nobody acknowledged"
    stale = {(p, r) for p, r in acknowledged if not any(r == fr and fp.startswith(p) for fp, fr in found)}
    assert stale == set(), "acknowledgments that silence nothing"
