"""Shared types of the infra tests (a uniquely named module: every suite has its own conftest)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from aws_cdk.assertions import Template
from infra.config import EnvironmentConfig
from infra.stacks.llmcache_stack import LlmCacheStack

HOT = "prodhot"
QDRANT = "stagingqdrant"


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
