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
    # click is also uvicorn's, which the streaming deployment runs (functions/run.sh): it stays in the layer.
    assert "uvicorn" in pins and "click" in pins
    assert not set(pins) & {"rich", "markdown-it-py", "pygments"}, "the llmcache command's libraries"


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
    # a namespace's layer (make layer ENV=staging NAMESPACE=...) follows its environment's settings
    assert build.environment_semantic_index("staging", "pr-1") == "valkey"
    assert build.environment_semantic_index("dev", "pr-1") == "off"


def test_given_a_semantic_environment_when_layer_resolved_then_the_model_hub_client_stays_out(
    build: ModuleType,
) -> None:
    pins = build.locked_closure(build.layer_roots("valkey"), build.PROVIDED_BY_LAMBDA | build.UNUSED_ON_LAMBDA)
    assert {"onnxruntime", "tokenizers", "numpy"} <= set(pins)
    assert not set(pins) & {"huggingface-hub", "hf-xet", "fsspec"}, "tokenizers reads its file; no hub on Lambda"


@pytest.mark.semantic
def test_given_the_layer_pruning_when_both_models_run_from_a_pruned_copy_then_they_still_work(
    build: ModuleType, tmp_path: Path
) -> None:
    """The same PRUNED rule applied to this machine's installs of what the semantic layer carries; both
    models run from that copy, ahead of the full installs on sys.path, with the skipped packages blocked."""
    import json
    import shutil
    import subprocess
    import sys

    numpy = pytest.importorskip("numpy")
    onnxruntime = pytest.importorskip("onnxruntime")
    tokenizers = pytest.importorskip("tokenizers")
    site = Path(numpy.__file__).resolve().parents[1]
    for module in (numpy, onnxruntime, tokenizers):
        package = Path(module.__file__).resolve().parent
        shutil.copytree(package, tmp_path / package.name)
    if (site / "numpy.libs").is_dir():
        shutil.copytree(site / "numpy.libs", tmp_path / "numpy.libs")
    removed = build.prune(tmp_path)
    assert removed > 20e6, "the ONNX Runtime C library and the tools are gone"
    assert not list(tmp_path.glob("onnxruntime/capi/libonnxruntime.so*")) and not (tmp_path / "numpy/random").exists()
    blocked = sorted(build.UNUSED_ON_LAMBDA | {"google", "flatbuffers"})
    probe = (
        "import sys, json\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0].replace('_', '-') in {blocked!r} or name.split('.')[0] in {blocked!r}:\n"
        "            raise ImportError(name + ' is not in the layer')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from llmcache.semantic.onnx_models import OnnxMiniLMEmbedder, OnnxPairModel\n"
        "import numpy, onnxruntime\n"
        "vectors = OnnxMiniLMEmbedder().embed(['How do I learn guitar?', 'Why is the sky blue?'])\n"
        "score = OnnxPairModel().score('How do I learn guitar?', 'How can I learn to play the guitar?')\n"
        "print(json.dumps({'dims': [len(v) for v in vectors], 'score': score,\n"
        "                  'from': [numpy.__file__, onnxruntime.__file__]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "functions")},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["dims"] == [384, 384] and 0.0 <= result["score"] <= 1.0
    assert all(path.startswith(str(tmp_path)) for path in result["from"]), result["from"]
