"""Shared helpers: percentiles, machine facts, quiet stdout, request bodies and helper processes."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
MODEL = "gpt-4o-mini"
LITELLM_MODEL = "openai/gpt-4o-mini"
API_KEY = "sk-bench-not-a-real-key"
PACKAGES = (
    "litellm",
    "aws-lambda-powertools",
    "boto3",
    "botocore",
    "pynamodb",
    "httpx",
    "redis",
    "moto",
    "openai",
    "pyinstrument",
)


# ----- statistics ------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); with few samples p99 is the largest one."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: Sequence[float], digits: int = 1) -> dict[str, Any]:
    """p50/p99/mean/min/max/n of a sample, rounded."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), digits),
        "p99": round(percentile(values, 99), digits),
        "mean": round(sum(values) / len(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def median_merge(runs: Sequence[Any]) -> Any:
    """One result from several runs of the same measurement: each number becomes its median across the
    runs, dicts merge key by key, lists of equal length element by element; anything else (text, flags,
    lists that differ in length) is the first run's."""
    present = [r for r in runs if r is not None]
    if not present:
        return None
    first = present[0]
    if all(isinstance(r, dict) for r in present):
        keys = list(dict.fromkeys(k for r in present for k in r))
        return {k: median_merge([r[k] for r in present if k in r]) for k in keys}
    if all(isinstance(r, int | float) and not isinstance(r, bool) for r in present):
        middle = statistics.median(present)
        return round(middle, 3) if isinstance(middle, float) else middle
    if all(isinstance(r, list) for r in present) and len({len(r) for r in present}) == 1:
        return [median_merge(list(column)) for column in zip(*present, strict=True)]
    return first


def paired_ratio(ours: Sequence[Any], theirs: Sequence[Any]) -> dict[str, Any] | None:
    """Round i of one side against round i of the other (they ran back to back, under the same load):
    each round's ratio, and their median."""
    ratios = [
        o / t
        for o, t in zip(ours, theirs, strict=False)
        if isinstance(o, int | float) and isinstance(t, int | float) and t
    ]
    if not ratios:
        return None
    return {"per_round": [round(r, 4) for r in ratios], "median": round(statistics.median(ratios), 4)}


def time_calls(fn: Callable[[], Any], iterations: int, warmup: int = 0) -> list[float]:
    """Microseconds per call of `fn`, one sample per call."""
    for _ in range(warmup):
        fn()
    samples = []
    clock = time.perf_counter
    for _ in range(iterations):
        started = clock()
        fn()
        samples.append((clock() - started) * 1e6)
    return samples


# ----- environment -----------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_mb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mb = int(line.split()[1]) // 1024
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": memory_mb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "hostname_hash": hex(hash(socket.gethostname()) & 0xFFFF),
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["llmcache"] = _project_version()
    return found


def _project_version() -> str | None:
    import tomllib

    try:
        return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])
    except (OSError, KeyError, ValueError):
        return None


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() or None


def child_env(extra: dict[str, str] | None = None, drop: Sequence[str] = ()) -> dict[str, str]:
    """This environment with the repo on PYTHONPATH and without real credentials or gateway settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "CACHE_", "REDIS_", "UPSTREAM_", "OPENAI_", "SEMANTIC_", "ADMIN_"))
        and k not in drop
    }
    paths = [str(FUNCTIONS), str(ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # LiteLLM must not fetch its price list from the web
    env["POWERTOOLS_SERVICE_NAME"] = "llmcache"
    env.update(extra or {})
    return env


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null: the handler's log lines and EMF metrics are still
    formatted and written (their cost is part of a request), just not onto the terminal."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def current_rss_mb() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ----- request bodies --------------------------------------------------------------------------
def chat_messages(size: int, tag: str = "") -> list[dict[str, str]]:
    """Three messages whose JSON request is about `size` bytes: a system prompt, a context document
    (the filler) and a question. Three, because LiteLLM's cache skips requests with more than
    `max_messages` (4 by default) messages, and both sides must cache the same requests."""
    turn = (
        "We are reviewing a deployment plan for a serverless cache in front of a language model API. "
        "Please keep answers short and cite the relevant part of the plan when you can. "
    )
    system = {"role": "system", "content": "You are a careful assistant for an engineering team. " + tag}
    question = {"role": "user", "content": f"Summarise the open risks in three bullet points. {tag}".strip()}
    base = len(json.dumps({"model": MODEL, "messages": [system, {"role": "user", "content": ""}, question]}))
    filler = max(0, size - base)
    context = {"role": "user", "content": (turn * (filler // len(turn) + 1))[:filler]}
    return [system, context, question]


def chat_body(size: int = 2048, tag: str = "", **extra: Any) -> bytes:
    return json.dumps({"model": MODEL, "messages": chat_messages(size, tag), **extra}).encode()


# ----- helper servers --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"helper process exited with code {process.returncode} before listening on {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


class HelperProcess:
    """A loopback server in its own process (moto, the fake provider), stopped by its own pid."""

    def __init__(self, name: str, args: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=child_env() if env is None else env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, self.process)
        except Exception:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_moto_process() -> HelperProcess:
    """moto in server mode, in its own process, on a free loopback port (like a separate AWS)."""
    port = free_port()
    return HelperProcess("moto", ["-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port)


def start_provider_process() -> HelperProcess:
    """The offline OpenAI-compatible fake provider in its own process (it sets TCP_NODELAY itself)."""
    port = free_port()
    return HelperProcess("fake-provider", ["-m", "llmcache.local.fake_provider", "--port", str(port)], port)


def run_worker(module: str, config: dict[str, Any], timeout: float, extra_env: dict[str, str] | None = None) -> Any:
    """Run `python -m <module> <config.json> <out.json>` and return what it wrote."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="llmcache-bench-") as tmp:
        config_path = Path(tmp) / "config.json"
        out_path = Path(tmp) / "out.json"
        config_path.write_text(json.dumps(config))
        process = subprocess.run(
            [sys.executable, "-m", module, str(config_path), str(out_path)],
            cwd=ROOT,
            env=child_env(extra_env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if process.returncode != 0 or not out_path.exists():
            tail = (process.stderr or process.stdout or "")[-3000:]
            raise RuntimeError(f"{module} {config.get('mode', '')} failed (exit {process.returncode}):\n{tail}")
        return json.loads(out_path.read_text())
