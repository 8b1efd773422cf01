"""Response heads encoded with the static table only (tapster.protocol._hpack): every block decodes,
with hpack's own decoder, to exactly the fields given, and a table size update still owed is left
to h2's encoder."""

from __future__ import annotations

import hpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tapster.protocol._hpack import encode_response

HEADS = {
    "static field": [(b":status", b"200")],
    "static name, other value": [(b":status", b"418"), (b"content-type", b"text/plain")],
    "new name": [(b":status", b"204"), (b"x-request-id", b"abc-123")],
    "empty value": [(b":status", b"200"), (b"x-empty", b"")],
    "long value (a multi-byte length)": [(b":status", b"200"), (b"x-long", b"v" * 5000)],
    "long new name": [(b":status", b"200"), (b"x-" + b"n" * 300, b"1")],
    "a static name past index 15 (a multi-byte index)": [
        (b":status", b"200"),
        (b"www-authenticate", b"Basic"),
    ],
}


@pytest.mark.parametrize("headers", HEADS.values(), ids=HEADS.keys())
def test_blocks_decode_to_the_fields_given(headers: list[tuple[bytes, bytes]]) -> None:
    block = encode_response(hpack.Encoder(), headers)
    assert block is not None
    decoder = hpack.Decoder()
    decoder.max_header_list_size = 1 << 20
    assert decoder.decode(block, raw=True) == headers
    assert len(decoder.header_table.dynamic_entries) == 0  # nothing inserted: no state to keep in step


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=40).map(str.encode)
_value = st.text(alphabet=[chr(c) for c in range(0x20, 0x7F)], max_size=300).map(str.encode)


@given(st.lists(st.tuples(_token, _value), max_size=12))
def test_any_head_round_trips(fields: list[tuple[bytes, bytes]]) -> None:
    headers = [(b":status", b"200"), *fields]
    block = encode_response(hpack.Encoder(), headers)
    assert block is not None
    decoder = hpack.Decoder()
    decoder.max_header_list_size = 1 << 20
    assert decoder.decode(block, raw=True) == headers


def test_mixed_with_h2s_own_encoder_both_stay_decodable() -> None:
    encoder, decoder = hpack.Encoder(), hpack.Decoder()
    ours = [(b":status", b"200"), (b"x-a", b"1")]
    theirs = [(b":status", b"103"), (b"link", b"</a.css>; rel=preload")]
    for block, expected in (
        (encoder.encode(theirs), theirs),  # h2's encoder inserts into the dynamic table
        (encode_response(encoder, ours), ours),
        (encoder.encode(theirs), theirs),  # and refers to what it inserted
        (encode_response(encoder, ours), ours),
    ):
        assert block is not None
        assert decoder.decode(block, raw=True) == expected


def test_a_table_size_update_owed_is_left_to_h2s_encoder() -> None:
    encoder = hpack.Encoder()
    encoder.header_table_size = 0  # the client sent SETTINGS_HEADER_TABLE_SIZE = 0
    assert encode_response(encoder, [(b":status", b"200")]) is None
    block = encoder.encode([(b":status", b"200")])
    assert block[0] & 0xE0 == 0x20  # RFC 7541 §6.3: the block opens with the size update
    assert encode_response(encoder, [(b":status", b"200")]) is not None  # once said, ours again


def test_secrets_are_never_indexed_and_never_remembered() -> None:
    from tapster.protocol import _hpack

    headers = [(b":status", b"200"), (b"set-cookie", b"session=s3cret")]
    block = encode_response(hpack.Encoder(), headers)
    assert block is not None
    decoder = hpack.Decoder()
    decoded = decoder.decode(block, raw=True)
    assert decoded == headers
    assert isinstance(decoded[1], hpack.NeverIndexedHeaderTuple)  # RFC 7541 §6.2.3
    assert (b"set-cookie", b"session=s3cret") not in _hpack._MEMO
