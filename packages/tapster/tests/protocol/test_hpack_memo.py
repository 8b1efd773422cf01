"""MemoDecoder decodes every block as hpack's Decoder does, however the blocks repeat and the dynamic
table changes between them (it only skips the work for a block it has seen at the same table state)."""

from __future__ import annotations

import random

import pytest
from hpack import Decoder, Encoder
from hpack.exceptions import OversizedHeaderListError
from tapster.protocol._hpack import MemoDecoder

REQUEST = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"example.com")]


def both(blocks: list[bytes]) -> tuple[list[object], list[object]]:
    plain, memo = Decoder(), MemoDecoder()
    return [plain.decode(b, raw=True) for b in blocks], [memo.decode(b, raw=True) for b in blocks]


def test_a_repeated_block_decodes_the_same_and_is_remembered() -> None:
    encoder = Encoder()
    first = encoder.encode(REQUEST)  # inserts :authority into the dynamic table
    again = encoder.encode(REQUEST)  # all indexed now: changes nothing
    assert again != first
    expected, got = both([first, again, again, again])
    assert got == expected
    decoder = MemoDecoder()
    decoder.decode(first, raw=True)
    decoder.decode(again, raw=True)
    assert again in decoder._memo
    assert first not in decoder._memo  # (a block that inserts never is)


def test_the_same_bytes_after_the_table_changed_decode_to_the_new_entry() -> None:
    # b"\xbe" is "dynamic entry 62": whatever was inserted last. Remembered with one table, it must
    # not be reused once another insertion shifted the table.
    encoder = Encoder()
    first = encoder.encode([(b"x-a", b"1")])
    second = encoder.encode([(b"x-b", b"2")])
    blocks = [first, b"\xbe", b"\xbe", second, b"\xbe", b"\xbe"]
    expected, got = both(blocks)
    assert got == expected
    assert got[2] == [(b"x-a", b"1")]
    assert got[4] == [(b"x-b", b"2")]


def test_a_table_size_change_is_seen() -> None:
    encoder = Encoder()
    first = encoder.encode([(b"x-a", b"1")])
    shrink = b"\x20"  # dynamic table size update to 0: the table is emptied
    expected, got = both([first, b"\xbe", shrink + b"\x82", first])
    assert got == expected
    with pytest.raises(Exception):  # noqa: B017 - hpack's own error for a missing entry
        MemoDecoder().decode(shrink + b"\xbe", raw=True)


def test_a_lowered_list_limit_applies_to_a_remembered_block() -> None:
    encoder = Encoder()
    block = encoder.encode([(b"x-big", b"v" * 100)])
    again = encoder.encode([(b"x-big", b"v" * 100)])
    decoder = MemoDecoder()
    decoder.decode(block, raw=True)
    decoder.decode(again, raw=True)
    decoder.max_header_list_size = 50
    with pytest.raises(OversizedHeaderListError):
        decoder.decode(again, raw=True)


def test_random_sequences_decode_as_hpack_does() -> None:
    rng = random.Random(7)
    names = [b"x-a", b"x-b", b"cookie", b":path", b"user-agent"]
    values = [b"1", b"22", b"333" * 10, b"/", b"/index.html", b"curl/8"]
    for _ in range(50):
        encoder = Encoder()
        encoder.header_table_size = rng.choice([64, 256, 4096])
        blocks: list[bytes] = []
        for _ in range(30):
            if blocks and rng.random() < 0.4:
                blocks.append(rng.choice(blocks))  # the same bytes again, maybe at another table state
                continue
            fields = [(rng.choice(names), rng.choice(values)) for _ in range(rng.randint(1, 4))]
            blocks.append(encoder.encode(fields))
        plain, memo = Decoder(), MemoDecoder()
        for block in blocks:
            try:
                expected: object = plain.decode(block, raw=True)
            except Exception as exc:
                expected = type(exc)
            try:
                got: object = memo.decode(block, raw=True)
            except Exception as exc:
                got = type(exc)
            assert got == expected
