"""The engine never looks inside a stream: a dialect with binary frames (not server-sent events) is relayed,
assembled, stored and replayed by the same engine, with no change to it (the `Dialect` interface's framing)."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.unit.engine.fakes import make_engine

from llmcache import keys
from llmcache.dialects.base import Dialect
from llmcache.errors import GatewayError
from llmcache.exchange import ClientRequest, UpstreamResponse
from llmcache.savings import TokenCounts

FRAMES = "application/x-test-frames"


def frame(payload: dict[str, Any]) -> bytes:
    """A length-prefixed JSON frame (4-byte big-endian length), like a binary event stream."""
    data = json.dumps(payload).encode()
    return struct.pack(">I", len(data)) + data


class FrameAssembler:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.done = False

    @property
    def finished(self) -> bool:
        return self.done

    def feed(self, event: dict[str, Any]) -> None:
        if event.get("end"):
            self.done = True
        else:
            self.text.append(event["text"])

    def result(self) -> dict[str, Any] | None:
        return {"model": "m", "text": "".join(self.text)} if self.done else None


class FramedApi(Dialect[dict[str, Any]]):
    """A made-up API whose stream is length-prefixed frames."""

    route = "framed"
    answer_headers = ()
    stream_content_type = FRAMES

    def canonical(self, body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != "stream"}

    def storable(self, status: int, answer: Any) -> bool:
        return status == 200 and isinstance(answer, dict) and "text" in answer

    def usage(self, answer: dict[str, Any]) -> TokenCounts:
        return TokenCounts(total=len(answer["text"]), output=len(answer["text"]))

    def events(self, chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
        pending = b""
        for chunk in chunks:
            pending += chunk
            while len(pending) >= 4 and len(pending) >= 4 + struct.unpack(">I", pending[:4])[0]:
                size = struct.unpack(">I", pending[:4])[0]
                yield json.loads(pending[4 : 4 + size])
                pending = pending[4 + size :]

    def assembler(self) -> FrameAssembler:
        return FrameAssembler()

    def relay(self, event: dict[str, Any], body: dict[str, Any]) -> bytes | None:
        return frame(event)

    def replay(self, answer: dict[str, Any], body: dict[str, Any]) -> bytes:
        return frame({"text": answer["text"]}) + frame({"end": True})

    def error_event(self, error: GatewayError) -> bytes:
        return frame({"error": error.message})


class FramedProvider:
    def __init__(self) -> None:
        self.asked = 0

    @contextmanager
    def stream(self, route: str, body: bytes, headers: Any, credential: Any, **_: Any):
        self.asked += 1
        wire = frame({"text": "Hel"}) + frame({"text": "lo"}) + frame({"end": True})
        # cut mid-frame: the dialect's framing, not the engine, reassembles it
        yield UpstreamResponse(200, {"content-type": FRAMES}, b""), iter([wire[:7], wire[7:20], wire[20:]])


def test_given_a_binary_framed_api_when_streamed_twice_then_relayed_stored_and_replayed_by_the_same_engine() -> None:
    engine, _ = make_engine(lambda route, body: b"{}")
    provider = FramedProvider()
    engine.services.upstream = provider  # type: ignore[assignment]
    body = {"model": "m", "prompt": "hi", "stream": True}
    raw = json.dumps(body).encode()

    def ask():
        return engine.handle(ClientRequest(FramedApi(), body, raw, {}, "sk-a", keys.tenant_id("sk-a")))

    miss = ask()
    assert miss.headers["X-Cache"] == "MISS" and miss.content_type == FRAMES and miss.stream is not None
    relayed = b"".join(miss.stream)
    miss.stream.close()
    assert list(FramedApi().events([relayed])) == [{"text": "Hel"}, {"text": "lo"}, {"end": True}]

    hit = ask()
    assert hit.headers["X-Cache"] == "HIT" and hit.content_type == FRAMES and provider.asked == 1
    assert list(FramedApi().events([hit.body])) == [{"text": "Hello"}, {"end": True}]
