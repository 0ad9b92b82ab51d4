"""cdk-nag acknowledgments, each with a written reason.

cdk-nag 3 runs as a CDK policy-validation plugin: synthesis fails on any finding that is not
acknowledged on the resource or one of its parents with `Validations.of(scope).acknowledge`.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations

from constructs import IConstruct

MIN_REASON_CHARS = 40


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Accept one cdk-nag finding (`AwsSolutions-X` or `AwsSolutions-X[finding]`) below `scope`."""
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_CHARS:
        raise ValueError(f"acknowledging {rule_id} needs a real reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
