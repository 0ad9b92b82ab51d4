"""One provider stream read by several clients: the leader of a coalesced herd and its followers.

Every reader gets every piece from the first, as the provider sends it (a reader that joins late gets the
backlog at once). Whichever reader needs the next piece first pulls it from the source (one at a time, under
a lock), so nobody waits on a reader that is slower or gone. The source (the provider call, with its
assembly and storage) is closed when the last reader closes: a client that goes away cancels the provider
call only when no one else is reading it. A reader joining after that gets None and asks for itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING

from llmcache.exchange import BodyStream

if TYPE_CHECKING:
    from llmcache.errors import GatewayError


class SharedStream:
    def __init__(self, source: BodyStream) -> None:
        self._source = source
        self._pieces_source = iter(source)
        self._pieces: list[bytes] = []
        self._pull = threading.Lock()
        self._readers_lock = threading.Lock()
        self._readers = 0
        self._done = False
        self._closed = False
        self._error: GatewayError | None = None

    @classmethod
    def open(cls, source: BodyStream) -> tuple[SharedStream, BodyStream]:
        """The shared stream and its first reader (the leader's)."""
        shared = cls(source)
        shared._readers = 1
        return shared, shared._new_reader()

    def reader(self) -> BodyStream | None:
        """A new reader from the first piece, or None when the stream was already given up (closed early)."""
        with self._readers_lock:
            if self._closed and not self._done:
                return None
            self._readers += 1
        return self._new_reader()

    def _new_reader(self) -> BodyStream:
        resources = ExitStack()
        resources.callback(self._leave)
        return BodyStream(self._read(), resources, self._source.error_event)

    def _leave(self) -> None:
        with self._readers_lock:
            self._readers -= 1
            last = self._readers == 0
            if last:
                self._closed = True
        if last:
            self._source.close()

    def _read(self) -> Iterator[bytes]:
        index = 0
        while True:
            piece = self._piece(index)
            if piece is None:
                return
            index += 1
            yield piece

    def _piece(self, index: int) -> bytes | None:
        if index < len(self._pieces):  # the backlog needs no lock (the list only grows)
            return self._pieces[index]
        with self._pull:
            if index < len(self._pieces):  # pulled by another reader meanwhile
                return self._pieces[index]
            if self._error is not None:
                raise self._error
            if self._done:
                return None
            try:
                piece = next(self._pieces_source)
            except StopIteration:
                self._done = True
                return None
            except Exception as error:
                from llmcache.errors import GatewayError

                if isinstance(error, GatewayError):
                    self._error = error
                raise
            self._pieces.append(piece)
            return piece
