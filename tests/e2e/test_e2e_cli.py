"""The installed `llmcache` command against the real local gateway (`python -m llmcache.local`, as `make run`).

The command is run as an operator runs it: the console script the project installs, in a subprocess,
configured through LLMCACHE_* variables and flags; its output is what is checked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.conftest import ADMIN_KEY
from tests.servers import GatewayProcess, free_port, wait_until

from llmcache.dialects.registry import dialect_for
from llmcache.savings import PriceTable

CLIENT_KEY = "sk-cli-tenant"
LLMCACHE = Path(sys.executable).parent / "llmcache"


@pytest.fixture(scope="module")
def cli_gw(gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    """A gateway of its own, so that its stats count only what these tests did."""
    return gateway(env={"ENVIRONMENT": "cli-e2e"}, name="gateway-cli")


def run_cli(*args: str, url: str, admin_key: str | None = ADMIN_KEY) -> subprocess.CompletedProcess[str]:
    assert LLMCACHE.exists(), f"{LLMCACHE} is missing: `make install` installs the llmcache command"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMCACHE_") and k not in ("PRICES", "PRICES_FILE")}
    env.update({"LLMCACHE_URL": url, "LLMCACHE_API_KEY": CLIENT_KEY, "COLUMNS": "200"})
    if admin_key is not None:
        env["LLMCACHE_ADMIN_KEY"] = admin_key
    return subprocess.run([str(LLMCACHE), *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def _send(gw: GatewayProcess, route: str, body: dict) -> httpx.Response:
    return httpx.post(f"{gw.url}/v1/{route}", json=body, headers={"Authorization": f"Bearer {CLIENT_KEY}"}, timeout=60)


def test_given_a_file_with_a_bad_line_when_warmed_then_good_lines_hit_stats_show_dollars_and_flush_empties_it(
    cli_gw: GatewayProcess, tmp_path: Path
) -> None:
    namespace = f"warm-{uuid.uuid4().hex[:8]}"
    cache = {"namespace": namespace}
    chats = [
        {"model": "gpt-4o", "messages": [{"role": "user", "content": f"Warm question {i}?"}], "cache": cache}
        for i in range(3)
    ]
    embedding = {"route": "embeddings", "model": "text-embedding-3-small", "input": "warm me", "cache": cache}
    lines = [
        json.dumps(chats[0]),
        json.dumps(chats[1]),
        "{this is not json",
        json.dumps(embedding),
        json.dumps(chats[2]),
    ]
    warm_file = tmp_path / "prompts.jsonl"
    warm_file.write_text("\n".join(lines) + "\n")

    before = json.loads(run_cli("stats", "--json", url=cli_gw.url).stdout)
    warmed = run_cli("warm", str(warm_file), "--concurrency", "2", url=cli_gw.url)
    assert warmed.returncode == 1, warmed.stderr  # a line failed: the exit says so, the good lines are stored
    assert "line 3: not JSON" in warmed.stderr and "Traceback" not in warmed.stderr
    assert "sent 4, already cached 0, stored 4, failed 0, skipped lines 1" in warmed.stdout

    # Every good line is now a HIT for the client whose key warmed it.
    requests = [("chat/completions", body) for body in chats] + [("embeddings", embedding)]
    hits = [_send(cli_gw, route, {k: v for k, v in body.items() if k != "route"}) for route, body in requests]
    assert [h.headers["x-cache"] for h in hits] == ["HIT"] * 4
    prices = PriceTable.shipped()
    usages = [dialect_for(route).usage(h.json()) for (route, _), h in zip(requests, hits, strict=True)]
    expected = sum(prices.cost(h.json()["model"], usage) for h, usage in zip(hits, usages, strict=True))
    assert expected > 0

    as_json = run_cli("stats", "--json", "--window", "1h", url=cli_gw.url)
    assert as_json.returncode == 0, as_json.stderr
    stats = json.loads(as_json.stdout)
    assert (stats["hits"] - before["hits"], stats["misses"] - before["misses"]) == (4, 4)
    assert stats["cost_saved_usd"] - before["cost_saved_usd"] == pytest.approx(expected, abs=5e-6)
    screen = run_cli("stats", url=cli_gw.url)
    assert screen.returncode == 0, screen.stderr
    assert "saved" in screen.stdout and f"${stats['cost_saved_usd']:.6f}" in screen.stdout
    hit_rate = f"{100 * stats['hits'] / (stats['hits'] + stats['misses']):.1f} %"
    assert "hit rate" in screen.stdout and hit_rate in screen.stdout
    assert "by route" in screen.stdout and "embeddings" in screen.stdout and "by model" in screen.stdout

    flushed = run_cli("flush", "--namespace", namespace, url=cli_gw.url)
    assert flushed.returncode == 0, flushed.stderr
    assert f"flushed namespace {namespace}" in flushed.stdout
    again = run_cli("warm", str(warm_file), url=cli_gw.url)
    assert "sent 4, already cached 0, stored 4, failed 0" in again.stdout, again.stdout + again.stderr


def test_given_a_messages_line_when_warmed_then_the_anthropic_sdk_asking_the_same_gets_a_hit(
    cli_gw: GatewayProcess, tmp_path: Path
) -> None:
    """Messages entries are keyed with `anthropic-version`: warm sends the SDK's, so the SDK's request hits."""
    import anthropic

    question = f"What is a warm cache? [{uuid.uuid4().hex[:8]}]"
    body = {"model": "claude-sonnet-4-5", "max_tokens": 128, "messages": [{"role": "user", "content": question}]}
    warm_file = tmp_path / "messages.jsonl"
    warm_file.write_text(json.dumps(body) + "\n")  # no "route": a Claude model's line is a Messages line

    warmed = run_cli("warm", str(warm_file), url=cli_gw.url)

    assert warmed.returncode == 0, warmed.stderr
    assert "sent 1, already cached 0, stored 1, failed 0" in warmed.stdout
    client = anthropic.Anthropic(base_url=cli_gw.url, api_key=CLIENT_KEY, max_retries=0)
    answer = client.messages.with_raw_response.create(**body)
    assert answer.headers["x-cache"] == "HIT"
    assert question in answer.parse().content[0].text  # type: ignore[union-attr]


def test_given_a_messages_line_and_another_anthropic_version_when_warmed_then_the_sdk_misses(
    cli_gw: GatewayProcess, tmp_path: Path
) -> None:
    import anthropic

    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": uuid.uuid4().hex}]}
    warm_file = tmp_path / "messages.jsonl"
    warm_file.write_text(json.dumps(body) + "\n")

    warmed = run_cli("warm", str(warm_file), "--anthropic-version", "2023-01-01", url=cli_gw.url)

    assert warmed.returncode == 0, warmed.stderr
    client = anthropic.Anthropic(base_url=cli_gw.url, api_key=CLIENT_KEY, max_retries=0)
    assert client.messages.with_raw_response.create(**body).headers["x-cache"] == "MISS"  # the version is keyed


def test_given_an_entry_key_when_shown_reexpired_and_deleted_then_each_answers(cli_gw: GatewayProcess) -> None:
    answer = _send(
        cli_gw,
        "chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": uuid.uuid4().hex}]},
    )
    key = answer.headers["x-cache-key"]
    shown = run_cli("entry", key, "--json", url=cli_gw.url)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["model"] == "gpt-4o-mini"
    patched = run_cli("entry", key, "--ttl", "60", "--json", url=cli_gw.url)
    assert json.loads(patched.stdout)["ttl_remaining"] <= 60
    deleted = run_cli("entry", key, "--delete", url=cli_gw.url)
    assert deleted.returncode == 0 and f"deleted {key}" in deleted.stdout
    gone = run_cli("entry", key, url=cli_gw.url)
    assert gone.returncode == 1
    assert gone.stderr.startswith(f"llmcache: no live entry for key {key}")
    assert "an embeddings batch's X-Cache-Key names the batch" in gone.stderr  # the gateway's why
    assert "KEY is the X-Cache-Key header of one answer" in gone.stderr  # the command's hint


def test_given_the_admin_key_on_stdin_when_stats_are_read_then_they_answer(cli_gw: GatewayProcess) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMCACHE_")}
    env["LLMCACHE_URL"] = cli_gw.url
    result = subprocess.run(
        [str(LLMCACHE), "stats", "--json", "--admin-key-stdin"],
        input=ADMIN_KEY + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["source"] == "process"


@pytest.mark.parametrize(
    ("args", "admin_key", "says"),
    [
        (("stats",), "not-the-admin-key", "the gateway refused the admin key (403"),
        (("flush", "--namespace", "default"), None, "no admin key: set LLMCACHE_ADMIN_KEY or pipe it to --admin-key"),
        (("stats", "--url", "http://127.0.0.1:{closed}"), ADMIN_KEY, "cannot connect to the gateway at"),
    ],
)
def test_given_a_wrong_key_or_a_gateway_down_when_run_then_the_error_is_one_line_saying_what_to_do(
    cli_gw: GatewayProcess, args: tuple[str, ...], admin_key: str | None, says: str
) -> None:
    args = tuple(a.replace("{closed}", str(free_port())) for a in args)
    result = run_cli(*args, url=cli_gw.url, admin_key=admin_key)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmcache: ") and says in lines[0], result.stderr


LONG_WARM_LINES = 400


def test_given_a_long_warm_when_ctrl_c_is_pressed_then_it_stops_cleanly_with_a_summary(
    cli_gw: GatewayProcess, tmp_path: Path
) -> None:
    def misses() -> int:
        stats = httpx.get(
            f"{cli_gw.url}/cache/stats", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        ).json()
        return int(stats["misses"])

    # Each line waits 2 s at the provider, two at a time: 400 lines take 400 s, so the run cannot end on its
    # own before the interrupt comes.
    lines = [
        json.dumps({"model": "fake-slow-2000", "messages": [{"role": "user", "content": f"{uuid.uuid4().hex} {i}"}]})
        for i in range(LONG_WARM_LINES)
    ]
    warm_file = tmp_path / "slow.jsonl"
    warm_file.write_text("\n".join(lines) + "\n")
    before = misses()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMCACHE_")}
    env.update({"LLMCACHE_URL": cli_gw.url, "LLMCACHE_API_KEY": CLIENT_KEY})
    process = subprocess.Popen(
        [str(LLMCACHE), "warm", str(warm_file), "--concurrency", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a suite started in the background (`make test &`) hands its children SIGINT
        # ignored, and Python then never raises KeyboardInterrupt, so the warm ran to its end (rc 0)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_until(lambda: misses() > before, timeout=60, what="the first warm request reaching the gateway")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "stopping" in stderr
    summary = next(line for line in stdout.splitlines() if line.startswith("interrupted: sent "))
    assert int(summary.removeprefix("interrupted: sent ").split(",")[0]) < LONG_WARM_LINES
