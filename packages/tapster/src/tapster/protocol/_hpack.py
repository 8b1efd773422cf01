"""HPACK (RFC 7541): response heads encoded with the static table only, and request heads decoded
once per distinct block.

Encoding.

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

Decoding (`MemoDecoder`). A client that sends the same request again sends the same block: once its
fields are in the dynamic table, every field is an index or a literal that is not indexed, and the
block changes nothing. The pure-Python decoder still walks it, Huffman strings included: 8-17 % of
tapster's CPU under h2load. Decoding is a function of the block's bytes and the dynamic table, so a
block that left the table as it found it decodes the same way while the table stays as it is: the
table counts its changes (`version`), and a connection remembers the last few such blocks with the
version they were decoded at. A changed table, a limit changed since, or a block that inserted
anything is decoded again in full (and its errors raised as before).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpack import Decoder, Encoder
from hpack.table import HeaderTable

from ._rules import SENSITIVE_NAMES

__all__ = ["MemoDecoder", "encode_response"]

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


class _VersionedTable(HeaderTable):
    """hpack's header table, counting the changes of its dynamic part."""

    def __init__(self) -> None:
        super().__init__()
        self.version = 0

    def add(self, name: bytes, value: bytes) -> None:
        self.version += 1
        super().add(name, value)

    @HeaderTable.maxsize.setter  # type: ignore[attr-defined,untyped-decorator]
    def maxsize(self, newmax: int) -> None:
        self.version += 1
        HeaderTable.maxsize.fset(self, newmax)  # type: ignore[attr-defined]


_BLOCKS = 4  # blocks remembered per connection (a client repeats a few request shapes)
_BLOCK_SIZE = 1024  # bytes of a block remembered


class MemoDecoder(Decoder):
    """hpack's Decoder that decodes a repeated block once (see the module's docstring)."""

    def __init__(self, max_header_list_size: int = 65536) -> None:
        super().__init__(max_header_list_size)
        self.header_table: _VersionedTable = _VersionedTable()
        # block -> (table version, raw, max_header_list_size, max_allowed_table_size, headers)
        self._memo: dict[bytes, tuple[int, bool, int, int, list[Any]]] = {}

    def decode(self, data: bytes, raw: bool = False) -> Iterable[Any]:
        table = self.header_table
        version = table.version
        key = bytes(data) if type(data) is not bytes else data
        known = self._memo.get(key)
        if (
            known is not None
            and known[0] == version
            and known[1] is raw
            and known[2] == self.max_header_list_size
            and known[3] == self.max_allowed_table_size
        ):
            return list(known[4])
        headers = list(super().decode(data, raw))
        if table.version != version or len(key) > _BLOCK_SIZE:
            return headers  # (it changed the table, or is too long to keep)
        memo = self._memo
        if len(memo) >= _BLOCKS:
            memo.clear()
        memo[key] = (version, raw, self.max_header_list_size, self.max_allowed_table_size, headers)
        return list(headers)  # (a copy: the kept list is never handed out)
