"""One check of a passed-on path, before any URL is built from it.

A percent-decoded path joined onto a provider's base URL can climb out of it (`/v1/../x`, `/v1/files/..%2f..%2fx`)
or change what is asked (a decoded `%3F` starts a query, `%23` cuts the path, `%0d%0a` splits the request line).
Provider ids are plain ASCII names (`file-abc123`, `msgbatch_01...`, `ft:gpt-4o-mini:org::id`), so the check can be
strict: a path that is not a clean sequence of such segments is the client's error (400), never a URL.

The transports decode the path once (API Gateway, and the ASGI door as it does); whatever still holds a `%` was
encoded twice and would be decoded again by the provider, so it is refused too. Where the raw path is known (the
ASGI door), an encoded slash or backslash in it is refused as well: it would otherwise become a separator here.
"""

from __future__ import annotations

import re

from llmcache.errors import BadRequest

# After decoding: what a path segment may hold. Provider ids and names need no more; left out of RFC 3986's
# `pchar` are `%` (encoded twice), `;` (`..;/` is a dot segment to some servers) and the other sub-delimiters.
_SEGMENT = re.compile(r"[A-Za-z0-9\-._~:@+=,]+")
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)


def checked_path(path: str, raw_path: str | None = None) -> str:
    """`path` (decoded, starting with `/`) when it is safe to put under a base URL; BadRequest saying why otherwise."""
    if raw_path is not None and _ENCODED_SEPARATOR.search(raw_path):
        raise _refused("holds an encoded slash (%2F or %5C)")
    if not path.isascii():
        raise _refused("holds characters outside ASCII once decoded")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise _refused("holds control characters once decoded (such as %00 or %0D%0A)")
    for mark, name in (
        ("?", "a `?` (%3F)"),
        ("#", "a `#` (%23)"),
        ("\\", "a backslash"),
        ("%", "a `%` (encoded twice)"),
    ):
        if mark in path:
            raise _refused(f"holds {name} once decoded")
    if not path.startswith("/"):
        raise _refused("does not start with /")
    segments = path[1:].split("/")
    if segments and segments[-1] == "":
        segments.pop()  # one trailing slash is harmless (`/v1/models/`)
    for segment in segments:
        if not segment:
            raise _refused("holds an empty segment (`//`)")
        if not segment.strip("."):
            raise _refused("holds a dot segment (`.` or `..`)")
        if not _SEGMENT.fullmatch(segment):
            raise _refused("holds characters a provider path never has")
    return path


def _refused(why: str) -> BadRequest:
    return BadRequest(
        f"the request path {why}; this gateway passes on only plain provider paths under /v1/", code="invalid_path"
    )
