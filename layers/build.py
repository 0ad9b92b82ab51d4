"""Build the Lambda dependency layer folder without Docker: `make layer`.

What goes in: the run-time dependencies of `[project].dependencies` in pyproject.toml, at the exact
versions pinned in uv.lock, with everything they pull in, as wheels for Lambda's Linux on ARM64
(manylinux2014_aarch64) and the function's Python version. What stays out: boto3, botocore and
s3transfer, which the Lambda Python runtime already ships (and whatever only they needed). That
keeps ~25 MB of SDK out of every deploy; pass --with-boto3 to pin the SDK in the layer instead.

With `--env NAME`, the layer carries what that environment's cdk.json `semantic` settings need on top:
the `semantic-lambda` dependency group (what SEMANTIC_EMBEDDER=local runs on, without torch) when semantic
matching is on, and qdrant-client when its index is Qdrant. The Valkey index needs nothing more (redis-py).

Output: layers/build/python/ (Lambda puts /opt/python on sys.path), which infra/app.py packages
with `Code.from_asset`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.config import LAMBDA_PYTHON_VERSION  # noqa: E402

OUT = ROOT / "layers" / "build"
PLATFORM = "manylinux2014_aarch64"
# Lambda's Python 3.12 runs on Amazon Linux 2023 (glibc 2.34), so wheels tagged for glibc 2.28 run there too;
# recent numpy (and onnxruntime) publish aarch64 wheels only with that tag.
GLIBC_PLATFORM = "manylinux_2_28_aarch64"
PROVIDED_BY_LAMBDA = frozenset({"boto3", "botocore", "s3transfer"})
# Needed by a dependency only for what the function never does: tokenizers reaches for huggingface-hub (and
# hf-xet, fsspec, pyyaml, tqdm ...) to download models; the embedder reads its tokenizer from a file.
# ~20 MB less in a semantic layer. tests/unit/semantic/test_semantic_onnx.py embeds with the hub blocked.
# onnxruntime requires protobuf and flatbuffers for its model tools (pruned below), never for a session.
UNUSED_ON_LAMBDA = frozenset({"huggingface-hub", "protobuf", "flatbuffers"})
# Parts of the installed wheels the function never loads, cut so that a semantic deployment (this layer plus
# the model files) stays under 120 MB unzipped. Each is blocked while both models run in
# tests/unit/semantic/test_semantic_onnx.py, so a release that starts needing one fails there.
PRUNED = (
    # The C API library for other hosts: the Python module links its own copy statically (readelf: it
    # NEEDs only libc, libstdc++, libm, libgcc_s, libdl, librt, libpthread). 27 MB.
    "onnxruntime/capi/libonnxruntime.so*",
    # ONNX Runtime's offline tools (transformer optimizers, quantization, converters): training time only.
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/tools",
    "onnxruntime/backend",
    "onnxruntime/datasets",
    # numpy submodules imported only on demand (numpy.__getattr__) and never by the function or ONNX Runtime.
    "numpy/random",
    "numpy/f2py",
    "numpy/typing",
    "numpy/_pyinstaller",
    "numpy/ma",
    "numpy/polynomial",
    "numpy/fft",
    "numpy/_core/include",
    "numpy/_core/lib",
    "numpy/_core/_*_tests.*.so",
    "numpy/_core/_simd.*.so",
    # Test suites and type stubs.
    "**/tests",
    "**/*.pyi",
)
# Marker environment of the Lambda Python runtime on ARM64.
TARGET_MARKERS = {
    "implementation_name": "cpython",
    "platform_machine": "aarch64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": f"{LAMBDA_PYTHON_VERSION}.0",
    "python_version": LAMBDA_PYTHON_VERSION,
    "sys_platform": "linux",
    "os_name": "posix",
}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def marker_holds(marker: str | None) -> bool:
    if not marker:
        return True
    from packaging.markers import Marker  # the venv has it (pytest needs it)

    return Marker(marker).evaluate(TARGET_MARKERS)


SEMANTIC_GROUP = "semantic-lambda"
QDRANT_CLIENT = "qdrant-client"


def _names(specs: list[str]) -> list[str]:
    return [normalize(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0]) for spec in specs]


def project_dependencies() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return _names(pyproject["project"]["dependencies"])


def group_dependencies(group: str) -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return _names([spec for spec in pyproject["dependency-groups"][group] if isinstance(spec, str)])


def layer_roots(semantic_index: str = "off") -> list[str]:
    """The packages the layer starts from, for an environment whose semantic index is `semantic_index`."""
    roots = project_dependencies()
    if semantic_index != "off":
        roots += group_dependencies(SEMANTIC_GROUP)
    if semantic_index == "qdrant":
        roots.append(QDRANT_CLIENT)
    return list(dict.fromkeys(roots))


def environment_semantic_index(env_name: str, namespace: str | None = None) -> str:
    """cdk.json's `semantic.index` for that environment or namespace (the CDK app's own parser)."""
    import json

    from infra.config import load_config

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return load_config(context, env_name, namespace).semantic.index


def locked_closure(roots: list[str], skip: frozenset[str]) -> dict[str, str]:
    """name -> locked version for `roots` and everything they need on the target, minus `skip`."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages: dict[str, list[dict]] = {}
    for package in lock["package"]:
        packages.setdefault(normalize(package["name"]), []).append(package)

    pinned: dict[str, str] = {}
    todo = [r for r in roots if r not in skip]
    while todo:
        name = todo.pop()
        if name in pinned:
            continue
        candidates = packages.get(name)
        if not candidates:
            raise SystemExit(f"{name} is not in uv.lock; run `uv lock`")
        chosen = next(
            (p for p in candidates if all(marker_holds(m) for m in p.get("resolution-markers", [])[:1])),
            candidates[0],
        )
        pinned[name] = chosen["version"]
        for dep in chosen.get("dependencies", []):
            dep_name = normalize(dep["name"])
            if dep_name not in skip and marker_holds(dep.get("marker")):
                todo.append(dep_name)
    return dict(sorted(pinned.items()))


def installer(target: Path, requirements: Path) -> list[str]:
    """pip when this interpreter has it, else uv's pip interface (what `make install` brings)."""
    has_pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0
    if has_pip:
        return [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--platform", PLATFORM, "--platform", GLIBC_PLATFORM,
            "--implementation", "cp", "--python-version", LAMBDA_PYTHON_VERSION,
            "--only-binary=:all:", "--no-deps", "--no-compile", "--target", str(target), "-r", str(requirements),
        ]  # fmt: skip
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not Path(uv).exists() and not shutil.which(uv):
        raise SystemExit("neither pip nor uv is available to build the layer; run `make install`")
    return [
        uv, "pip", "install", "--quiet", "--python", sys.executable,
        "--python-platform", "aarch64-manylinux_2_28", "--python-version", LAMBDA_PYTHON_VERSION,
        "--only-binary", ":all:", "--no-deps", "--target", str(target), "-r", str(requirements),
    ]  # fmt: skip


def prune(target: Path) -> int:
    """Remove PRUNED from an installed layer folder; returns the bytes removed."""
    removed = 0
    for pattern in PRUNED:
        for path in sorted(target.glob(pattern), reverse=True):
            if path.is_dir():
                removed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path)
            elif path.exists():
                removed += path.stat().st_size
                path.unlink()
    return removed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-boto3", action="store_true", help="bundle boto3/botocore too")
    parser.add_argument("--env", help="add what this cdk.json environment's semantic settings need")
    parser.add_argument("--namespace", help="a namespace of --env, whose cdk.json overrides may differ")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default: layers/build)")
    args = parser.parse_args(argv)
    out = args.out.resolve()

    skip = (frozenset() if args.with_boto3 else PROVIDED_BY_LAMBDA) | UNUSED_ON_LAMBDA
    semantic_index = environment_semantic_index(args.env, args.namespace) if args.env else "off"
    pins = locked_closure(layer_roots(semantic_index), skip)
    shutil.rmtree(out, ignore_errors=True)
    target = out / "python"
    target.mkdir(parents=True)
    requirements = out / "requirements.txt"
    requirements.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))

    subprocess.run(installer(target, requirements), check=True)
    # Console scripts and byte code compiled for the build machine's Python are dead weight.
    shutil.rmtree(target / "bin", ignore_errors=True)
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    pruned = prune(target)

    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    if semantic_index != "off":
        print(f"semantic index {semantic_index}: the layer carries the {SEMANTIC_GROUP} group")
    print(
        f"layer: {len(pins)} packages for python{LAMBDA_PYTHON_VERSION} {PLATFORM} -> "
        f"{shown} ({size / 1e6:.1f} MB unzipped after {pruned / 1e6:.1f} MB pruned; "
        "Lambda allows 250 MB)"
    )
    print("       " + ", ".join(f"{n} {v}" for n, v in pins.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
