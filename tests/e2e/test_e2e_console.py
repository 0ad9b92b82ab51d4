"""`make run`'s console, read off a real terminal: the gateway runs in a tmux pane (`python -m llmcache.local`,
exactly what `make run` starts) and the test reads the screen as a person would see it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.servers import REPO_ROOT, free_port, gateway_env, wait_until

TMUX_MISSING = "tmux is not installed: the console test needs a real terminal. Run `make tmux` (or `make test`)."
REQUEST_LINE = re.compile(r"^\d\d:\d\d:\d\d  (GET|POST)\s+(/\S*)\s+(\d{3}|---)  (\S+)")
CLIENT_KEY = f"sk-console-{uuid.uuid4().hex[:10]}"


@dataclass
class Pane:
    socket: str
    port: int

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        return done.stdout

    def screen(self, colours: bool = False) -> str:
        """The whole pane, history included, wrapped lines joined; with `colours`, its escape sequences too."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", *(["-e"] if colours else []), "-t", "gw")

    def gateway_exited(self) -> bool:
        """The pane's process has ended. Read from /proc rather than tmux's "Pane is dead" line: a loaded tmux
        server can take long to reap (and so to report) a process that has already exited."""
        pids = self.tmux("list-panes", "-t", "gw", "-F", "#{pane_pid}").split()
        if not pids:
            return True
        try:
            state = Path(f"/proc/{pids[0]}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return True
        return state in ("Z", "X")  # exited, waiting for tmux to collect its status

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def pane() -> Iterator[Pane]:
    if shutil.which("tmux") is None:
        pytest.fail(TMUX_MISSING)
    port = free_port()
    running = Pane(f"llmcache-console-{uuid.uuid4().hex[:8]}", port)
    env = gateway_env({"CACHE_TIERS": "memory"})
    command = [sys.executable, "-m", "llmcache.local", "--port", str(port)]
    setters = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
    running.tmux("-f", "/dev/null", "new-session", "-d", "-s", "gw", "-x", "180", "-y", "60", "-c", str(REPO_ROOT),
                 *setters, *command)  # fmt: skip
    running.tmux("set-option", "-t", "gw", "remain-on-exit", "on")  # the last words stay readable after Ctrl-C
    try:
        wait_until(lambda: "Ctrl-C stops." in running.screen(), timeout=180, what="the banner in the pane")
        yield running
    finally:
        running.tmux("kill-server")


def request_lines(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if REQUEST_LINE.match(line)]


def test_given_make_run_in_a_terminal_when_requests_come_then_each_is_one_short_coloured_line(pane: Pane) -> None:
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Hello console {uuid.uuid4().hex}"}]}
    auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
    with httpx.Client(base_url=pane.url, headers=auth, timeout=60) as client:
        statuses = [
            client.post("/v1/chat/completions", json=chat).status_code,  # MISS
            client.post("/v1/chat/completions", json=chat).status_code,  # HIT
            client.post("/v1/chat/completions", content=b"{not json").status_code,  # 400
            client.get("/v1/models?api_key=sk-in-a-query").status_code,  # passed on: BYPASS
            client.post("/v1/chat/completions", json={**chat, "model": "fake-drop"}).status_code,  # 502
        ]
    assert statuses == [200, 200, 400, 200, 502]

    wait_until(lambda: len(request_lines(pane.screen())) >= 5, timeout=120, what="five request lines")
    screen = pane.screen()
    lines = request_lines(screen)
    # a passed-on call is relayed on a thread of its own, so its line may come after a later request's
    assert sorted(REQUEST_LINE.match(line).group(3, 4) for line in lines) == [  # type: ignore[union-attr]
        ("200", "BYPASS"),
        ("200", "HIT"),
        ("200", "MISS"),
        ("400", "-"),
        ("502", "-"),
    ]
    hit = next(line for line in lines if " HIT " in line)
    assert "memory" in hit and hit.rstrip().endswith("ms")
    assert all(len(line) <= 100 for line in lines), lines
    bypass = next(line for line in lines if "BYPASS" in line)
    assert "/v1/models" in bypass and "sk-in-a-query" not in screen  # never the query string
    assert CLIENT_KEY not in screen and "Hello console" not in screen  # no keys, no prompt text
    assert '{"level"' not in screen and '"_aws"' not in screen  # no JSON lines, no EMF blobs
    warning = next(line for line in screen.splitlines() if "  WARN " in line)
    assert "upstream or backend failure" in warning and "status=502" in warning

    coloured = pane.screen(colours=True)
    hit_line = next(line for line in coloured.splitlines() if "HIT" in line and "/v1/chat" in line)
    assert "\x1b[32mHIT" in hit_line  # green
    warn_line = next(line for line in coloured.splitlines() if "WARN" in line)
    assert "\x1b[1m" in warn_line and "\x1b[33m" in warn_line  # bold yellow: it stands out
    assert "\x1b[31m502" in coloured  # a 5xx in red

    pane.tmux("send-keys", "-t", "gw", "C-c")
    wait_until(lambda: "llmcache: stopping" in pane.screen(), timeout=120, what="the stop line")
    wait_until(pane.gateway_exited, timeout=120, what="the gateway's exit")
    assert "Traceback" not in pane.screen()


def test_given_log_format_json_when_a_request_comes_then_the_deployments_json_line_is_written(pane: Pane) -> None:
    """The default console is for people; `LOG_FORMAT=json` (what a deployment writes) is still one switch away."""
    pane.tmux("kill-session", "-t", "gw")
    port = free_port()
    env = gateway_env({"CACHE_TIERS": "memory", "LOG_FORMAT": "json"})
    setters = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
    pane.tmux("new-session", "-d", "-s", "gw", "-x", "400", "-y", "60", "-c", str(REPO_ROOT), *setters,
              sys.executable, "-m", "llmcache.local", "--port", str(port))  # fmt: skip
    wait_until(lambda: "Ctrl-C stops." in pane.screen(), timeout=180, what="the banner in the pane")
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "json please"}]}
    answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, headers={"Authorization":
                        f"Bearer {CLIENT_KEY}"}, timeout=60)  # fmt: skip
    assert answer.status_code == 200

    wait_until(lambda: '"message":"answered"' in pane.screen(), timeout=120, what="the JSON access line")
    screen = pane.screen()
    assert '"_aws"' in screen  # the EMF metrics line too, as CloudWatch reads it
    assert not request_lines(screen)
