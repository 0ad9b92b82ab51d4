"""Package size: the Lambda asset (functions/) plus the dependency layer, unzipped, vs 250 MB."""

from __future__ import annotations

import fnmatch
import io
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import ROOT

LAMBDA_UNZIPPED_LIMIT = 250 * 1000 * 1000  # function + layers, unzipped (AWS quota: 250 MB)
SKIP_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache", "tests"}


def _files(folder: Path, skip_dirs: tuple[Path, ...] = ()) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        if not path.is_file() or SKIP_PARTS & set(path.relative_to(folder).parts) or path.suffix == ".pyc":
            continue
        if any(path.is_relative_to(skip) for skip in skip_dirs):
            continue
        found.append(path)
    return found


def _zipped(files: list[Path], base: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(base))
    return buffer.tell()


def function_asset() -> dict[str, Any]:
    base = ROOT / "functions"
    local = base / "llmcache" / "local"
    everything = _files(base)
    lambda_only = _files(base, (local,))
    return {
        "path": "functions/",
        "bytes_as_configured": sum(p.stat().st_size for p in everything),
        "bytes_without_local": sum(p.stat().st_size for p in lambda_only),
        "zipped_bytes_without_local": _zipped(lambda_only, base),
        "files_without_local": len(lambda_only),
        "note": "llmcache/local (make run, the fake provider, moto bootstrap) is never imported by the Lambda; "
        "infra's ASSET_EXCLUDES does not drop it yet",
    }


def _layer_folder() -> Path:
    return ROOT / "layers" / "build" / "python"


def layer(build: bool) -> dict[str, Any]:
    """The layer folder that `layers/build.py` makes; built first when missing or asked for."""
    folder = _layer_folder()
    script = ROOT / "layers" / "build.py"
    built_now = False
    error = None
    if script.exists() and (build or not folder.exists()):
        try:
            process = subprocess.run(
                [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=240
            )
            built_now = process.returncode == 0
            if not built_now:
                error = (process.stderr or process.stdout)[-500:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            error = repr(exc)
    if folder.exists() and any(folder.iterdir()):
        files = _files(folder)
        requirements = ROOT / "layers" / "build" / "requirements.txt"
        pins = requirements.read_text().split() if requirements.exists() else []
        return {
            "source": "layers/build.py output (layers/build/python)" + (" built now" if built_now else ""),
            "bytes": sum(p.stat().st_size for p in files),
            "packages": pins,
            "excludes": "boto3, botocore, s3transfer (the Lambda Python runtime ships them)",
            "error": error,
        }
    return {**venv_closure(), "error": error}


def venv_closure(roots: list[str] | None = None) -> dict[str, Any]:
    """Installed size in this venv (x86_64 wheels) of `roots` and what they need; by default the
    [project].dependencies closure (the fallback when layers/build.py is unavailable)."""
    if roots is None:
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        roots = [re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0] for spec in project["dependencies"]]
    todo = list(roots)
    seen: dict[str, int] = {}
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        size = 0
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            if "__pycache__" not in path.parts and path.is_file():
                size += path.stat().st_size
        seen[name] = size
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            todo.append(re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0])
    return {
        "source": "venv site-packages, [project].dependencies closure (layers/build.py unavailable)",
        "bytes": sum(seen.values()),
        "packages": sorted(seen),
    }


SEMANTIC_ENV = "staging"  # the cdk.json environment that turns semantic matching on
SEMANTIC_GOAL = 120 * 1000 * 1000  # issue #17: function + layers with the models in them, unzipped


def _excluded(relative: str, patterns: list[str]) -> bool:
    """CDK asset exclude globs (infra/constructs/function.py's ASSET_EXCLUDES) against one relative path."""
    parts = relative.split("/")
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif "/" not in pattern:
            if any(fnmatch.fnmatch(part, pattern) for part in parts):
                return True
        elif fnmatch.fnmatch(relative, pattern) or relative.startswith(pattern.rstrip("/") + "/"):
            return True
    return False


def semantic_deployment() -> dict[str, Any]:
    """What a semantic environment deploys: the function asset as the CDK packages it there (the model
    files it ships, nothing it excludes) and the layer `make layer ENV=staging` builds (wheels for
    Lambda's arm64, pruned), built in a temporary folder."""
    import tempfile

    from infra.constructs.function import ASSET_EXCLUDES

    base = ROOT / "functions"
    files = [p for p in base.rglob("*") if p.is_file() and not _excluded(str(p.relative_to(base)), ASSET_EXCLUDES)]
    function_bytes = sum(p.stat().st_size for p in files)
    model_bytes = sum(p.stat().st_size for p in files if "model" in p.relative_to(base).parts)
    with tempfile.TemporaryDirectory(prefix="llmcache-layer-") as tmp:
        process = subprocess.run(
            [sys.executable, str(ROOT / "layers" / "build.py"), "--env", SEMANTIC_ENV, "--out", tmp],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if process.returncode != 0:
            tail = (process.stderr or process.stdout)[-500:]
            raise RuntimeError(f"layers/build.py --env {SEMANTIC_ENV} failed: {tail}")
        layer_bytes = sum(p.stat().st_size for p in Path(tmp, "python").rglob("*") if p.is_file())
    return {
        "env": SEMANTIC_ENV,
        "function_bytes": function_bytes,
        "model_bytes": model_bytes,
        "layer_bytes": layer_bytes,
        "total_bytes": function_bytes + layer_bytes,
        "goal_bytes": SEMANTIC_GOAL,
    }


def measure(build_layer: bool = False) -> dict[str, Any]:
    asset = function_asset()
    layer_info = layer(build_layer)
    total = asset["bytes_without_local"] + int(layer_info["bytes"])
    litellm = venv_closure(["litellm"])
    litellm["source"] = "venv site-packages: litellm and its dependency closure (the anchor, unzipped)"
    return {
        "function": asset,
        "litellm_closure": litellm,
        "layer": layer_info,
        "total_unzipped_bytes": total,
        "limit_bytes": LAMBDA_UNZIPPED_LIMIT,
        "share_of_limit": round(total / LAMBDA_UNZIPPED_LIMIT, 4),
        "semantic": _or_error(semantic_deployment),
    }


def _or_error(measure: Any) -> dict[str, Any]:
    try:
        return dict(measure())
    except Exception as exc:  # a section that cannot build (no network) reports why instead of failing the run
        return {"error": repr(exc)[-500:]}
