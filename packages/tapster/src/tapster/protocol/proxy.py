"""The PROXY protocol, versions 1 (text) and 2 (binary): the header a load balancer writes at the start
of a connection to say whom it is relaying (HAProxy's proxy-protocol.txt, 2020-03-05 edition).

Sans-I/O: `ProxyHeaderReader.receive_data()` takes bytes and says how many of them belong to the
header, so a backend that peeks at the socket consumes exactly the header and leaves what follows
(a TLS ClientHello, an HTTP request) for whoever reads next. Strict and bounded: a v1 line is at most
107 bytes (the spec's own bound), a v2 header at most `max_size`; anything else is a
`RemoteProtocolError` as soon as the first wrong byte arrives.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from tapster.errors import RemoteProtocolError

__all__ = ["V1_MAX_SIZE", "V2_SIGNATURE", "ProxyHeader", "ProxyHeaderReader", "parse_proxy_header"]

#: proxy-protocol.txt §2.1: "a receiver ... never needs to read more than 107 characters".
V1_MAX_SIZE = 107
_V1_PREFIX = b"PROXY "
#: proxy-protocol.txt §2.2: the 12-byte signature that opens every version 2 header.
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_FIXED = 16  # signature, version/command, family/transport, length

# §2.2 address blocks: (size of the block, size of one address) by address family.
_INET, _INET6, _UNIX = 0x1, 0x2, 0x3
_BLOCKS = {_INET: (12, 4), _INET6: (36, 16), _UNIX: (216, 108)}
_STREAM = 0x1


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """What a PROXY header said. `source`/`destination` are (host, port) of the relayed connection,
    or None when the header names none the server can use (v1 UNKNOWN, v2 LOCAL, UNSPEC or AF_UNIX):
    then the connection's own addresses stand."""

    version: int
    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    size: int  # bytes the header took on the wire


def _v1_port(text: bytes) -> int:
    # §2.1: "0..65535 ... leading zeroes are not permitted".
    if not text.isdigit() or (len(text) > 1 and text.startswith(b"0")) or int(text) > 65535:
        raise RemoteProtocolError(f"PROXY v1: bad port {text[:8]!r}")
    return int(text)


def _v1_address(text: bytes, family: bytes) -> str:
    try:
        value = text.decode("ascii")
        parsed = ipaddress.IPv4Address(value) if family == b"TCP4" else ipaddress.IPv6Address(value)
    except (UnicodeDecodeError, ValueError):
        raise RemoteProtocolError(f"PROXY v1: bad {family.decode()} address {text[:45]!r}") from None
    return str(parsed)


def _parse_v1(line: bytes) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    """The line without its CRLF: 'PROXY TCP4 src dst sport dport', or 'PROXY UNKNOWN ...'."""
    parts = line.split(b" ")
    if len(parts) >= 2 and parts[1] == b"UNKNOWN":
        return None, None  # §2.1: the rest of an UNKNOWN line is ignored
    if len(parts) != 6 or parts[1] not in (b"TCP4", b"TCP6"):
        raise RemoteProtocolError("PROXY v1: expected 'PROXY TCP4|TCP6 <src> <dst> <sport> <dport>'")
    family = parts[1]
    source = (_v1_address(parts[2], family), _v1_port(parts[4]))
    destination = (_v1_address(parts[3], family), _v1_port(parts[5]))
    return source, destination


def _parse_v2(
    header: bytes,
) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    """A whole v2 header (`header` is exactly 16 + its length field bytes)."""
    version, command = header[12] >> 4, header[12] & 0x0F
    if version != 2:
        raise RemoteProtocolError(f"PROXY v2: version {version} in a v2 header")
    if command > 1:
        raise RemoteProtocolError(f"PROXY v2: unknown command {command:#x}")
    family, transport = header[13] >> 4, header[13] & 0x0F
    if family > _UNIX or transport > 2:
        raise RemoteProtocolError(f"PROXY v2: unknown address family/transport {header[13]:#04x}")
    body = memoryview(header)[_V2_FIXED:]
    block = _BLOCKS.get(family, (0, 0))[0]
    if len(body) < block:
        raise RemoteProtocolError(f"PROXY v2: {len(body)} bytes cannot hold a {block}-byte address block")
    _check_tlvs(body[block:])
    # §2.2: LOCAL (health checks from the proxy itself): "the receiver must ... use the real
    # connection endpoints"; UNSPEC likewise. AF_UNIX paths have no place in an ASGI scope.
    if command == 0 or family not in (_INET, _INET6):
        return None, None
    if transport != _STREAM:
        raise RemoteProtocolError("PROXY v2: a datagram (or unspecified) transport on a stream connection")
    size = _BLOCKS[family][1]
    kind = ipaddress.IPv4Address if family == _INET else ipaddress.IPv6Address
    src = str(kind(bytes(body[:size])))
    dst = str(kind(bytes(body[size : 2 * size])))
    ports = body[2 * size : 2 * size + 4]
    return (src, int.from_bytes(ports[:2], "big")), (dst, int.from_bytes(ports[2:], "big"))


def _check_tlvs(data: memoryview) -> None:
    """§2.2.1: type (1 byte), length (2 bytes), value. Skipped, but each must fit exactly: a TLV that
    runs past the header is as malformed as a short address block."""
    offset = 0
    while offset < len(data):
        if offset + 3 > len(data):
            raise RemoteProtocolError("PROXY v2: a truncated TLV after the addresses")
        length = int.from_bytes(data[offset + 1 : offset + 3], "big")
        offset += 3 + length
        if offset > len(data):
            raise RemoteProtocolError("PROXY v2: a TLV runs past the end of the header")


def parse_proxy_header(data: bytes, max_size: int = 4096) -> ProxyHeader | None:
    """The header at the start of `data`, or None if more bytes are needed. Raises RemoteProtocolError
    as soon as `data` cannot be the start of a valid header (it never waits for bytes that cannot help).
    `max_size` bounds a v2 header (its length field allows 64 KiB); v1 is bounded at 107 bytes."""
    if data[:1] == b"P" or not data:
        if not _V1_PREFIX.startswith(data[:6]):
            raise RemoteProtocolError("not a PROXY protocol header")
        end = data.find(b"\r\n", 0, V1_MAX_SIZE)
        if end < 0:
            if len(data) >= V1_MAX_SIZE:
                raise RemoteProtocolError(f"PROXY v1: no CRLF in the first {V1_MAX_SIZE} bytes")
            # Early refusals: only printable ASCII may come before the CRLF (a lone CR may be its start).
            seen = data[:V1_MAX_SIZE]
            body = seen[:-1] if seen.endswith(b"\r") else seen
            if not all(0x20 <= b < 0x7F for b in body):
                raise RemoteProtocolError("PROXY v1: a control or non-ASCII byte in the line")
            return None
        line = data[:end]
        if not all(0x20 <= b < 0x7F for b in line):
            raise RemoteProtocolError("PROXY v1: a control or non-ASCII byte in the line")
        source, destination = _parse_v1(line)
        return ProxyHeader(1, source, destination, end + 2)
    head = data[:12]
    if head != V2_SIGNATURE[: len(head)]:
        raise RemoteProtocolError("not a PROXY protocol header")
    if len(data) < _V2_FIXED:
        if len(data) > 12 and data[12] >> 4 != 2:
            raise RemoteProtocolError(f"PROXY v2: version {data[12] >> 4} in a v2 header")
        return None
    total = _V2_FIXED + int.from_bytes(data[14:16], "big")
    if total > max_size:
        raise RemoteProtocolError(f"PROXY v2: a {total}-byte header is over the {max_size}-byte limit")
    if len(data) < total:
        return None
    source, destination = _parse_v2(data[:total])
    return ProxyHeader(2, source, destination, total)


class ProxyHeaderReader:
    """Reads the PROXY header that opens a connection, from bytes the caller peeked or read.

    `receive_data(data)` returns how many bytes of `data` belong to the header: all of them while it
    is incomplete, exactly its end once it is complete (`header` is then set). A caller that peeks
    consumes that many from the socket; the rest stays for TLS or HTTP. `wanted` is how many bytes
    are worth peeking next: never more than the header can still take."""

    __slots__ = ("_buffer", "header", "max_size")

    def __init__(self, max_size: int = 4096) -> None:
        self.max_size = max_size
        self._buffer = b""
        self.header: ProxyHeader | None = None

    @property
    def wanted(self) -> int:
        buffer = self._buffer
        if len(buffer) >= _V2_FIXED and buffer.startswith(V2_SIGNATURE):
            return _V2_FIXED + int.from_bytes(buffer[14:16], "big") - len(buffer)
        return max(V1_MAX_SIZE - len(buffer), 1)

    def receive_data(self, data: bytes) -> int:
        if self.header is not None:
            return 0
        before = len(self._buffer)
        buffer = self._buffer + data
        header = parse_proxy_header(buffer, self.max_size)
        if header is None:
            self._buffer = buffer
            return len(data)
        self.header = header
        self._buffer = b""
        return header.size - before
