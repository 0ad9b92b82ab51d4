"""One provider stream read by several clients (engine.shared_stream): each gets every piece, the source closes
with its last reader, and a reader that comes after it was given up gets None."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from llmcache.engine.shared_stream import SharedStream
from llmcache.errors import GatewayError, UpstreamUnavailable
from llmcache.exchange import BodyStream


def source(pieces: list[bytes], closed: list[str], broken: GatewayError | None = None) -> BodyStream:
    def pieces_then_maybe_break():
        yield from pieces
        if broken is not None:
            raise broken

    resources = ExitStack()
    resources.callback(lambda: closed.append("source"))
    return BodyStream(pieces_then_maybe_break(), resources, lambda error: b"error")


def test_given_a_leader_and_a_late_follower_when_both_read_then_each_gets_every_piece_and_the_source_closes_once():
    closed: list[str] = []
    shared, leader = SharedStream.open(source([b"a", b"b", b"c"], closed))
    first = next(iter(leader))
    follower = shared.reader()
    assert follower is not None
    assert [first, *leader] == [b"a", b"b", b"c"]
    assert list(follower) == [b"a", b"b", b"c"]  # the backlog first, then the rest
    leader.close()
    assert closed == []  # the follower still reads it
    follower.close()
    assert closed == ["source"]


def test_given_every_reader_left_early_when_another_comes_then_it_gets_none():
    closed: list[str] = []
    shared, leader = SharedStream.open(source([b"a", b"b"], closed))
    next(iter(leader))
    leader.close()
    assert closed == ["source"] and shared.reader() is None


def test_given_a_source_that_breaks_when_two_read_then_both_see_the_same_error():
    shared, leader = SharedStream.open(source([b"a"], [], UpstreamUnavailable("broke")))
    follower = shared.reader()
    assert follower is not None
    with pytest.raises(UpstreamUnavailable):
        list(leader)
    with pytest.raises(UpstreamUnavailable):
        list(follower)
