"""How the `llmcache` command talks to a gateway (issue #22, finding 9): entry keys checked before any request,
passwords in --url never printed, TLS failures named as TLS, no key over plain http to another machine."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llmcache.cli.gateway import CliError, Gateway, entry_path, is_loopback, redact


def gateway(url: str, *, insecure: bool = False, warnings: list[str] | None = None) -> Gateway:
    sink = warnings.append if warnings is not None else None
    return Gateway(url, "sk-client", "sk-admin", None, 2.0, insecure=insecure, warn=sink)


@pytest.mark.parametrize("key", ["../../v1/models", "%2e%2e/v1/models", "A" * 64, "a" * 63, "a" * 64 + "\x00", ""])
def test_given_a_key_that_is_not_64_lowercase_hex_when_an_entry_path_is_built_then_it_is_refused(key: str) -> None:
    with pytest.raises(CliError, match="not an entry key: keys are 64 lowercase hex"):
        entry_path(key)


def test_given_an_entry_key_when_its_path_is_built_then_it_is_the_entries_route() -> None:
    assert entry_path(" " + "0f" * 32 + " ") == "/cache/entries/" + "0f" * 32


def test_given_urls_with_passwords_in_a_message_when_redacted_then_no_password_is_left() -> None:
    text = "cannot reach http://admin:hunter2@10.0.0.5:8080 nor https://tok@gw.example.com/prod"

    assert redact(text) == "cannot reach http://***@10.0.0.5:8080 nor https://***@gw.example.com/prod"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("[::1]", True), ("localhost", True), ("10.0.0.5", False),
     ("gw.example.com", False), ("localhost.example.com", False), (None, False)],
)  # fmt: skip
def test_given_a_host_when_asked_then_only_this_machine_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_given_a_remote_plain_http_url_when_the_admin_key_would_be_sent_then_the_command_refuses() -> None:
    remote = gateway("http://10.0.0.5:8080")

    with pytest.raises(CliError, match=r"refusing to send the admin key over plain http to 10\.0\.0\.5.*--insecure"):
        remote.admin("GET", "/cache/stats")
    assert remote._client is None  # refused before any connection was made


def test_given_insecure_when_a_key_goes_over_plain_http_then_a_warning_is_printed_once() -> None:
    warnings: list[str] = []
    remote = gateway("http://10.0.0.5:8080", insecure=True, warnings=warnings)

    remote.check_transport("admin key")
    remote.check_transport("admin key")

    assert warnings == ["warning: sending the admin key over plain http to 10.0.0.5 (--insecure)"]


def test_given_https_or_loopback_when_a_key_is_sent_then_nothing_is_said() -> None:
    warnings: list[str] = []
    for url in ("https://gw.example.com/prod", "http://127.0.0.1:8080", "http://localhost:9"):
        gateway(url, warnings=warnings).check_transport("admin key")

    assert warnings == []


def serve(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback server that hands each connection to `handle`; yields its port, closes when done."""
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                handle(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def plain_tcp_server() -> Iterator[int]:
    """A server that answers a TLS hello with plain HTTP, as a gateway on http:// reached with https:// would."""

    def answer(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    yield from serve(answer)


def test_given_a_tls_handshake_that_fails_when_sent_then_the_error_says_tls_not_is_it_running(
    plain_tcp_server: int,
) -> None:
    secure = gateway(f"https://ops:s3cret@127.0.0.1:{plain_tcp_server}")

    with pytest.raises(CliError) as error:
        secure.admin("GET", "/cache/stats")

    message = str(error.value)
    assert message.startswith(f"TLS with https://***@127.0.0.1:{plain_tcp_server} failed")
    assert "is it running" not in message and "s3cret" not in message


def test_given_a_password_in_the_url_when_the_gateway_is_down_then_the_error_hides_it() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = gateway(f"http://ops:s3cret@127.0.0.1:{port}")

    with pytest.raises(CliError) as error:
        down.admin("GET", "/cache/stats")

    assert "cannot connect" in str(error.value) and "s3cret" not in str(error.value)
    assert f"http://***@127.0.0.1:{port}" in str(error.value)


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[int]:
    """A TLS server with a self-signed certificate (made with the machine's openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def handshake(conn: socket.socket) -> None:
        with contextlib.suppress(ssl.SSLError), context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(4096)

    yield from serve(handshake)


def test_given_a_self_signed_certificate_when_sent_then_the_error_names_the_untrusted_certificate(
    self_signed_server: int,
) -> None:
    with pytest.raises(CliError) as error:
        gateway(f"https://127.0.0.1:{self_signed_server}").admin("GET", "/cache/stats")

    assert str(error.value).startswith(f"TLS with https://127.0.0.1:{self_signed_server} failed")
    assert "certificate is not trusted here" in str(error.value) and "SSL_CERT_FILE" in str(error.value)
