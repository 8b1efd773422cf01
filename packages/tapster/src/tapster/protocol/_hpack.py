"""HPACK (RFC 7541) encoding of response heads with the static table only.

A response head is encoded without touching the dynamic table: a field in the static table with its
value is one indexed byte (§6.1), any other a literal *without indexing* (§6.2.2; *never indexed*,
§6.2.3, for set-cookie and the like), its name indexed when the static table has it, strings sent
raw (no Huffman). Nothing is inserted, so the client's
table for our direction only holds what h2's own encoder put there (interim responses, trailers,
pushes), and blocks from both stay decodable in any order. Encoded fields are remembered (bounded),
so the same `content-type` or `server` costs a dictionary lookup. Trading a few bytes per response
(no Huffman, no dynamic-table hits) for the pure-Python encoder's work: the head of a small response
cost more CPU to compress than everything else tapster does with it.

A dynamic table size update still owed to the client (its SETTINGS_HEADER_TABLE_SIZE changed, RFC
7541 §4.2: it must open the next block) is left to h2's encoder: `encode_response` returns None then.
"""

from __future__ import annotations

from hpack import Encoder
from hpack.table import HeaderTable

from ._rules import SENSITIVE_NAMES

__all__ = ["encode_response"]

_STATIC_FIELDS: dict[tuple[bytes, bytes], int] = {}
_STATIC_NAMES: dict[bytes, int] = {}
for _index, (_name, _value) in enumerate(HeaderTable.STATIC_TABLE, start=1):
    _STATIC_FIELDS.setdefault((_name, _value), _index)
    _STATIC_NAMES.setdefault(_name, _index)

_SENSITIVE = SENSITIVE_NAMES  # never indexed by intermediaries (RFC 7541 §7.1.3), never remembered
_MEMO: dict[tuple[bytes, bytes], bytes] = {}
_MEMO_ENTRIES = 512  # fields kept
_MEMO_VALUE_LENGTH = 64  # bytes of a value kept (dates, types, lengths: not cookies or tokens)


def _integer(value: int, prefix_bits: int, flags: int) -> bytes:
    """RFC 7541 §5.1: an integer on a prefix of `prefix_bits`, the byte's high bits `flags`."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(name: bytes, value: bytes) -> bytes:
    index = _STATIC_FIELDS.get((name, value))
    if index is not None:
        return _integer(index, 7, 0x80)  # §6.1 indexed field
    # §6.2.2 literal without indexing (0000xxxx), or §6.2.3 never indexed (0001xxxx) for secrets.
    flags = 0x10 if name in _SENSITIVE else 0x00
    name_index = _STATIC_NAMES.get(name)
    head = (
        _integer(name_index, 4, flags) if name_index else bytes((flags,)) + _integer(len(name), 7, 0) + name
    )
    return head + _integer(len(value), 7, 0) + value  # a raw string (no Huffman)


def encode_response(encoder: Encoder, headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The header block of `headers` (lowercase names, `:status` first), or None when `encoder`
    owes the client a table size update and must encode this block itself."""
    if encoder.header_table.resized:
        return None
    memo = _MEMO
    parts = []
    for field in headers:
        encoded = memo.get(field)
        if encoded is None:
            encoded = _field(*field)
            if (
                len(field[1]) <= _MEMO_VALUE_LENGTH
                and len(memo) < _MEMO_ENTRIES
                and field[0] not in _SENSITIVE
            ):
                memo[field] = encoded
        parts.append(encoded)
    return b"".join(parts)
