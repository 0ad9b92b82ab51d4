"""Cold start: `import llmcache.handler` vs `import litellm` in fresh processes, alternating.

Each child times its own import (perf_counter around the import statement), reads its peak RSS
right after, then optionally makes a first request (llmcache: one handler call, which builds the
engine and its httpx client on first use; LiteLLM: `Cache(type="local")` and one cached
`completion`). The parent also times the whole process (interpreter start to exit).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, child_env, paired_ratio, summary

# Peak RSS is VmHWM (this process's own high-water mark): ru_maxrss would carry the parent's RSS
# across fork/exec on Linux.
# Both children time their import the same way; only what they import and do next differs.
_CHILD_PRELUDE = r"""
import json, os, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
out, body_path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
"""
_CHILD_AFTER_IMPORT = r"""
t1 = time.perf_counter()
result = {"import_ms": (t1 - t0) * 1000, "rss_import_mb": hwm(),
          "modules": len(sys.modules)}
"""

LLMCACHE_CHILD = (
    _CHILD_PRELUDE
    + "import llmcache.handler\n"
    + _CHILD_AFTER_IMPORT
    + r"""
if body_path:
    from llmcache.api.proxy_events import LocalLambdaContext, request_to_event  # the Lambda runtime's part
    body = open(body_path, "rb").read()
    event = request_to_event("POST", "/v1/chat/completions",
                             [("Authorization", "Bearer sk-bench"), ("Content-Type", "application/json")], body)
    context = LocalLambdaContext()
    t2 = time.perf_counter()
    response = llmcache.handler.lambda_handler(event, context)
    t3 = time.perf_counter()
    headers = response.get("multiValueHeaders") or {}
    result.update({"first_request_ms": (t3 - t2) * 1000, "status": response["statusCode"],
                   "cache": (headers.get("X-Cache") or ["?"])[-1],
                   "rss_first_mb": hwm(),
                   "modules_after_first": len(sys.modules)})
open(out, "w").write(json.dumps(result))
"""
)

LITELLM_CHILD = (
    _CHILD_PRELUDE
    + "import litellm\n"
    + _CHILD_AFTER_IMPORT
    + r"""
if body_path:
    body = json.loads(open(body_path, "rb").read())
    t2 = time.perf_counter()
    from litellm.caching.caching import Cache
    litellm.cache = Cache(type="local")
    response = litellm.completion(model="openai/" + body["model"], messages=body["messages"],
                                  api_base=os.environ["BENCH_PROVIDER"], api_key="sk-bench", caching=True)
    t3 = time.perf_counter()
    result.update({"first_request_ms": (t3 - t2) * 1000, "status": 200,
                   "cache": "HIT" if response._hidden_params.get("cache_hit") else "MISS",
                   "rss_first_mb": hwm(),
                   "modules_after_first": len(sys.modules)})
open(out, "w").write(json.dumps(result))
os._exit(0)  # LiteLLM's logging worker threads would otherwise hold the exit
"""
)


RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")


def lambda_like_site(target: Path) -> dict[str, Any]:
    """A folder of symlinks to exactly what a deployed function can import: the layer's packages
    (layers/build/requirements.txt, else [project].dependencies) plus the SDK the Lambda Python
    runtime ships (boto3, botocore, s3transfer and their needs), taken from this venv (same
    versions, x86_64 builds). Children run with `python -S` and this folder on PYTHONPATH, so
    packages that only the dev venv has (click, rich, h2, pygments: httpx imports them when present)
    do not count against the cold start."""
    import re
    import tomllib
    from importlib import metadata

    requirements = ROOT / "layers" / "build" / "requirements.txt"
    if requirements.exists():
        roots = [line.split("==")[0].strip() for line in requirements.read_text().splitlines() if line.strip()]
    else:
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        roots = [re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0] for spec in project["dependencies"]]
    todo = [*roots, *RUNTIME_PROVIDED]
    seen: set[str] = set()
    linked: list[str] = []
    target.mkdir(parents=True, exist_ok=True)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for top in {str(f).split("/")[0] for f in dist.files or []}:
            if top.endswith((".dist-info", ".data", ".pth")) or top in ("..", "__pycache__", "bin"):
                continue
            source = Path(str(dist.locate_file(top)))
            link = target / top
            if source.exists() and not link.exists():
                link.symlink_to(source)
                linked.append(top)
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0])
    return {"distributions": sorted(seen), "linked": sorted(linked)}


def _run_child(code: str, env: dict[str, str], body_path: str, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    try:
        started = time.perf_counter()
        process = subprocess.run(
            [sys.executable, *flags, "-c", code, out, body_path],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=180,
        )
        wall = (time.perf_counter() - started) * 1000
        if process.returncode != 0:
            raise RuntimeError(f"cold-start child failed (exit {process.returncode}):\n{process.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(Path(out).read_text())
        result["process_ms"] = wall
        return result
    finally:
        Path(out).unlink(missing_ok=True)


def measure(
    *,
    provider_url: str,
    body_path: str,
    runs: int,
    budget_seconds: float,
    ddb_env: dict[str, str] | None,
    site: Path,
) -> dict[str, Any]:
    """Alternate the variants in fresh processes; stop early (after 3 rounds) past the budget.

    llmcache: the Lambda's import set (`python -S`, the layer + runtime SDK only); llmcache_venv: the
    dev venv, for comparison; llmcache_dynamodb: Lambda's import set with memory+dynamodb tiers on moto
    (first request builds botocore clients); litellm: `import litellm` from the venv it was installed in.
    """
    functions = str(ROOT / "functions")
    lambda_path = {"PYTHONPATH": os.pathsep.join([functions, str(site)])}
    site_info = lambda_like_site(site)
    memory = {"CACHE_TIERS": "memory", "UPSTREAM_BASE_URL": provider_url}
    variants: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
        "llmcache": (LLMCACHE_CHILD, child_env({**memory, **lambda_path}), ("-S",)),
        "litellm": (LITELLM_CHILD, child_env({"BENCH_PROVIDER": provider_url}), ()),
        "llmcache_venv": (LLMCACHE_CHILD, child_env(memory), ()),
    }
    if ddb_env is not None:
        ddb = {**memory, "CACHE_TIERS": "memory,dynamodb", **ddb_env, **lambda_path}
        variants["llmcache_dynamodb"] = (LLMCACHE_CHILD, child_env(ddb), ("-S",))
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    started = time.monotonic()
    rounds = 0
    for index in range(runs):
        if index >= 3 and time.monotonic() - started > budget_seconds:
            break
        # Alternate which side goes first, so neither always follows the other's page-cache warmup.
        order = list(variants) if index % 2 == 0 else list(reversed(variants))
        for name in order:
            code, env, flags = variants[name]
            row = _run_child(code, env, body_path, flags)
            if "first_request_ms" in row:
                row["import_plus_first_ms"] = row["import_ms"] + row["first_request_ms"]
            samples[name].append(row)
        rounds += 1
    result: dict[str, Any] = {
        "rounds": rounds,
        "runs_requested": runs,
        "seconds": round(time.monotonic() - started, 1),
        "lambda_like_site": site_info,
    }
    if samples["llmcache"] and samples["litellm"]:
        # Each round ran both sides back to back: its ratio is not moved by load that changes between rounds.
        result["paired_import_ratio"] = paired_ratio(
            [r["import_ms"] for r in samples["llmcache"]], [r["import_ms"] for r in samples["litellm"]]
        )
    for name, rows in samples.items():
        result[name] = {
            field: summary([r[field] for r in rows if field in r])
            for field in (
                "import_ms",
                "process_ms",
                "rss_import_mb",
                "first_request_ms",
                "import_plus_first_ms",
                "rss_first_mb",
            )
        }
        result[name]["modules"] = rows[-1].get("modules") if rows else None
        result[name]["modules_after_first"] = rows[-1].get("modules_after_first") if rows else None
        result[name]["first_request_outcome"] = sorted({f"{r.get('status')} {r.get('cache')}" for r in rows})
    return result


_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _lambda_env(site: Path | None, extra: dict[str, str] | None = None) -> tuple[dict[str, str], tuple[str, ...]]:
    env = {"CACHE_TIERS": "memory", **(extra or {})}
    if site is None:
        return child_env(env), ()
    paths = [str(ROOT / "functions"), str(site)]
    tools = site.parent / "tools"  # pyinstrument alone, for the profile child
    if tools.exists():
        paths.append(str(tools))
    return child_env({**env, "PYTHONPATH": os.pathsep.join(paths)}), ("-S",)


def importtime(site: Path | None = None, module: str = "llmcache.handler", top: int = 12) -> dict[str, Any]:
    """`python -X importtime -c 'import <module>'`: the slowest imports, cumulative and self."""
    env, flags = _lambda_env(site)
    process = subprocess.run(
        [sys.executable, *flags, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = []
    for line in process.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append((name, int(self_us), int(cumulative_us), (len(indent) - 1) // 2))
    total = next((c for n, _, c, _ in rows if n == module), None)

    def by_package(prefix_depth: int) -> list[dict[str, Any]]:
        # Self time summed per package (first dotted parts), over every module imported.
        packages: dict[str, int] = {}
        for name, self_us, _, _ in rows:
            root = ".".join(name.split(".")[:prefix_depth])
            packages[root] = packages.get(root, 0) + self_us
        ordered = sorted(packages.items(), key=lambda kv: -kv[1])[:top]
        return [{"package": n, "ms": round(us / 1000, 1)} for n, us in ordered]

    return {
        "module": module,
        "import_set": "Lambda-like (python -S, layer + runtime SDK)" if site else "dev venv",
        "total_ms": round(total / 1000, 1) if total else None,
        "modules_imported": len(rows),
        "by_top_level_package": by_package(1),
        "by_subpackage": by_package(2),
        "slowest_cumulative": [
            {"module": n, "cumulative_ms": round(c / 1000, 1), "self_ms": round(s / 1000, 1)}
            for n, s, c, _ in sorted(rows, key=lambda r: -r[2])[:top]
        ],
        "slowest_self": [
            {"module": n, "self_ms": round(s / 1000, 1)} for n, s, _, _ in sorted(rows, key=lambda r: -r[1])[:top]
        ],
    }


PROFILE_CHILD = r"""
import os, sys
from pyinstrument import Profiler
profiler = Profiler(interval=0.0005)
profiler.start()
import llmcache.handler
profiler.stop()
text = "=== import llmcache.handler ===\n" + profiler.output_text(unicode=False, color=False)
if len(sys.argv) > 1:
    from llmcache.api.proxy_events import LocalLambdaContext, request_to_event
    event = request_to_event("POST", "/v1/chat/completions",
                             [("Authorization", "Bearer sk-bench"), ("Content-Type", "application/json")],
                             open(sys.argv[1], "rb").read())
    profiler = Profiler(interval=0.0005)
    profiler.start()
    llmcache.handler.lambda_handler(event, LocalLambdaContext())
    profiler.stop()
    tiers = os.environ.get("CACHE_TIERS")
    text += f"\n=== first request ({tiers}, a miss) ===\n" + profiler.output_text(unicode=False, color=False)
sys.stderr.write(text)
"""


def profile_cold(
    site: Path | None, provider_url: str, body_path: str, extra_env: dict[str, str] | None = None
) -> str | None:
    """pyinstrument's view of the import and of the first request, in a fresh Lambda-like process."""
    if site is not None:
        try:
            import pyinstrument
        except ImportError:
            return None
        tools = site.parent / "tools"
        tools.mkdir(exist_ok=True)
        link = tools / "pyinstrument"
        if not link.exists():
            link.symlink_to(Path(pyinstrument.__file__).parent)
    env, flags = _lambda_env(site, {"UPSTREAM_BASE_URL": provider_url, **(extra_env or {})})
    process = subprocess.run(
        [sys.executable, *flags, "-c", PROFILE_CHILD, body_path],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    if process.returncode != 0:
        return f"profile failed: {process.stderr[-1500:]}"
    return process.stderr
