"""The provider, over httpx: one pooled client per container, bounded timeouts, no retries.

Retrying is the client SDK's job (it already does, with backoff); a gateway that retries too
multiplies the load on a provider that is already failing.
"""

from __future__ import annotations

import contextvars
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from llmcache.errors import BadRequest, UpstreamTimeout, UpstreamUnavailable
from llmcache.exchange import UpstreamResponse

# Client headers worth passing on; everything else (Host, our cache controls) stays here.
# (wiring adds each provider's answer-selecting headers, its dialect's `answer_headers`: part of the cache key)
FORWARDED_HEADERS = ("accept-language",)
# Provider headers worth passing back on a miss (OpenAI's, then Anthropic's request id).
RETURNED_HEADERS = ("x-request-id", "openai-processing-ms", "openai-model", "retry-after", "request-id")
JSON = "application/json"
SSE = "text/event-stream"


class Signer(Protocol):
    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]: ...


class Upstream:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        managed_key: Callable[[], str | None] | None = None,
        transport: httpx.BaseTransport | None = None,
        forwarded_headers: tuple[str, ...] = FORWARDED_HEADERS,
        key_header: str | None = None,
        returned_headers: tuple[str, ...] = RETURNED_HEADERS,
        signer: Signer | None = None,
    ) -> None:
        """`key_header`: a provider's own credential header (Anthropic's `x-api-key`): the managed key is sent
        in it, and a client's key is passed on in the header the client used (that one or a bearer token).
        `signer`: signs each request as it will be sent (Bedrock's SigV4: `SigV4Signer` below)."""
        self.base_url = base_url.rstrip("/")
        self.managed_key = managed_key
        self.forwarded_headers = forwarded_headers
        self.key_header = key_header
        self.returned_headers = returned_headers
        self.signer = signer
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.client = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            transport=transport,
            follow_redirects=False,
        )

    def _credential_headers(self, credential: str | None, used_key_header: bool) -> dict[str, str]:
        """The managed key, else the client's, in the provider's own header when managed or when the client used
        that header (`used_key_header`), else as a bearer token. None with a signer: the gateway's own signature
        is the credential, and a client's key never goes up."""
        if self.signer is not None:
            return {}
        key = self.managed_key() if self.managed_key else credential
        if not key:
            return {}
        if self.key_header and (self.managed_key or used_key_header):
            return {self.key_header: key}
        return {"authorization": f"Bearer {key}"}

    def _headers(self, client_headers: dict[str, str], credential: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        headers.update(
            self._credential_headers(credential, self.key_header is not None and self.key_header in client_headers)
        )
        for name in self.forwarded_headers:
            value = client_headers.get(name)
            if value is not None and _safe_header_value(value):
                headers[name] = value
        return headers

    def _kept_headers(self, response: httpx.Response) -> dict[str, str]:
        # A missing content-type stays missing: UpstreamResponse.content_type reads it as JSON for a plain
        # answer, while a stream without one is taken as the SSE it was asked for.
        return {k: response.headers[k] for k in (*self.returned_headers, "content-type") if k in response.headers}

    def _signed(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        return self.signer.sign(method, url, headers, body) if self.signer is not None else headers

    def _timeout(self, deadline: float | None) -> httpx.Timeout | None:
        """The client's timeouts, cut to what is left of the request's deadline (None: the client's own)."""
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            raise UpstreamTimeout("the request ran out of time before the provider was asked; try again")
        return httpx.Timeout(min(self.read_timeout, left), connect=min(self.connect_timeout, left))

    def post(
        self,
        route: str,
        body: bytes,
        client_headers: dict[str, str],
        credential: str | None,
        *,
        deadline: float | None = None,
    ) -> UpstreamResponse:
        """The whole answer, read by the deadline (read as a stream, so a trickling answer cannot outlast it)."""
        with self.stream(route, body, client_headers, credential, deadline=deadline, accept=JSON) as (head, chunks):
            content = b"".join(chunks)
        return UpstreamResponse(head.status, head.headers, content)

    @contextmanager
    def stream(
        self,
        route: str,
        body: bytes,
        client_headers: dict[str, str],
        credential: str | None,
        *,
        deadline: float | None = None,
        accept: str = SSE,
    ) -> Iterator[tuple[UpstreamResponse, Iterator[bytes]]]:
        """Yields the status/headers (empty body) and an iterator over the raw body bytes.

        Errors while iterating surface as UpstreamTimeout/UpstreamUnavailable from the iterator, and so does
        the deadline passing between two chunks.
        """
        headers = self._headers(client_headers, credential)
        if "accept" not in self.forwarded_headers or "accept" not in client_headers:
            headers["accept"] = accept  # else the client's own (Bedrock's InvokeModel: the answer's media type)
        timeout = self._timeout(deadline) or httpx.USE_CLIENT_DEFAULT
        url = f"{self.base_url}/{route}"
        headers = self._signed("POST", url, headers, body)
        with _provider_errors(), self.client.stream("POST", url, content=body, headers=headers, timeout=timeout) as r:
            yield UpstreamResponse(r.status_code, self._kept_headers(r), b""), _guarded(r.iter_bytes(), deadline)

    @contextmanager
    def relay(
        self,
        method: str,
        path: str,
        query: str,
        body: bytes,
        client_headers: dict[str, str],
        credential: str | None,
        *,
        deadline: float | None = None,
        used_key_header: bool = False,
    ) -> Iterator[tuple[UpstreamResponse, Iterator[bytes]]]:
        """An uncached request passed on: `path` under the base URL (already checked by the API layer), the query,
        the body, and `client_headers` (already cut to what may go up); the credential is set as for the cached
        routes, in the provider's own header when the client used it (`used_key_header`). Yields the provider's
        status and all its headers (the API layer picks what reaches the client) and its body as it arrives.
        Errors surface as in `stream`."""
        relayed = {**client_headers, **self._credential_headers(credential, used_key_header)}
        url = self._url_under_base(path, query)
        relayed = self._signed(method, str(url), relayed, body)
        headers = dict(_wire_header(name, value) for name, value in relayed.items())
        timeout = self._timeout(deadline) or httpx.USE_CLIENT_DEFAULT
        with _provider_errors(), self.client.stream(method, url, content=body, headers=headers, timeout=timeout) as r:
            yield UpstreamResponse(r.status_code, dict(r.headers.items()), b""), _guarded(r.iter_bytes(), deadline)

    def _url_under_base(self, path: str, query: str) -> httpx.URL:
        """`path` joined under the base URL by httpx's URL rules, refused unless it is still under the base path
        (the API layer checked the path; this holds whatever a future caller passes)."""
        base = httpx.URL(self.base_url + "/")
        try:
            url = base.join(path).copy_with(query=query.encode() if query else None)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise BadRequest("the request path cannot be passed on as a URL", code="invalid_path") from None
        if (url.scheme, url.netloc) != (base.scheme, base.netloc) or not url.raw_path.startswith(base.raw_path):
            raise BadRequest("the request path leaves the provider's base path", code="invalid_path")
        return url

    def close(self) -> None:
        self.client.close()


@contextmanager
def _provider_errors() -> Iterator[None]:
    """httpx's failures to reach the provider as the gateway's 504 and 502."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"the provider did not answer in time ({type(exc).__name__}); try again") from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"the provider could not be reached: {type(exc).__name__}") from exc


def _safe_header_value(value: str) -> bool:
    """Optional headers are passed on only when HTTP can carry them as they are."""
    return len(value) <= 256 and value.isascii() and value.isprintable()


def _guarded(chunks: Iterator[bytes], deadline: float | None = None) -> Iterator[bytes]:
    try:
        for chunk in chunks:
            if deadline is not None and time.monotonic() > deadline:
                raise UpstreamTimeout("the provider was still sending when the request ran out of time; try again")
            yield chunk
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout("the provider stopped sending mid-stream; try again") from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"the provider's stream broke: {type(exc).__name__}") from exc


def _wire_header(name: str, value: str) -> tuple[bytes, bytes]:
    """A passed-on header as HTTP/1.1 carries it: an ASCII name and a Latin-1 value (what API Gateway hands us
    may hold any text); anything else is the client's error, not a 500."""
    try:
        return name.encode("ascii"), value.encode("latin-1")
    except UnicodeEncodeError:
        raise BadRequest(
            f"header {name[:40]!r} holds characters HTTP cannot pass on to the provider", param=name[:40]
        ) from None


# ----- the provider's /v1/embeddings as the semantic embedder ------------------------------------------------
# In passthrough mode the caller's own credential pays for the embedding, as it pays for the answer.
current_credential: contextvars.ContextVar[str | None] = contextvars.ContextVar("credential", default=None)


def upstream_embedder(upstream: Upstream, timeout: float) -> Callable[[list[str], str], list[list[float]]]:
    """`timeout`: seconds for the whole embedding call; past it the request goes on as a plain miss."""

    def embed(texts: list[str], model: str) -> list[list[float]]:
        body = json.dumps({"model": model, "input": texts, "encoding_format": "float"}).encode()
        deadline = time.monotonic() + timeout
        response = upstream.post("embeddings", body, {}, current_credential.get(), deadline=deadline)
        if response.status >= 400:
            raise RuntimeError(f"embedding request failed with status {response.status}")
        data = sorted(json.loads(response.body)["data"], key=lambda d: d["index"])
        return [list(map(float, d["embedding"])) for d in data]

    return embed


# ----- SigV4: the gateway's own signature on its calls to Amazon Bedrock ----------------------------------------
# BEDROCK_AUTH=iam: botocore's signer, the function's region and credentials from the default chain (on Lambda:
# its role). SigV4 signs the host, the path and the body, so a client's signature (made for the gateway's host)
# can never be passed on: the gateway signs its own request, and no provider key exists anywhere. botocore is
# imported on the first signed call, not at start (it is not on the cold-start path of the other APIs).
SERVICE = "bedrock"
# Bedrock's hosts and the SigV4 service each signs for: the Runtime (`/model/...`, and its OpenAI-shaped
# `/openai/v1`) and Mantle (OpenAI-shaped `/v1`, `/openai/v1`; Anthropic-shaped `/anthropic/v1`).
_BEDROCK_HOSTS = (
    (re.compile(r"^bedrock-runtime(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$"), "bedrock"),
    (re.compile(r"^bedrock-mantle\.(?P<region>[a-z0-9-]+)\.api\.aws$"), "bedrock-mantle"),
)


def bedrock_endpoint(url: str) -> tuple[str, str] | None:
    """(SigV4 service, region) when `url` is one of Amazon Bedrock's endpoints, else None."""
    host = (urlsplit(url).hostname or "").lower()
    for pattern, service in _BEDROCK_HOSTS:
        match = pattern.match(host)
        if match is not None:
            return service, match["region"]
    return None


class MissingAwsCredentials(RuntimeError):
    """The default credential chain found nothing to sign with."""


class SigV4Signer:
    def __init__(self, region: str, *, service: str = SERVICE, credentials: Any = None) -> None:
        """`credentials`: botocore credentials (tests); None reads the default chain once, then refreshes it as
        botocore does (a role's temporary credentials are renewed before they expire)."""
        self.region = region
        self.service = service
        self._credentials = credentials
        self._lock = threading.Lock()

    def _current(self) -> Any:
        if self._credentials is None:
            with self._lock:
                if self._credentials is None:
                    import botocore.session

                    self._credentials = botocore.session.get_session().get_credentials()
        if self._credentials is None:
            raise MissingAwsCredentials(
                "no AWS credentials to sign the Bedrock call with (BEDROCK_AUTH=iam): give the function a role, "
                "or set AWS credentials, or use BEDROCK_AUTH=passthrough"
            )
        return self._credentials.get_frozen_credentials()

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        """`headers` with the SigV4 ones added (`Authorization`, `X-Amz-Date`, `X-Amz-Security-Token` for a
        role's credentials). `url` must be sent exactly as given: its path is what was signed."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(self._current(), self.service, self.region).add_auth(request)
        return dict(request.headers.items())
