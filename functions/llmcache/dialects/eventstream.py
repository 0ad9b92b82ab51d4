"""AWS event-stream framing (`application/vnd.amazon.eventstream`), the binary stream of Bedrock's
ConverseStream and InvokeModelWithResponseStream: encode a message, and decode a byte stream into messages
incrementally (a message may arrive split over any number of network chunks).

One message on the wire (all integers big-endian):

    total length (u32) | headers length (u32) | prelude CRC32 (u32, over the first 8 bytes)
    headers: per header, name length (u8), name (UTF-8), value type (u8), value
    payload (total - headers - 16 bytes)
    message CRC32 (u32, over everything before it, prelude CRC included)

Header value types as botocore's `EventStreamHeaderParser` reads them: 0 true, 1 false, 2 int8, 3 int16,
4 int32, 5 int64, 6 bytes (u16 length), 7 UTF-8 string (u16 length), 8 timestamp (int64 ms), 9 UUID (16 bytes).
The AWS services put their routing in string headers: `:message-type` (`event`, `exception`, `error`),
`:event-type` or `:exception-type`, and `:content-type`.
"""

from __future__ import annotations

import json
import struct
import uuid
from binascii import crc32
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CONTENT_TYPE = "application/vnd.amazon.eventstream"
PRELUDE_BYTES = 12
CRC_BYTES = 4
# botocore refuses larger ones (`_MAX_HEADERS_LENGTH`, `_MAX_PAYLOAD_LENGTH`): the decoder does too, so a
# hostile length field cannot make it buffer without bound.
MAX_HEADERS_BYTES = 128 * 1024
MAX_PAYLOAD_BYTES = 24 * 1024 * 1024

HeaderValue = bool | int | str | bytes | uuid.UUID | datetime

_TRUE, _FALSE, _INT8, _INT16, _INT32, _INT64, _BYTES, _STRING, _TIMESTAMP, _UUID = range(10)
_FIXED_INTS = {_INT8: ">b", _INT16: ">h", _INT32: ">i", _INT64: ">q"}


class FrameError(ValueError):
    """Bytes that are not a well-formed event-stream message (bad CRC, impossible lengths, unknown type)."""


@dataclass(frozen=True)
class SizedInt:
    """An integer header value sent with a width of its own: 1, 2 or 8 bytes (a plain int goes as int32, or
    int64 when it does not fit)."""

    value: int
    size: int

    @property
    def type_code(self) -> int:
        return {1: _INT8, 2: _INT16, 8: _INT64}[self.size]


@dataclass(frozen=True)
class Message:
    headers: dict[str, HeaderValue]
    payload: bytes
    raw: bytes = field(default=b"", repr=False)  # the whole frame as it came (relayed byte for byte)

    @property
    def message_type(self) -> str:
        """`event`, `exception` (a modelled error such as `throttlingException`) or `error`."""
        return str(self.headers.get(":message-type", ""))

    @property
    def kind(self) -> str:
        """The event's type (`messageStart`, `chunk`, ...) or, for an exception, the exception's name."""
        name = ":exception-type" if self.message_type == "exception" else ":event-type"
        if self.message_type == "error":
            name = ":error-code"
        return str(self.headers.get(name, ""))

    def json(self) -> Any:
        """The payload as JSON (every Bedrock event and exception carries a JSON object)."""
        return json.loads(self.payload) if self.payload else {}


# ----- encode --------------------------------------------------------------------------------------------------
def encode_message(headers: dict[str, HeaderValue | SizedInt], payload: bytes) -> bytes:
    """One message, CRCs and all."""
    encoded_headers = b"".join(_encode_header(name, value) for name, value in headers.items())
    total = PRELUDE_BYTES + len(encoded_headers) + len(payload) + CRC_BYTES
    lengths = struct.pack(">II", total, len(encoded_headers))
    prelude = lengths + struct.pack(">I", crc32(lengths) & 0xFFFFFFFF)
    body = prelude + encoded_headers + payload
    return body + struct.pack(">I", crc32(body) & 0xFFFFFFFF)


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    """An event as the AWS services send it: three string headers and a compact JSON payload."""
    headers: dict[str, HeaderValue | SizedInt] = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, _compact(payload))


def exception_frame(exception_type: str, message: str) -> bytes:
    """A modelled error in the stream (`throttlingException`, `modelStreamErrorException`, ...): botocore raises
    `EventStreamError` with this code and message when it reads it."""
    headers: dict[str, HeaderValue | SizedInt] = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, _compact({"message": message}))


def _compact(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _encode_header(name: str, value: HeaderValue | SizedInt) -> bytes:
    raw_name = name.encode()
    if not 0 < len(raw_name) < 256:
        raise ValueError(f"an event-stream header name is 1..255 bytes, not {len(raw_name)}")
    return bytes([len(raw_name)]) + raw_name + _encode_value(value)


def _encode_value(value: HeaderValue | SizedInt) -> bytes:
    if isinstance(value, bool):  # before int: a bool is an int in Python
        return bytes([_TRUE if value else _FALSE])
    if isinstance(value, SizedInt):
        return bytes([value.type_code]) + struct.pack(_FIXED_INTS[value.type_code], value.value)
    if isinstance(value, int):
        code = _INT32 if -(2**31) <= value < 2**31 else _INT64
        return bytes([code]) + struct.pack(_FIXED_INTS[code], value)
    if isinstance(value, str):
        return bytes([_STRING]) + _with_length(value.encode())
    if isinstance(value, bytes):
        return bytes([_BYTES]) + _with_length(value)
    if isinstance(value, uuid.UUID):
        return bytes([_UUID]) + value.bytes
    if isinstance(value, datetime):
        return bytes([_TIMESTAMP]) + struct.pack(">q", int(value.timestamp() * 1000))
    raise TypeError(f"no event-stream header type for {type(value).__name__}")


def _with_length(raw: bytes) -> bytes:
    if len(raw) > 0xFFFF:
        raise ValueError("an event-stream string or byte header holds at most 65535 bytes")
    return struct.pack(">H", len(raw)) + raw


# ----- decode --------------------------------------------------------------------------------------------------
class Decoder:
    """Messages out of a byte stream fed in pieces of any size: `feed(chunk)` returns those now complete.

    A malformed message raises FrameError; the decoder must not be used after that (the stream is broken: the
    position of the next message cannot be known). `pending` tells whether bytes of an unfinished message wait."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> bool:
        return bool(self._buffer)

    def feed(self, chunk: bytes) -> list[Message]:
        self._buffer += chunk
        messages = []
        while len(self._buffer) >= PRELUDE_BYTES:
            total, headers_length = _checked_prelude(bytes(self._buffer[:PRELUDE_BYTES]))
            if len(self._buffer) < total:
                break
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            messages.append(_decode_frame(frame, headers_length))
        return messages


def iter_messages(chunks: Iterable[bytes]) -> Iterator[Message]:
    """Each message of a byte stream as soon as it is whole. A stream that ends inside a message just ends
    (the partial message is never yielded: whoever reads the stream sees it did not finish)."""
    decoder = Decoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)


def decode_all(data: bytes) -> list[Message]:
    """Every message of a complete byte stream; FrameError when it holds a partial message at its end."""
    decoder = Decoder()
    messages = decoder.feed(data)
    if decoder.pending:
        raise FrameError("the stream ends inside a message")
    return messages


def _checked_prelude(prelude: bytes) -> tuple[int, int]:
    total, headers_length, prelude_crc = struct.unpack(">III", prelude)
    if crc32(prelude[:8]) & 0xFFFFFFFF != prelude_crc:
        raise FrameError("event-stream prelude checksum mismatch")
    if headers_length > MAX_HEADERS_BYTES:
        raise FrameError(f"event-stream headers of {headers_length} bytes (at most {MAX_HEADERS_BYTES})")
    payload_length = total - headers_length - PRELUDE_BYTES - CRC_BYTES
    if payload_length < 0 or payload_length > MAX_PAYLOAD_BYTES:
        raise FrameError(f"event-stream message of impossible length {total}")
    return total, headers_length


def _decode_frame(frame: bytes, headers_length: int) -> Message:
    (message_crc,) = struct.unpack(">I", frame[-CRC_BYTES:])
    if crc32(frame[:-CRC_BYTES]) & 0xFFFFFFFF != message_crc:
        raise FrameError("event-stream message checksum mismatch")
    headers_end = PRELUDE_BYTES + headers_length
    headers = _decode_headers(frame[PRELUDE_BYTES:headers_end])
    return Message(headers, frame[headers_end:-CRC_BYTES], frame)


def _decode_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    at = 0
    try:
        while at < len(data):
            name_length = data[at]
            name = data[at + 1 : at + 1 + name_length].decode()
            at += 1 + name_length
            value, at = _decode_value(data, at)
            if name in headers:
                raise FrameError(f"duplicate event-stream header {name!r}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise FrameError(f"malformed event-stream headers ({type(exc).__name__})") from None
    return headers


def _decode_value(data: bytes, at: int) -> tuple[HeaderValue, int]:
    code = data[at]
    at += 1
    if code in (_TRUE, _FALSE):
        return code == _TRUE, at
    if code in _FIXED_INTS:
        fmt = _FIXED_INTS[code]
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, data[at : at + size])[0], at + size
    if code in (_BYTES, _STRING):
        (length,) = struct.unpack(">H", data[at : at + 2])
        raw = data[at + 2 : at + 2 + length]
        if len(raw) != length:
            raise IndexError(length)
        return (raw.decode() if code == _STRING else raw), at + 2 + length
    if code == _TIMESTAMP:
        (millis,) = struct.unpack(">q", data[at : at + 8])
        return datetime.fromtimestamp(millis / 1000, tz=UTC), at + 8
    if code == _UUID:
        raw = data[at : at + 16]
        if len(raw) != 16:
            raise IndexError(16)
        return uuid.UUID(bytes=raw), at + 16
    raise FrameError(f"unknown event-stream header type {code}")
