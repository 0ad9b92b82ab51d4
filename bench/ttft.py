"""Time to first token of a streamed miss, and cold start of each entry point (issue 13).

TTFT: the same slow provider (the offline fake, one event every TOKEN_DELAY_MS, as a model writing tokens)
called directly, through the gateway as `make run` serves it (uvicorn, the ASGI app), and through LiteLLM's
proxy (`litellm --config`, the same provider as its OpenAI-compatible upstream). Each sample is one streamed
miss (a question never asked before) read with httpx until its first non-empty content delta; the client then
hangs up (TTFT does not depend on the rest). p50 over `runs` samples per side, after two warm-up requests.

Cold start, from process spawn: the Lambda handler (import, then its first answer: a plain miss) and the ASGI
app under uvicorn (`python -m llmcache.local`: import, server ready on GET /health, then its first answer).

`python -m bench.ttft` runs it alone and prints the JSON.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, HelperProcess, child_env, free_port, percentile, summary

TOKEN_DELAY_MS = 100
GOAL_MS = 50  # the gateway's first token within this of the provider's (p50)
MODEL = "gpt-4o-mini"
STARTUP_SECONDS = 180  # LiteLLM's proxy took 42 s to listen on a loaded 2-core machine
LITELLM_MASTER_KEY = "sk-bench-litellm-master-0123456789abcdef"  # its proxy refuses to start without one


def _question(side: str, n: int) -> str:
    return f"Explain streaming relays in a few sentences, {side} sample {n} at {time.time_ns()}."


def first_token_ms(client: httpx.Client, url: str, question: str) -> float:
    """Milliseconds from sending a streamed chat request to its first non-empty content delta."""
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": question}]}
    started = time.perf_counter()
    with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            choices = chunk.get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                return (time.perf_counter() - started) * 1000
    raise RuntimeError(f"{url}: the stream ended without content")


def _side(base_url: str, name: str, runs: int, api_key: str = "sk-bench") -> dict[str, Any]:
    url = f"{base_url}/chat/completions"
    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {api_key}"}) as client:
        for n in range(2):
            first_token_ms(client, url, _question(f"{name}-warmup", n))
        samples = [first_token_ms(client, url, _question(name, n)) for n in range(runs)]
    return {"ttft_ms": summary(samples), "p50_ms": round(percentile(samples, 50), 1), "runs": runs}


def _start(name: str, args: list[str], port: int, env: dict[str, str], ready: Callable[[], bool]) -> HelperProcess:
    helper = HelperProcess(name, args, port, env, timeout=STARTUP_SECONDS)
    deadline = time.monotonic() + STARTUP_SECONDS
    while not ready():
        if time.monotonic() > deadline or helper.process.poll() is not None:
            helper.stop()
            raise RuntimeError(f"{name} did not become ready")
        time.sleep(0.1)
    return helper


def _answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def _gateway_env(provider_url: str) -> dict[str, str]:
    return child_env({"UPSTREAM_BASE_URL": provider_url, "CACHE_TIERS": "memory", "ADMIN_API_KEY": "sk-admin-bench"})


def measure_ttft(runs: int = 20) -> dict[str, Any]:
    port = free_port()
    provider = HelperProcess(
        "slow provider",
        ["-m", "llmcache.local.fake_provider", "--port", str(port), "--token-delay-ms", str(TOKEN_DELAY_MS)],
        port,
    )
    provider_url = f"{provider.url}/v1"
    out: dict[str, Any] = {"token_delay_ms": TOKEN_DELAY_MS, "goal_ms": GOAL_MS}
    helpers = [provider]
    try:
        out["provider"] = _side(provider_url, "provider", runs)
        gw_port = free_port()
        gateway = _start(
            "gateway",
            ["-m", "llmcache.local", "--port", str(gw_port), "--quiet"],
            gw_port,
            _gateway_env(provider_url),
            _answers(f"http://127.0.0.1:{gw_port}/health"),
        )
        helpers.append(gateway)
        out["gateway"] = _side(f"{gateway.url}/v1", "gateway", runs)
        try:
            out["litellm_proxy"] = _litellm_side(provider_url, runs, helpers)
        except Exception as exc:  # LiteLLM's proxy could not start here: the row says why
            out["litellm_proxy"] = {"error": f"{type(exc).__name__}: {exc}"[-500:]}
    finally:
        for helper in reversed(helpers):
            helper.stop()
    gap = out["gateway"]["p50_ms"] - out["provider"]["p50_ms"]
    out["gateway_minus_provider_p50_ms"] = round(gap, 1)
    out["within_goal"] = gap <= GOAL_MS
    return out


def _litellm_side(provider_url: str, runs: int, helpers: list[HelperProcess]) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="llmcache-bench-litellm-"))
    config = folder / "config.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {provider_url}\n"
        "      api_key: sk-bench-upstream\n"
    )
    port = free_port()
    litellm = str(Path(sys.executable).parent / "litellm")
    proxy = _start(
        "litellm proxy",
        [litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        port,
        child_env({"LITELLM_MASTER_KEY": LITELLM_MASTER_KEY}),
        _answers(f"http://127.0.0.1:{port}/health/liveliness"),
    )
    helpers.append(proxy)
    return _side(f"{proxy.url}/v1", "litellm", runs, api_key=LITELLM_MASTER_KEY)


# ----- cold start --------------------------------------------------------------------------------------
_HANDLER_CHILD = """
import json, sys, time
import llmcache.handler
imported = time.time()
from llmcache.api.proxy_events import LocalLambdaContext, request_to_event
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "cold %d"}]}).encode()
event = request_to_event("POST", "/v1/chat/completions",
                         [("Authorization", "Bearer sk-bench"), ("Content-Type", "application/json")], body)
status = llmcache.handler.lambda_handler(event, LocalLambdaContext())["statusCode"]
sys.stderr.write(json.dumps({"imported": imported, "answered": time.time(), "status": status}) + "\\n")
"""


def _handler_cold(provider_url: str, n: int) -> dict[str, float]:
    spawned = time.time()
    done = subprocess.run(
        [sys.executable, "-c", _HANDLER_CHILD % n],
        cwd=ROOT,
        env=_gateway_env(provider_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    times = json.loads(done.stderr.strip().splitlines()[-1])
    assert times["status"] == 200, done.stderr[-500:]
    return {
        "import_ms": (times["imported"] - spawned) * 1000,
        "first_answer_ms": (times["answered"] - spawned) * 1000,
    }


def _asgi_cold(provider_url: str, n: int) -> dict[str, float]:
    port = free_port()
    spawned = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "llmcache.local", "--port", str(port), "--quiet"],
        cwd=ROOT,
        env=_gateway_env(provider_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready = _answers(f"http://127.0.0.1:{port}/health")
        while not ready():
            if process.poll() is not None or time.time() - spawned > 60:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.005)
        ready_at = time.time()
        body = {"model": MODEL, "messages": [{"role": "user", "content": f"cold {n}"}]}
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json=body,
            headers={"Authorization": "Bearer sk-bench"},
            timeout=30,
        )
        answered = time.time()
        assert answer.status_code == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    imported = re.search(r"app imported in (\d+) ms", output or "")
    return {
        "import_ms": float(imported.group(1)) if imported else float("nan"),
        "ready_ms": (ready_at - spawned) * 1000,
        "first_answer_ms": (answered - spawned) * 1000,
    }


def measure_cold(runs: int = 5) -> dict[str, Any]:
    port = free_port()
    provider = HelperProcess("fake-provider", ["-m", "llmcache.local.fake_provider", "--port", str(port)], port)
    try:
        handler, asgi = [], []
        for n in range(runs):  # alternating, so a busy moment of the machine hits both alike
            handler.append(_handler_cold(f"{provider.url}/v1", n))
            asgi.append(_asgi_cold(f"{provider.url}/v1", n))
    finally:
        provider.stop()

    def p50(rows: list[dict[str, float]], key: str) -> float:
        return round(percentile([r[key] for r in rows], 50), 1)

    return {
        "runs": runs,
        "from": "process spawn (interpreter start included), memory tier, the offline provider",
        "handler": {k: p50(handler, k) for k in ("import_ms", "first_answer_ms")},
        "asgi_uvicorn": {k: p50(asgi, k) for k in ("import_ms", "ready_ms", "first_answer_ms")},
        "lambda_web_adapter": "not measured here (no Lambda); AWS publishes no figure for the adapter's own start",
    }


def measure(env: Any = None, *, runs: int | None = None, cold_runs: int | None = None) -> dict[str, Any]:
    """The section `make bench` runs (bench/__main__.py's EXTRA_SECTIONS); `env.quick`: fewer samples."""
    quick = bool(getattr(env, "quick", False))
    runs = runs or (5 if quick else 20)
    cold_runs = cold_runs or (2 if quick else 5)
    return {"ttft": measure_ttft(runs), "cold_start": measure_cold(cold_runs)}


def rows(results: dict[str, Any]) -> list[Any]:
    """Table rows (bench/report.py's EXTRA_ROWS): TTFT against LiteLLM's proxy, and cold starts."""
    from bench.rows import row

    section = results.get("ttft") or {}
    ttft, cold = section.get("ttft") or {}, section.get("cold_start") or {}
    if not ttft:
        return []
    s = "streaming"
    gateway = (ttft.get("gateway") or {}).get("p50_ms")
    litellm = (ttft.get("litellm_proxy") or {}).get("p50_ms")
    gap = ttft.get("gateway_minus_provider_p50_ms")
    out = [
        row(s, "first token of a streamed miss, p50 (anchor: LiteLLM proxy)", gateway, litellm, unit="ms"),
        row(
            s,
            "first token after the provider's, p50",
            gap,
            unit="ms",
            target=f"≤ {GOAL_MS} ms",
            met=None if gap is None else gap <= GOAL_MS,
        ),
    ]
    handler, asgi = cold.get("handler") or {}, cold.get("asgi_uvicorn") or {}
    out.append(row(s, "cold start: Lambda handler, spawn to first answer", handler.get("first_answer_ms"), unit="ms"))
    out.append(row(s, "cold start: ASGI app (uvicorn), spawn to first answer", asgi.get("first_answer_ms"), unit="ms"))
    return out


def render(result: dict[str, Any]) -> str:
    ttft, cold = result["ttft"], result["cold_start"]
    lines = [
        f"Time to first token, streamed miss (p50 of {ttft['provider']['runs']}; provider writes one token "
        f"every {ttft['token_delay_ms']} ms):",
    ]
    for key, label in (("provider", "provider, direct"), ("gateway", "llmcache (uvicorn)"),
                       ("litellm_proxy", "LiteLLM proxy")):  # fmt: skip
        side = ttft.get(key) or {}
        shown = f"{side['p50_ms']:.1f} ms" if "p50_ms" in side else side.get("error", "not run")
        lines.append(f"  {label:<20} {shown}")
    verdict = "within" if ttft["within_goal"] else "OVER"
    lines.append(
        f"  gateway - provider   {ttft['gateway_minus_provider_p50_ms']:.1f} ms "
        f"({verdict} the {ttft['goal_ms']} ms goal)"
    )
    h, a = cold["handler"], cold["asgi_uvicorn"]
    lines += [
        f"Cold start from process spawn (p50 of {cold['runs']}):",
        f"  Lambda handler       import {h['import_ms']:.0f} ms, first answer {h['first_answer_ms']:.0f} ms",
        f"  ASGI app (uvicorn)   import {a['import_ms']:.0f} ms, ready {a['ready_ms']:.0f} ms, "
        f"first answer {a['first_answer_ms']:.0f} ms",
        f"  Lambda Web Adapter   {cold['lambda_web_adapter']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    measured = measure(runs=5 if quick else 20, cold_runs=2 if quick else 5)
    print(json.dumps(measured, indent=2))
    print(render(measured))
