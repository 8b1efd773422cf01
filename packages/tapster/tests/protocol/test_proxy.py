"""The PROXY protocol reader: every header fed whole, byte by byte and with the connection's first
bytes trailing it (which must be left alone); malformed headers refused at the first wrong byte."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tapster.errors import RemoteProtocolError
from tapster.protocol.proxy import (
    V1_MAX_SIZE,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderReader,
    parse_proxy_header,
)

TRAILING = b"\x16\x03\x01\x02\x00GET / HTTP/1.1\r\n"  # what follows: a TLS record or a request


def v2(command: int, family: int, body: bytes, *, version: int = 2) -> bytes:
    return V2_SIGNATURE + bytes([version << 4 | command, family]) + struct.pack("!H", len(body)) + body


def inet(src: str, dst: str, sport: int, dport: int) -> bytes:
    addresses = bytes(map(int, src.split("."))) + bytes(map(int, dst.split(".")))
    return addresses + struct.pack("!HH", sport, dport)


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


def read(data: bytes, mode: str, max_size: int = 4096) -> ProxyHeader:
    reader = ProxyHeaderReader(max_size)
    if mode == "bytewise":
        for i in range(len(data)):
            assert reader.header is None
            assert reader.wanted >= 1
            assert reader.receive_data(data[i : i + 1]) == 1
    elif mode == "trailing":
        used = reader.receive_data(data + TRAILING)
        assert used == len(data), "the bytes after the header belong to the connection"
    else:
        assert reader.receive_data(data) == len(data)
    assert reader.header is not None
    assert reader.header.size == len(data)
    assert reader.receive_data(b"more") == 0
    return reader.header


ADDRESSES = inet("10.1.2.3", "10.0.0.1", 1, 2)
VALID = [
    (b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", 1, ("192.0.2.1", 56324), ("198.51.100.2", 443)),
    (b"PROXY TCP6 2001:db8::1 ::1 0 65535\r\n", 1, ("2001:db8::1", 0), ("::1", 65535)),
    (b"PROXY UNKNOWN\r\n", 1, None, None),
    (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", 1, None, None),
    (v2(1, 0x11, inet("10.1.2.3", "10.0.0.1", 1234, 8000)), 2, ("10.1.2.3", 1234), ("10.0.0.1", 8000)),
    (
        v2(1, 0x21, bytes(15) + b"\x01" + bytes(16) + struct.pack("!HH", 5, 6)),
        2,
        ("::1", 5),
        ("::", 6),
    ),
    # TLVs after the addresses (ALPN, authority, a vendor's) are skipped.
    (
        v2(1, 0x11, ADDRESSES + tlv(0x01, b"h2") + tlv(0xEA, b"x" * 300) + tlv(0x04, b"")),
        2,
        ("10.1.2.3", 1),
        ("10.0.0.1", 2),
    ),
    # LOCAL: the proxy's own health check; the connection's addresses stand, whatever the block says.
    (v2(0, 0x11, inet("10.1.2.3", "10.0.0.1", 1, 2)), 2, None, None),
    (v2(0, 0x00, b""), 2, None, None),
    (v2(1, 0x00, b""), 2, None, None),  # UNSPEC
    (v2(1, 0x31, b"/run/client.sock".ljust(108, b"\0") + b"/run/lb.sock".ljust(108, b"\0")), 2, None, None),
]


@pytest.mark.parametrize("mode", ["whole", "bytewise", "trailing"])
@pytest.mark.parametrize(("data", "version", "source", "destination"), VALID)
def test_valid_headers(
    data: bytes, version: int, source: tuple[str, int] | None, destination: tuple[str, int] | None, mode: str
) -> None:
    header = read(data, mode)
    assert (header.version, header.source, header.destination) == (version, source, destination)


def test_v1_at_its_107_byte_bound() -> None:
    # The spec's worst case: UNKNOWN followed by the longest TCP6 addresses and ports.
    full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    longest = f"PROXY UNKNOWN {full} {full} 65535 65535\r\n".encode()
    assert len(longest) == V1_MAX_SIZE
    assert read(longest, "whole").source is None
    tcp6 = f"PROXY TCP6 {full} {full} 65535 65535\r\n".encode()
    assert read(tcp6, "bytewise").source == (full, 65535)
    with pytest.raises(RemoteProtocolError, match="no CRLF in the first 107 bytes"):
        parse_proxy_header(b"PROXY UNKNOWN " + b"x" * 100)


def test_v2_over_max_size_is_refused_from_its_length_field() -> None:
    header = v2(1, 0x11, inet("10.1.2.3", "10.0.0.1", 1, 2) + tlv(0xEA, b"x" * 100))
    assert parse_proxy_header(header, max_size=len(header)) is not None
    # Refused from the 16 fixed bytes alone: the reader never waits for a header it will not take.
    with pytest.raises(RemoteProtocolError, match="a 131-byte header is over the 130-byte limit"):
        parse_proxy_header(header[:16], max_size=len(header) - 1)


INVALID = [
    b"GET / HTTP/1.1\r\n",  # no header at all
    b"\x16\x03\x01",  # a TLS ClientHello where the header belongs
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",  # a port missing
    b"PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n",  # two spaces
    b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n",  # a field too many
    b"PROXY TCP4 ::1 ::1 1 2\r\n",  # IPv6 under TCP4
    b"PROXY TCP6 192.0.2.1 192.0.2.2 1 2\r\n",  # IPv4 under TCP6
    b"PROXY TCP4 192.0.2.001 192.0.2.2 1 2\r\n",  # leading zeros in an address
    b"PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n",  # leading zero in a port
    b"PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n",  # port out of range
    b"PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n",
    b"PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n",
    b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n",  # bare LF
    b"PROXY TCP4 192.0.2.1\t192.0.2.2 1 2\r\n",  # a control character
    b"PROXY TCP4 192.0.2.\xc3\xa9 192.0.2.2 1 2\r\n",
    b"proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n",
    b"PROXY\r\n",
    v2(1, 0x11, inet("10.1.2.3", "10.0.0.1", 1, 2), version=1),  # version 1 in a v2 signature
    v2(2, 0x11, inet("10.1.2.3", "10.0.0.1", 1, 2)),  # unknown command
    v2(1, 0x41, bytes(12)),  # unknown family
    v2(1, 0x13, bytes(12)),  # unknown transport
    v2(1, 0x12, inet("10.1.2.3", "10.0.0.1", 1, 2)),  # datagram
    v2(1, 0x11, bytes(11)),  # short address block
    v2(1, 0x21, bytes(35)),
    v2(0, 0x11, bytes(11)),  # LOCAL still carries a well-formed block
    v2(1, 0x11, inet("10.1.2.3", "10.0.0.1", 1, 2) + b"\x01\x00"),  # truncated TLV
    v2(1, 0x11, inet("10.1.2.3", "10.0.0.1", 1, 2) + b"\x01\x00\x05abc"),  # TLV past the end
    V2_SIGNATURE[:5] + b"X",
]


@pytest.mark.parametrize("data", INVALID)
def test_malformed_headers_are_refused(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_proxy_header(data + TRAILING)
    # Byte by byte, too: refused at some point, never left waiting.
    reader = ProxyHeaderReader()
    with pytest.raises(RemoteProtocolError):  # noqa: PT012 - the raise may come at any byte
        for i in range(len(data)):
            reader.receive_data(data[i : i + 1])
        reader.receive_data(TRAILING)


@pytest.mark.parametrize("first", [b"G", b"\x16", b"\x00", b"PROXX"])
def test_refused_at_the_first_wrong_byte(first: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="not a PROXY protocol header"):
        parse_proxy_header(first)


def test_wanted_never_reaches_past_a_v2_header() -> None:
    header = v2(1, 0x11, inet("10.1.2.3", "10.0.0.1", 1, 2) + tlv(0xEA, b"x" * 500))
    reader = ProxyHeaderReader()
    assert reader.wanted == V1_MAX_SIZE
    assert reader.receive_data(header[:20]) == 20
    assert reader.wanted == len(header) - 20
    assert reader.receive_data(header[20:] + TRAILING) == len(header) - 20
    assert reader.header is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([b"", b"PROXY ", V2_SIGNATURE]))
def test_fuzz_parses_or_raises_remote_protocol_error(data: bytes, prefix: bytes) -> None:
    reader = ProxyHeaderReader(max_size=512)
    try:
        used = reader.receive_data(prefix + data)
    except RemoteProtocolError:
        return
    assert 0 <= used <= len(prefix + data)
    if reader.header is None:
        assert used == len(prefix + data)
        assert len(prefix + data) < 512
