"""layers/build.py: what goes into the dependency layer, read from pyproject and uv.lock."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llmcache_layer_build", ROOT / "layers" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_given_the_lock_when_layer_contents_resolved_then_runtime_deps_are_pinned_without_the_sdk(
    build: ModuleType,
) -> None:
    pins = build.locked_closure(build.project_dependencies(), build.PROVIDED_BY_LAMBDA)
    locked = {
        build.normalize(p["name"]): p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    }

    for wanted in ("aws-lambda-powertools", "aws-xray-sdk", "pynamodb", "httpx", "redis", "wrapt"):
        assert pins.get(wanted) == locked[wanted], wanted
    assert not set(pins) & {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six"}
    assert not set(pins) & {"pytest", "moto", "aws-cdk-lib", "litellm"}, "dev/infra/bench groups stay out"


def test_given_with_boto3_when_layer_contents_resolved_then_the_sdk_is_bundled(build: ModuleType) -> None:
    pins = build.locked_closure(build.project_dependencies(), frozenset())

    assert {"boto3", "botocore", "s3transfer"} <= set(pins)


def test_given_the_layer_builder_when_asked_for_its_target_then_it_matches_the_function_runtime(
    build: ModuleType,
) -> None:
    from infra.config import LAMBDA_PYTHON_VERSION
    from infra.constructs.function import RUNTIME

    assert build.LAMBDA_PYTHON_VERSION == LAMBDA_PYTHON_VERSION
    assert RUNTIME.name == f"python{LAMBDA_PYTHON_VERSION}"
    assert build.PLATFORM == "manylinux2014_aarch64"
    command = build.installer(Path("/tmp/x"), Path("/tmp/r.txt"))
    assert "--no-deps" in command and LAMBDA_PYTHON_VERSION in command


def test_given_the_cli_extra_when_layer_contents_resolved_then_the_operator_commands_libraries_stay_out(
    build: ModuleType,
) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    cli_extra = {build.normalize(spec.split(">")[0]) for spec in pyproject["project"]["optional-dependencies"]["cli"]}
    assert cli_extra == {"click", "rich"}
    assert pyproject["project"]["scripts"]["llmcache"] == "llmcache.cli:main"

    pins = build.locked_closure(build.project_dependencies(), build.PROVIDED_BY_LAMBDA)
    assert not set(pins) & {"click", "rich", "markdown-it-py", "pygments"}, "the llmcache command's libraries"


def test_given_an_environment_with_semantic_on_when_layer_resolved_then_the_semantic_lambda_group_is_in_it(
    build: ModuleType,
) -> None:
    off = build.locked_closure(build.layer_roots("off"), build.PROVIDED_BY_LAMBDA)
    valkey = build.locked_closure(build.layer_roots("valkey"), build.PROVIDED_BY_LAMBDA)
    qdrant = build.locked_closure(build.layer_roots("qdrant"), build.PROVIDED_BY_LAMBDA)
    group = set(build.group_dependencies(build.SEMANTIC_GROUP))

    assert group and group <= set(valkey) and not group & set(off) - set(build.project_dependencies())
    assert "qdrant-client" in qdrant and "qdrant-client" not in valkey
    assert not set(valkey) & {"torch", "sentence-transformers", "transformers"}, "no torch on Lambda"


def test_given_cdk_json_when_asked_per_environment_then_only_staging_needs_the_semantic_packages(
    build: ModuleType,
) -> None:
    indexes = {env: build.environment_semantic_index(env) for env in ("dev", "staging", "prod")}
    assert indexes == {"dev": "off", "staging": "valkey", "prod": "off"}
