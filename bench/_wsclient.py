"""The client side of WebSocket (RFC 6455) with permessage-deflate (RFC 7692), sans-I/O, kept lean
for bench/wsload.py: the load generator must cost far less per message than the servers it measures.

- `handshake_request()` / `parse_handshake_response()`: the opening handshake over HTTP/1.1.
- `client_frame()`: one masked frame. Frames are built once, before the load, and written as they are;
  the mask is a fixed key (RFC 6455 §5.3 wants an unpredictable one, against cache poisoning through
  intermediaries; nothing sits between a benchmark and the server on loopback).
- `compress()`: a message compressed for a frame with RSV1 set, without context takeover, so each
  compressed message can also be built once. RFC 7692 §7.1.1.2 lets a client do that whatever was
  negotiated, and the server's decompressor is the same either way.
- `Reader`: bytes from the server in, whole messages (continuations joined, decompressed) and control
  frames out, as `(opcode, payload)` pairs. Anything RFC 6455 forbids a server to send raises
  `WebSocketError`.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import dataclass

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "DEFLATE_OFFER",
    "MASK_KEY",
    "PING",
    "PONG",
    "TEXT",
    "Deflate",
    "HandshakeFailed",
    "Reader",
    "WebSocketError",
    "accept_token",
    "client_frame",
    "close_frame",
    "compress",
    "handshake_request",
    "mask",
    "parse_deflate",
    "parse_handshake_response",
]

# RFC 6455 §5.2 opcodes.
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_FIN, _RSV1, _RSV23 = 0x80, 0x40, 0x30
# RFC 6455 §5.7's example key, so the RFC's masked "Hello" is a test vector for `client_frame`.
MASK_KEY = bytes.fromhex("37fa213d")
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
# What browsers offer (Chromium and Firefox send exactly this).
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1: removed by the sender, appended by the receiver


class WebSocketError(Exception):
    """The server broke RFC 6455 / RFC 7692 (or the handshake): the load generator stops loudly."""


class HandshakeFailed(WebSocketError):
    """The server did not answer the upgrade with a valid 101."""


# ---------------------------------------------------------------------------------------------- handshake


def accept_token(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def handshake_request(authority: str, path: str, key: str, extensions: str | None = None) -> bytes:
    """The upgrade request (RFC 6455 §4.1); `key` is 16 bytes, base64-encoded."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {authority}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if extensions is not None:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


@dataclass(frozen=True, slots=True)
class Deflate:
    """The permessage-deflate parameters a server's response settled (RFC 7692 §7.1)."""

    client_max_window_bits: int = 15
    server_max_window_bits: int = 15
    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False


def _window_bits(name: str, value: str | None) -> int:
    if value is None or not value.isdigit() or not 8 <= int(value) <= 15:
        raise WebSocketError(f"permessage-deflate: {name}={value} is not 8..15 (RFC 7692 §7.1.2)")
    return int(value)


def parse_deflate(value: str) -> Deflate | None:
    """The permessage-deflate of a response's Sec-WebSocket-Extensions value, None if it has none."""
    for extension in value.split(","):
        name, *params = (part.strip() for part in extension.split(";"))
        if name.lower() != "permessage-deflate":
            continue
        bits: dict[str, int] = {}
        flags: set[str] = set()
        for param in params:
            key, _, raw = param.partition("=")
            key = key.strip().lower()
            arg = raw.strip().strip('"') if raw else None
            if key in bits or key in flags:
                raise WebSocketError(f"permessage-deflate: {key} twice in {value!r}")
            if key in ("client_no_context_takeover", "server_no_context_takeover") and arg is None:
                flags.add(key)
            elif key in ("client_max_window_bits", "server_max_window_bits"):
                bits[key] = _window_bits(key, arg)
            else:
                raise WebSocketError(f"permessage-deflate: unknown parameter {param!r} in {value!r}")
        return Deflate(
            client_max_window_bits=bits.get("client_max_window_bits", 15),
            server_max_window_bits=bits.get("server_max_window_bits", 15),
            client_no_context_takeover="client_no_context_takeover" in flags,
            server_no_context_takeover="server_no_context_takeover" in flags,
        )
    return None


def parse_handshake_response(head: bytes, key: str) -> tuple[Deflate | None, str | None]:
    """Check the response head (through the blank line) to an upgrade with `key`: a 101 with the right
    accept token. Returns the negotiated permessage-deflate, if any, and the raw extensions value."""
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[0] != "HTTP/1.1" or status[1] != "101":
        raise HandshakeFailed(f"the upgrade was answered with {lines[0]!r}, not 101")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HandshakeFailed(f"malformed header line {line!r}")
        name = name.strip().lower()
        value = value.strip()
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    if fields.get("upgrade", "").lower() != "websocket":
        raise HandshakeFailed(f"101 without 'Upgrade: websocket' ({fields.get('upgrade')!r})")
    if "upgrade" not in (t.strip().lower() for t in fields.get("connection", "").split(",")):
        raise HandshakeFailed(f"101 without 'Connection: Upgrade' ({fields.get('connection')!r})")
    if fields.get("sec-websocket-accept") != accept_token(key):
        raise HandshakeFailed(f"wrong Sec-WebSocket-Accept {fields.get('sec-websocket-accept')!r}")
    extensions = fields.get("sec-websocket-extensions")
    return (parse_deflate(extensions) if extensions else None), extensions


# ---------------------------------------------------------------------------------------------- frames


def mask(payload: bytes, key: bytes = MASK_KEY) -> bytes:
    """`payload` XORed with the repeated 4-byte `key` (RFC 6455 §5.3); its own inverse. One big-int
    XOR does it in C."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def client_frame(opcode: int, payload: bytes, *, rsv1: bool = False, key: bytes = MASK_KEY) -> bytes:
    """One final, masked frame (RFC 6455 §5.2), the length in its shortest form."""
    first = _FIN | (_RSV1 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes((first, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((first, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + key + mask(payload, key)


def close_frame(code: int = 1000, reason: str = "") -> bytes:
    return client_frame(CLOSE, code.to_bytes(2, "big") + reason.encode())


def compress(payload: bytes, deflate: Deflate, level: int = zlib.Z_DEFAULT_COMPRESSION) -> bytes:
    """`payload` as the data of one compressed message (RFC 7692 §7.2.1), from a fresh compressor
    within the window the server allows us."""
    bits = deflate.client_max_window_bits
    if bits == 8:  # zlib turns a raw window of 8 bits into 9, more than the server agreed to read
        raise WebSocketError("client_max_window_bits=8: zlib cannot compress within a 256-byte window")
    compressor = zlib.compressobj(level, zlib.DEFLATED, -bits)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(_TAIL)
    return data[: -len(_TAIL)]


class Reader:
    """Frames from a server, turned into `(opcode, payload)` pairs: TEXT and BINARY for whole messages
    (joined, decompressed), CLOSE, PING and PONG as they come.

    `receive_data()` keeps a partial frame as a list of chunks until the bytes it needs are there (one
    join, never a copy per chunk). The common frame, final and uncompressed, takes one branch; the
    rest (continuations, RSV1, control frames, errors) goes through `_other()`.
    """

    __slots__ = ("_chunks", "_deflate", "_fragments", "_fragments_compressed", "_have", "_inflater", "_need")

    def __init__(self, deflate: Deflate | None = None) -> None:
        self._deflate = deflate
        # RFC 7692 §7.2.2: one decompressor for the connection (the server's LZ77 window carries over
        # unless it said server_no_context_takeover). A 15-bit window reads any smaller one.
        self._inflater = zlib.decompressobj(-15) if deflate is not None else None
        self._chunks: list[bytes] = []  # a partial frame
        self._have = 0  # bytes in _chunks
        self._need = 0  # bytes _chunks must reach before a frame can be parsed further
        # The message being continued, if any: its opcode as one byte, then its fragments.
        self._fragments: list[bytes] | None = None
        self._fragments_compressed = False

    def receive_data(self, data: bytes) -> list[tuple[int, bytes]]:
        if self._chunks:
            self._chunks.append(data)
            self._have += len(data)
            if self._have < self._need:
                return []
            data = b"".join(self._chunks)
            self._chunks = []
        events: list[tuple[int, bytes]] = []
        pos, end = 0, len(data)
        while True:
            if end - pos < 2:
                need = 2
                break
            first, length = data[pos], data[pos + 1]
            if length & 0x80:
                raise WebSocketError("the server masked a frame (RFC 6455 §5.1)")
            if length < 126:
                start = pos + 2
            elif length == 126:
                if end - pos < 4:
                    need = 4
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                start = pos + 4
                if length < 126:
                    raise WebSocketError(f"length {length} not in its shortest form (RFC 6455 §5.2)")
            else:
                if end - pos < 10:
                    need = 10
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
                if length < 1 << 16 or length >> 63:
                    raise WebSocketError(f"length {length} not in its shortest form (RFC 6455 §5.2)")
            stop = start + length
            if stop > end:
                need = stop - pos
                break
            pos = stop
            if (first == 0x81 or first == 0x82) and self._fragments is None:
                events.append((first & 0x0F, data[start:stop]))
            else:
                self._other(first, data[start:stop], events)
        if pos < end:
            rest = data[pos:] if pos else data
            self._chunks = [rest]
            self._have = len(rest)
            self._need = need
        return events

    def _other(self, first: int, payload: bytes, events: list[tuple[int, bytes]]) -> None:
        opcode = first & 0x0F
        fin = first & _FIN
        compressed = bool(first & _RSV1)
        if first & _RSV23:
            raise WebSocketError(f"RSV2/RSV3 set on a frame (byte 0x{first:02x}): no extension uses them")
        if opcode >= CLOSE:  # control frames (RFC 6455 §5.5)
            if opcode > PONG:
                raise WebSocketError(f"reserved control opcode 0x{opcode:x}")
            if not fin or compressed or len(payload) > 125:
                raise WebSocketError("a fragmented, compressed or long control frame (RFC 6455 §5.5)")
            events.append((opcode, payload))
            return
        if compressed and (self._deflate is None or opcode == CONTINUATION):
            raise WebSocketError("RSV1 set without permessage-deflate, or on a continuation (RFC 7692 §6)")
        if opcode == CONTINUATION:
            if self._fragments is None:
                raise WebSocketError("a continuation frame with no message to continue (RFC 6455 §5.4)")
            self._fragments.append(payload)
            if fin:
                parts, self._fragments = self._fragments, None
                kind = parts[0][0]
                self._message(kind, b"".join(parts[1:]), self._fragments_compressed, events)
            return
        if opcode not in (TEXT, BINARY):
            raise WebSocketError(f"reserved data opcode 0x{opcode:x}")
        if self._fragments is not None:
            raise WebSocketError("a new message before the last one's final frame (RFC 6455 §5.4)")
        if fin:
            self._message(opcode, payload, compressed, events)
        else:
            self._fragments = [bytes((opcode,)), payload]  # [the opcode, the fragments...]
            self._fragments_compressed = compressed

    def _message(
        self, opcode: int, payload: bytes, compressed: bool, events: list[tuple[int, bytes]]
    ) -> None:
        if compressed:
            assert self._deflate is not None
            assert self._inflater is not None
            inflater = self._inflater
            try:
                payload = inflater.decompress(payload) + inflater.decompress(_TAIL)
            except zlib.error as exc:
                raise WebSocketError(f"cannot decompress a message: {exc}") from None
            if self._deflate.server_no_context_takeover:
                self._inflater = zlib.decompressobj(-15)
        events.append((opcode, payload))
