"""The one check of a passed-on path before any URL is built from it (issue #22, findings 22.2 and 22.8)."""

from __future__ import annotations

import pytest

from llmcache.api.path_guard import checked_path
from llmcache.errors import BadRequest


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models",
        "/v1/models/",
        "/v1/models/ft:gpt-4o-mini-2024-07-18:org::AbC123",
        "/v1/files/file-abc123/content",
        "/v1/messages/batches/msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d",
        "/v1/messages/count_tokens",
    ],
)
def test_given_a_plain_provider_path_when_checked_then_it_is_kept_as_it_is(path: str) -> None:
    """finding 22.2: what providers' SDKs send passes."""
    assert checked_path(path) == path


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/v1/../x", "dot segment"),
        ("/v1/./models", "dot segment"),
        ("/v1/files/../../x", "dot segment"),
        ("/v1/messages/../files", "dot segment"),
        ("/v1/files/...", "dot segment"),
        ("/v1//models", "empty segment"),
        ("/v1/files/%2e%2e/x", "encoded twice"),
        ("/v1/files/%252e", "encoded twice"),
        ("/v1/models?x=1", "`?`"),
        ("/v1/models#frag", "`#`"),
        ("/v1/models\\..\\x", "backslash"),
        ("/v1/models\x00", "control characters"),
        ("/v1/models\r\nX-Injected: 1", "control characters"),
        ("/v1/mod\u00e8les", "outside ASCII"),
        ("/v1/files/..;/x", "never has"),
        ("/v1/files/a b", "never has"),
    ],
)
def test_given_a_path_that_could_leave_its_base_or_change_the_request_when_checked_then_400_saying_why(
    path: str, why: str
) -> None:
    """finding 22.2 (and 22.8: NUL and CR LF are a 400, never a 500)."""
    with pytest.raises(BadRequest) as refused:
        checked_path(path)

    assert refused.value.status == 400 and refused.value.code == "invalid_path"
    assert why in refused.value.message


@pytest.mark.parametrize("raw", ["/v1/files/a%2fb", "/v1/files/..%2F..%2Fx", "/v1/files/a%5Cb"])
def test_given_an_encoded_slash_in_the_raw_path_when_checked_then_400(raw: str) -> None:
    """finding 22.2: where the door knows the raw path, an encoded separator is refused before it is decoded."""
    decoded = raw.replace("%2f", "/").replace("%2F", "/").replace("%5C", "\\")

    with pytest.raises(BadRequest, match="encoded slash"):
        checked_path(decoded, raw_path=raw)
