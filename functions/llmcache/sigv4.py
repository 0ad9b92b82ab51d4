"""SigV4 for the gateway's own calls to Amazon Bedrock (`BEDROCK_AUTH=iam`): botocore's signer, service
`bedrock`, the function's region, and credentials from the default chain (on Lambda: the function's role).

SigV4 signs the host, the path and the body, so a client's signature (made for the gateway's host) can never
be passed on: the gateway signs its own request, and no provider key exists anywhere. botocore is imported on
the first signed call, not at start (it is not on the cold-start path of the other APIs).
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import urlsplit

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
