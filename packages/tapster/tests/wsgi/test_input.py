"""wsgi.input: reads over message boundaries, holds at most one message, pulls only on demand."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tapster.wsgi._input import WSGIInput

BODY = b"line one\nline two\n\nlast line without newline"


def pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def feeder(chunks: list[bytes]) -> tuple[Callable[[], bytes], list[int]]:
    """A pull() over `chunks`, and the list of how many pulls happened."""
    queue = list(chunks)
    pulls: list[int] = []

    def pull() -> bytes:
        pulls.append(1)
        return queue.pop(0) if queue else b""

    return pull, pulls


SPLITS = [1, 3, 7, len(BODY)]


@pytest.mark.parametrize("split", SPLITS)
def test_read_all(split: int) -> None:
    pull, _ = feeder(pieces(BODY, split))
    stream = WSGIInput(pull)
    assert stream.read() == BODY
    assert stream.read() == b""
    assert stream.read(10) == b""


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("size", [1, 2, 5, 100])
def test_read_in_pieces_returns_full_pieces_until_the_end(split: int, size: int) -> None:
    pull, _ = feeder(pieces(BODY, split))
    stream = WSGIInput(pull)
    got = []
    while data := stream.read(size):
        assert len(data) == size or stream.read(1) == b""
        got.append(data)
    assert b"".join(got) == BODY


@pytest.mark.parametrize("split", SPLITS)
def test_readline_and_iteration(split: int) -> None:
    pull, _ = feeder(pieces(BODY, split))
    assert list(WSGIInput(pull)) == [b"line one\n", b"line two\n", b"\n", b"last line without newline"]
    pull, _ = feeder(pieces(BODY, split))
    stream = WSGIInput(pull)
    assert stream.readline(4) == b"line"
    assert stream.readline() == b" one\n"
    assert stream.readlines() == [b"line two\n", b"\n", b"last line without newline"]


def test_readlines_hint_stops_early() -> None:
    pull, _ = feeder([BODY])
    assert WSGIInput(pull).readlines(10) == [b"line one\n", b"line two\n"]


def test_read_none_and_negative_read_all() -> None:
    pull, _ = feeder(pieces(BODY, 4))
    assert WSGIInput(pull).read(None) == BODY
    pull, _ = feeder(pieces(BODY, 4))
    assert WSGIInput(pull).readline(None) == b"line one\n"


def test_read_zero_pulls_nothing() -> None:
    pull, pulls = feeder([BODY])
    stream = WSGIInput(pull)
    assert stream.read(0) == b""
    assert pulls == []


def test_holds_at_most_the_rest_of_one_message() -> None:
    # The body stays in the server's bounded buffer until the app asks: one message at a time.
    chunks = [bytes([i]) * 1000 for i in range(10)]
    pull, pulls = feeder(chunks)
    stream = WSGIInput(pull)
    assert stream.read(10) == b"\x00" * 10
    assert (len(pulls), stream.buffered) == (1, 990)
    assert stream.read(990) == b"\x00" * 990
    assert (len(pulls), stream.buffered) == (1, 0)
    assert stream.read(1500) == b"\x01" * 1000 + b"\x02" * 500
    assert (len(pulls), stream.buffered) == (3, 500)
    assert len(stream.read()) == 7500
    assert stream.buffered == 0


def test_a_failed_pull_reaches_the_app() -> None:
    def pull() -> bytes:
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        WSGIInput(pull).read(1)


def test_no_pull_after_the_end() -> None:
    pull, pulls = feeder([b"ab"])
    stream = WSGIInput(pull)
    assert stream.read() == b"ab"
    assert stream.read() == b""
    assert stream.readline() == b""
    assert len(pulls) == 2  # the chunk, then the end once
