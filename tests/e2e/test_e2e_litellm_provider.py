"""LiteLLM's proxy as the provider behind the gateway, for `/v1/responses` and `/v1/messages`, with its mock
models (`mock_response`): answers from another implementation of these APIs than our own fake.

What LiteLLM 1.110's mock models allow: plain Responses and plain Messages. Not streamed Responses (the mock
raises and the proxy sends `response.failed`: checked here as a stream that is never stored) nor streamed
Messages (the mock answers in one JSON piece whatever `stream` says).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anthropic
import httpx
import pytest
from tests.e2e.clients import sdk
from tests.servers import GatewayProcess, free_port, gateway_env

pytestmark = pytest.mark.slow  # LiteLLM's proxy takes most of a minute to start on a loaded machine

MASTER_KEY = "sk-litellm-master-e2e-0123456789"  # the proxy refuses to start without one; our client's key
ANSWER = "Paris is the capital of France."
CONFIG = f"""model_list:
  - model_name: mock-gpt
    litellm_params:
      model: openai/gpt-4o-mini
      mock_response: "{ANSWER}"
      api_key: sk-mock
  - model_name: mock-claude
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      mock_response: "{ANSWER}"
      api_key: sk-mock
"""


@pytest.fixture(scope="module")
def litellm_proxy() -> Iterator[str]:
    """LiteLLM's proxy on a free port, with mock models; skipped where LiteLLM's proxy is not installed."""
    cli = Path(sys.executable).parent / "litellm"
    if not cli.exists():
        pytest.skip("LiteLLM's proxy is not installed (the bench dependency group)")
    folder = Path(tempfile.mkdtemp(prefix="llmcache-e2e-litellm-"))
    (folder / "config.yaml").write_text(CONFIG)
    env = gateway_env({"LITELLM_MASTER_KEY": MASTER_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    # It binds its port only after ~30 s of imports: another process may take a free port meanwhile, so retry.
    for _ in range(3):
        port = free_port()
        with (folder / "proxy.log").open("wb") as log:
            process = subprocess.Popen(
                [str(cli), "--config", str(folder / "config.yaml"), "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            if _ready(f"{url}/health/liveliness", process, timeout=180):
                yield url
                return
        finally:
            _stop(process)
    raise RuntimeError(f"LiteLLM's proxy did not start; see {folder / 'proxy.log'}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def _live(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _ready(health_url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """True once `health_url` answers 200; False when the process ended first or the time ran out."""
    deadline = time.monotonic() + timeout
    while not _live(health_url):
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


@pytest.fixture(scope="module")
def gw_litellm(gateway: Callable[..., GatewayProcess], litellm_proxy: str) -> GatewayProcess:
    """The gateway with LiteLLM's proxy as both its OpenAI and its Anthropic upstream (passthrough keys)."""
    env = {"UPSTREAM_BASE_URL": f"{litellm_proxy}/v1", "ANTHROPIC_BASE_URL": litellm_proxy, "CACHE_TIERS": "memory"}
    return gateway(env=env, name="gateway-litellm")


def test_given_litellm_as_the_provider_when_a_response_is_asked_twice_then_miss_then_hit(
    gw_litellm: GatewayProcess, prompt: str
) -> None:
    client = sdk(gw_litellm, MASTER_KEY)

    first = client.responses.with_raw_response.create(model="mock-gpt", input=prompt)
    second = client.responses.with_raw_response.create(model="mock-gpt", input=prompt)

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.parse().output_text == second.parse().output_text == ANSWER
    assert second.parse().id == first.parse().id


def test_given_litellm_as_the_provider_when_its_streamed_response_fails_then_it_is_never_stored(
    gw_litellm: GatewayProcess, prompt: str
) -> None:
    client = sdk(gw_litellm, MASTER_KEY)

    caches = []
    for _ in range(2):
        raw = client.responses.with_raw_response.create(model="mock-gpt", input=f"{prompt} streamed", stream=True)
        events = list(raw.parse())
        caches.append(raw.headers["x-cache"])

    assert events[-1].type == "response.failed"  # LiteLLM's mock cannot stream Responses
    assert caches == ["MISS", "MISS"]


def test_given_litellm_as_the_provider_when_a_message_is_asked_twice_then_miss_then_hit(
    gw_litellm: GatewayProcess, prompt: str
) -> None:
    client = anthropic.Anthropic(base_url=gw_litellm.url, api_key=MASTER_KEY, max_retries=0, timeout=30)
    ask = {"model": "mock-claude", "max_tokens": 64, "messages": [{"role": "user", "content": prompt}]}

    first = client.messages.with_raw_response.create(**ask)
    second = client.messages.with_raw_response.create(**ask)

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.parse().content[0].text == second.parse().content[0].text == ANSWER  # type: ignore[union-attr]
    assert second.parse().stop_reason == "end_turn"
