"""The AWS event-stream codec against botocore's own parser (the one boto3 clients read Bedrock streams with)."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime

import botocore.session
import pytest
from botocore.eventstream import ChecksumMismatch, EventStream, EventStreamBuffer
from botocore.exceptions import EventStreamError
from botocore.model import OperationModel, ServiceModel
from botocore.parsers import EventStreamJSONParser

from llmcache.dialects import eventstream as es


def _botocore_messages(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


class _Raw:
    """What botocore's EventStream reads: a body whose `stream()` yields chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def stream(self) -> list[bytes]:
        return self.chunks

    def close(self) -> None:
        pass


def bedrock_stream(operation: str, data: bytes, chunk: int = 7) -> EventStream:
    """The EventStream boto3's bedrock-runtime client hands back for `operation`, over `data` cut in `chunk`s."""
    loader = botocore.session.get_session().get_component("data_loader")
    service = ServiceModel(loader.load_service_model("bedrock-runtime", "service-2"), "bedrock-runtime")
    op: OperationModel = service.operation_model(operation)
    shape = op.output_shape.members[op.output_shape.serialization["payload"]]
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return EventStream(_Raw(pieces), shape, EventStreamJSONParser(), operation)


def test_given_every_header_type_when_encoded_then_botocore_reads_the_same_values() -> None:
    moment = datetime(2026, 12, 6, 1, 2, 3, 456000, tzinfo=UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers: dict[str, es.HeaderValue | es.SizedInt] = {
        "yes": True,
        "no": False,
        "byte": es.SizedInt(-7, 1),
        "short": es.SizedInt(-300, 2),
        "int": 70000,
        "long": es.SizedInt(2**40, 8),
        "big": 2**33,
        "raw": b"\x00\xffbytes",
        ":event-type": "messageStart",
        "when": moment,
        "id": ident,
    }
    frame = es.encode_message(headers, b'{"role":"assistant"}')

    [(parsed, payload)] = _botocore_messages(frame)

    assert payload == b'{"role":"assistant"}'
    assert parsed == {
        "yes": True,
        "no": False,
        "byte": -7,
        "short": -300,
        "int": 70000,
        "long": 2**40,
        "big": 2**33,
        "raw": b"\x00\xffbytes",
        ":event-type": "messageStart",
        "when": int(moment.timestamp() * 1000),  # botocore reads a timestamp as its milliseconds
        "id": ident.bytes,
    }
    [own] = es.decode_all(frame)
    assert own.headers["when"] == moment and own.headers["id"] == ident and own.headers["byte"] == -7


def test_given_frames_split_at_every_byte_when_fed_then_the_decoder_yields_each_message_once_whole() -> None:
    frames = [
        es.event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": f"piece {i} é"}})
        for i in range(3)
    ]
    data = b"".join(frames)

    decoder = es.Decoder()
    got = [message for byte in range(len(data)) for message in decoder.feed(data[byte : byte + 1])]

    assert [m.json()["delta"]["text"] for m in got] == ["piece 0 é", "piece 1 é", "piece 2 é"]
    assert all(m.message_type == "event" and m.kind == "contentBlockDelta" for m in got)
    assert not decoder.pending


def test_given_a_converse_stream_when_botocore_parses_it_then_the_events_are_those_encoded() -> None:
    frames = [
        es.event_frame("messageStart", {"role": "assistant"}),
        es.event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}}),
        es.event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        es.event_frame("messageStop", {"stopReason": "end_turn"}),
        es.event_frame(
            "metadata",
            {"usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}, "metrics": {"latencyMs": 12}},
        ),
    ]

    events = list(bedrock_stream("ConverseStream", b"".join(frames)))

    assert events == [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hello"}}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}, "metrics": {"latencyMs": 12}}},
    ]


def test_given_an_exception_frame_when_botocore_reads_it_then_it_raises_the_named_exception() -> None:
    data = es.event_frame("messageStart", {"role": "assistant"}) + es.exception_frame(
        "throttlingException", "Too many requests, please wait before trying again."
    )

    stream = iter(bedrock_stream("ConverseStream", data))
    assert next(stream) == {"messageStart": {"role": "assistant"}}
    with pytest.raises(EventStreamError) as raised:
        next(stream)

    assert raised.value.response["Error"] == {
        "Code": "throttlingException",
        "Message": "Too many requests, please wait before trying again.",
    }
    [_, own] = es.decode_all(data)
    assert (own.message_type, own.kind) == ("exception", "throttlingException")


def test_given_invoke_stream_chunks_when_botocore_parses_them_then_bytes_are_the_base64_decoded_payload() -> None:
    data = es.event_frame("chunk", {"bytes": "eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0=", "p": "abcd"})

    [event] = list(bedrock_stream("InvokeModelWithResponseStream", data))

    assert event == {"chunk": {"bytes": b'{"type":"message_stop"}'}}


@pytest.mark.parametrize("where", ["prelude", "message"])
def test_given_a_corrupted_checksum_when_decoded_then_both_parsers_refuse_it(where: str) -> None:
    frame = bytearray(es.event_frame("messageStart", {"role": "assistant"}))
    frame[8 if where == "prelude" else -1] ^= 0xFF

    with pytest.raises(es.FrameError, match="checksum"):
        es.decode_all(bytes(frame))
    with pytest.raises(ChecksumMismatch):
        _botocore_messages(bytes(frame))


def test_given_a_length_beyond_the_limits_when_decoded_then_it_is_refused_before_buffering() -> None:
    lengths = struct.pack(">II", 2**31, 16)
    from binascii import crc32

    prelude = lengths + struct.pack(">I", crc32(lengths))

    with pytest.raises(es.FrameError, match="impossible length"):
        es.Decoder().feed(prelude)


def test_given_a_stream_cut_inside_a_message_when_decoded_whole_then_it_is_an_error() -> None:
    frame = es.event_frame("messageStart", {"role": "assistant"})

    with pytest.raises(es.FrameError, match="ends inside"):
        es.decode_all(frame + frame[:10])
