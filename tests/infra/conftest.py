"""Synthesized llmcache stacks, built once per session and shared by the infra tests.

One App holds six stacks: dev, prod and staging exactly as cdk.json configures them (staging has
semantic matching on with the Valkey index; all stream), prod with the hot tier switched on (named
`prodhot`), so the optional VPC + Valkey path is proven too, staging with the Qdrant index
(`stagingqdrant`), and dev in buffered mode (`devbuffered`). The
layer is an empty stub folder: the tests look at templates, not at packaged dependencies.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from aws_cdk.assertions import Template
from infra.config import load_config
from infra_support import BUFFERED, HOT, NAMESPACES, QDRANT, Synthesized, buffered, with_qdrant

from infra import app as infra_app


@pytest.fixture(scope="session")
def cdk_context() -> dict[str, Any]:
    return infra_app.cdk_json_context()


@pytest.fixture(scope="session")
def stub_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("layer")
    (path / "python").mkdir()
    (path / "python" / "stub.txt").write_text("placeholder layer for template tests\n")
    return path


@pytest.fixture(scope="session")
def cdk_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the test synthesis writes its cloud assembly (templates and staged assets)."""
    return tmp_path_factory.mktemp("cdk.out")


@pytest.fixture(scope="session")
def synthesized(cdk_context: dict[str, Any], stub_layer: Path, cdk_outdir: Path) -> dict[str, Synthesized]:
    """dev, prod, prodhot, staging and stagingqdrant, synthesized once (cdk-nag runs as a validation plugin)."""
    prod = load_config(cdk_context, "prod")
    staging = load_config(cdk_context, "staging")
    configs = {
        "dev": load_config(cdk_context, "dev"),
        "prod": prod,
        HOT: dataclasses.replace(prod.with_hot_tier(), name=HOT),
        "staging": staging,  # semantic matching on, with the Valkey index (cdk.json)
        QDRANT: with_qdrant(staging),
        BUFFERED: buffered(load_config(cdk_context, "dev")),
    }
    app = infra_app.new_app(cdk_context, outdir=str(cdk_outdir))
    stacks = {name: infra_app.add_stack(app, cfg, layer_dir=stub_layer) for name, cfg in configs.items()}
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    out = {}
    for name, stack in stacks.items():
        raw = assembly.get_stack_by_name(stack.stack_name).template
        out[name] = Synthesized(configs[name], stack, Template.from_json(raw), raw)
    return out


@pytest.fixture(scope="session")
def dev(synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized["dev"]


@pytest.fixture(scope="session")
def prod(synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized["prod"]


@pytest.fixture(scope="session")
def dev_buffered(synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized[BUFFERED]


@pytest.fixture(scope="session")
def hot(synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized[HOT]


@pytest.fixture(scope="session")
def staging(synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized["staging"]


@pytest.fixture(scope="session")
def namespaced(
    cdk_context: dict[str, Any], stub_layer: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Synthesized]:
    """NAMESPACES synthesized, each in an app of its own (two labels are the same deployment, prod-acme,
    retained or not); cdk-nag runs as a validation plugin."""
    out = {}
    for label, (env_name, namespace, retain) in NAMESPACES.items():
        config = load_config(cdk_context, env_name, namespace, retain=retain)
        if env_name == "staging":
            config = config.with_hot_tier()  # every ElastiCache name: the hot tier's and the semantic index's
        app = infra_app.new_app(cdk_context, outdir=str(tmp_path_factory.mktemp("cdk.out.namespace")))
        stack = infra_app.add_stack(app, config, layer_dir=stub_layer)
        raw = app.synth().get_stack_by_name(stack.stack_name).template  # raises on any unacknowledged finding
        out[label] = Synthesized(config, stack, Template.from_json(raw), raw)
    return out
