"""Shared types of the infra tests (a uniquely named module: every suite has its own conftest)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from aws_cdk.assertions import Template
from infra.config import EnvironmentConfig, namespace_max_length
from infra.stacks.llmcache_stack import LlmCacheStack

HOT = "prodhot"
QDRANT = "stagingqdrant"
BUFFERED = "devbuffered"

# The namespaces the namespace tests synthesize: two pull requests of dev, a customer of prod (its data kept,
# and the same customer told to drop it), and the longest namespace staging takes, with every ElastiCache
# name on (the semantic index from cdk.json, the hot tier switched on).
LONGEST_STAGING_NAMESPACE = "pr-" + "9" * (namespace_max_length("staging") - 3)
NAMESPACES = {
    "dev/pr-123": ("dev", "pr-123", None),
    "dev/pr-456": ("dev", "pr-456", None),
    "prod/acme": ("prod", "acme", None),
    "prod/acme retain=false": ("prod", "acme", False),
    f"staging/{LONGEST_STAGING_NAMESPACE}": ("staging", LONGEST_STAGING_NAMESPACE, None),
}


def buffered(config: EnvironmentConfig) -> EnvironmentConfig:
    """`config` with `api.streaming: false` and the buffered timeouts a Regional REST API takes."""
    return dataclasses.replace(
        config,
        name=BUFFERED,
        api=dataclasses.replace(config.api, streaming=False, integration_timeout_seconds=120),
        function=dataclasses.replace(config.function, timeout_seconds=130),
    )


@dataclass(frozen=True)
class Synthesized:
    config: EnvironmentConfig
    stack: LlmCacheStack
    template: Template
    raw: dict[str, Any]  # the template JSON

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v["Type"] == type_}

    def one(self, type_: str) -> dict[str, Any]:
        found = list(self.resources(type_).values())
        assert len(found) == 1, f"expected one {type_}, found {len(found)}"
        return found[0]

    @property
    def function_env(self) -> dict[str, Any]:
        return self.one("AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]


def with_qdrant(config: EnvironmentConfig) -> EnvironmentConfig:
    """`config` with the Qdrant semantic index at a made-up server, as an environment of its own."""
    semantic = dataclasses.replace(config.semantic, index="qdrant", qdrant_url="https://qdrant.example:6333")
    return dataclasses.replace(config, name=QDRANT, semantic=semantic)


# Resource properties that hold a physical name: whatever ends in "Name", and two identifiers that do not.
NAME_PROPERTIES = ("ReplicationGroupId", "StageName")


def physical_names(raw: dict[str, Any]) -> dict[str, dict[str, str]]:
    """logical id -> {property: literal name} for every resource that names itself (not CloudFormation)."""
    out: dict[str, dict[str, str]] = {}
    for logical_id, resource in raw["Resources"].items():
        props = resource.get("Properties", {})
        names = {
            key: value
            for key, value in props.items()
            if isinstance(value, str) and (key.endswith("Name") or key in NAME_PROPERTIES)
        }
        if names:
            out[logical_id] = names
    return out


def template_shape(stack_name: str, raw: dict[str, Any]) -> dict[str, Any]:
    """What a deployed stack is made of, without asset hashes or policy details: the stack name, each
    resource's logical id, type, deletion policy, physical names and tags, and the output keys."""
    resources = {}
    names = physical_names(raw)
    for logical_id, resource in sorted(raw["Resources"].items()):
        tags = resource.get("Properties", {}).get("Tags")
        resources[logical_id] = {
            "type": resource["Type"],
            "deletionPolicy": resource.get("DeletionPolicy", "Delete"),
            "names": names.get(logical_id, {}),
            "tags": {t["Key"]: t["Value"] for t in tags if isinstance(t.get("Value"), str)}
            if isinstance(tags, list)
            else {},
        }
    return {
        "stackName": stack_name,
        "description": raw.get("Description"),
        "resources": resources,
        "outputs": sorted(raw.get("Outputs", {})),
    }
