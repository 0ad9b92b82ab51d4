"""How the `llmcache` command talks to a gateway: one client, one-line errors, and care with its keys.

- A key goes over plain http only to this machine (loopback): to any other host the command refuses, unless
  `--insecure` says the network is trusted (then it warns once).
- A URL's user:password is never printed: every message shows the URL with `***@` in its place.
- A TLS failure says TLS (an untrusted certificate, a proxy that intercepts), not "is it running?".
- Entry keys are checked before any request is built: 64 lowercase hex, so no key can turn into a path.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
ENTRY_KEY = re.compile(r"[0-9a-f]{64}")
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


class CliError(Exception):
    """One line for the operator: what went wrong and what to do."""


class EntryNotFound(CliError):
    """The gateway's own 404 on an admin route: no live entry under that key."""


def redact(text: str) -> str:
    """`text` with the user:password of every URL in it replaced by ***."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def entry_path(key: str) -> str:
    """`/cache/entries/KEY`, for a KEY that is an entry key and nothing else."""
    key = key.strip()
    if not ENTRY_KEY.fullmatch(key):
        shown = "".join(c if c.isprintable() else "?" for c in key[:70])
        raise CliError(
            f"{shown!r} is not an entry key: keys are 64 lowercase hex characters, the X-Cache-Key header of an answer"
        )
    return f"/cache/entries/{quote(key, safe='')}"


def _tls_failure(error: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _tls_message(url: str, tls: ssl.SSLError | None, error: Exception) -> str:
    if isinstance(tls, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(error):
        reason = getattr(tls, "verify_message", None) or "certificate verify failed"
        return (
            f"TLS with {url} failed ({reason}): its certificate is not trusted here (self-signed, or a proxy that "
            "intercepts TLS?); set SSL_CERT_FILE to the CA bundle that signed it"
        )
    reason = getattr(tls, "reason", None) or redact(str(error))[:120]
    return (
        f"TLS with {url} failed ({reason}): is it an https endpoint? A gateway served on plain http "
        "(`make run`) takes an http:// URL"
    )


@dataclass
class Gateway:
    url: str
    api_key: str | None
    admin_key: str | None
    gateway_key: str | None
    timeout: float
    insecure: bool = False
    warn: Any = None  # prints a warning line (stderr); None: silent
    _client: httpx.Client | None = field(default=None, repr=False)
    _warned: bool = field(default=False, repr=False)

    @property
    def shown_url(self) -> str:
        """The URL as every message shows it: without a password."""
        return redact(self.url.rstrip("/"))

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            if not re.match(r"^https?://[^/\s]+", self.url):
                raise CliError(
                    f"LLMCACHE_URL must be the gateway's http(s) base URL, e.g. {DEFAULT_URL}; got {redact(self.url)!r}"
                )
            if self.url.rstrip("/").endswith("/v1"):
                raise CliError(f"LLMCACHE_URL is the gateway's base URL, without /v1: {self.shown_url[:-3]}")
            headers = {"x-api-key": self.gateway_key} if self.gateway_key else {}
            self._client = httpx.Client(
                base_url=self.url.rstrip("/"),
                headers={"User-Agent": "llmcache-cli", **headers},
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            )
        return self._client

    def check_transport(self, what: str) -> None:
        """Refuse (or with --insecure, warn once) before a key goes over plain http to another machine."""
        parts = urlsplit(self.url.strip())
        if parts.scheme != "http" or is_loopback(parts.hostname):
            return
        if not self.insecure:
            raise CliError(
                f"refusing to send the {what} over plain http to {parts.hostname}: anyone on the way could read it. "
                "Use the gateway's https:// URL, or --insecure (LLMCACHE_INSECURE=1) on a network you trust"
            )
        if not self._warned and self.warn is not None:
            self._warned = True
            self.warn(f"warning: sending the {what} over plain http to {parts.hostname} (--insecure)")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        key: str | None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        key_header: str = "authorization",
        what: str = "client key",
        **kwargs: Any,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if key:
            self.check_transport(what)
            sent[key_header] = f"Bearer {key}" if key_header == "authorization" else key
        elif self.gateway_key:
            self.check_transport("gateway key")
        try:
            return self.client.request(method, path, json=body, headers=sent, **kwargs)
        except httpx.ConnectError as exc:
            tls = _tls_failure(exc)
            if tls is not None or "SSL" in str(exc) or "CERTIFICATE" in str(exc):
                raise CliError(_tls_message(self.shown_url, tls, exc)) from None
            raise CliError(
                f"cannot connect to the gateway at {self.shown_url}: is it running (`make run`)? "
                "Set LLMCACHE_URL or --url to its address"
            ) from None
        except httpx.TimeoutException:
            raise CliError(
                f"the gateway at {self.shown_url} did not answer within {self.timeout:g} s: retry, or raise --timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise CliError(
                f"the request to {self.shown_url} failed ({type(exc).__name__}): check LLMCACHE_URL"
            ) from None

    def admin(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        if not self.admin_key:
            raise CliError(
                "no admin key: set LLMCACHE_ADMIN_KEY or pipe it to --admin-key-stdin (`make run` prints the export)"
            )
        response = self.send(method, path, key=self.admin_key, body=body, what="admin key", **kwargs)
        if response.status_code in (401, 403) and not is_gateway_error(response):
            raise CliError(
                f"{self.shown_url} refused the request ({response.status_code}) before the gateway saw it: "
                "behind API Gateway, set LLMCACHE_GATEWAY_KEY (or --gateway-key) to an API key"
            )
        if response.status_code in (401, 403):
            raise CliError(
                f"the gateway refused the admin key ({response.status_code}: {message(response)}): "
                "set LLMCACHE_ADMIN_KEY to the gateway's ADMIN_API_KEY"
            )
        if response.status_code == 404 and not is_gateway_error(response):
            raise CliError(
                f"{self.shown_url} has no {path} route (404): LLMCACHE_URL must be the gateway's base URL "
                "(no /v1; deployed, the ApiUrl output with its stage)"
            )
        if response.status_code == 404:
            raise EntryNotFound(f"{message(response)} (404)")
        if response.status_code >= 400:
            raise CliError(f"{message(response)} ({response.status_code})")
        return response


def is_gateway_error(response: httpx.Response) -> bool:
    """An answer in the gateway's own error envelope (not a proxy's page or API Gateway's message)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no readable answer"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(body, dict) and body.get("message"):  # API Gateway's own {"message": "Forbidden"}
        return str(body["message"])
    return response.reason_phrase or "error"


def json_of(response: httpx.Response, gateway: Gateway) -> Any:
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise CliError(
            f"the server at {gateway.shown_url} did not answer like an llmcache gateway "
            f"(HTTP {response.status_code}, {kind}): check LLMCACHE_URL"
        ) from None
