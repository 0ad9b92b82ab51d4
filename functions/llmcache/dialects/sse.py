"""Server-sent events (the WHATWG framing every SSE-streaming API shares): parse a byte stream into events,
write one. Pure functions over bytes (stdlib only), so both entry points and the tests share them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

SSE = "text/event-stream"  # the media type of a server-sent event stream


def _iter_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Complete lines of a byte stream, whatever the chunk boundaries (CR, LF or CRLF endings).

    Lines are split on bytes: CR and LF never occur inside a multi-byte UTF-8 sequence, so only whole lines
    are decoded and a character split across chunks is reassembled first.
    """
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        if b"\n" not in chunk and b"\r" not in chunk:
            continue  # no line ended: keep buffering without rescanning (a long line stays linear)
        lines = pending.splitlines(keepends=True)
        # Hold back a last piece that is unfinished, or ends in a CR whose LF may be in the next chunk.
        pending = lines.pop() if not lines[-1].endswith(b"\n") else bytearray()
        for line in lines:
            yield line.rstrip(b"\r\n").decode("utf-8", errors="replace")
    for line in pending.splitlines():
        yield line.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class SseEvent:
    """One dispatched server-sent event: its `event:` name (None when unnamed) and its data."""

    data: str
    name: str | None = None

    def encode(self) -> bytes:
        """The event as it goes on the wire to a client (`id:`, `retry:` and comments are not passed on)."""
        head = f"event: {self.name}\n" if self.name else ""
        return (head + "".join(f"data: {line}\n" for line in self.data.split("\n")) + "\n").encode()


def iter_sse_events(chunks: Iterable[bytes]) -> Iterator[SseEvent]:
    """Yield each event (multi-line data joined with "\\n"), per the WHATWG SSE rules, as soon as it ends.

    Comments and the id and retry fields are ignored; an event without data is not dispatched, nor is an
    event cut off by the end of the stream, so a truncated final chunk is never mistaken for a whole one.
    """
    data: list[str] = []
    name: str | None = None
    first = True
    for line in _iter_lines(chunks):
        if first:
            line, first = line.removeprefix("\ufeff"), False
        if not line:
            if data:
                yield SseEvent("\n".join(data), name)
            data, name = [], None
            continue
        field, colon, value = line.partition(":")
        value = value.removeprefix(" ") if colon else ""
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value or None
