"""A sans-I/O WebSocket server connection (RFC 6455, RFC 7692): the opening handshake on our own
HTTP/1.1 parser, then frames by our own strict codec (masking in C by `websockets`' speed-ups) and
permessage-deflate on zlib (`_wsdeflate.py`).

`parse_upgrade()` turns a `Request` the HTTP/1.1 parser flagged (it carried an Upgrade header) into a
`Handshake`, or says it is no WebSocket upgrade at all. `accept()` builds the 101 response and the
`WebSocketConnection` that carries the messages: `receive_data()` / `receive_eof()` take bytes,
`next_event()` returns whole messages, pongs and the close; `send_*()` return the bytes to write, and
`data_to_send()` the bytes the connection queued by itself (pong answers, close replies).
No sockets, no event loop, no clock.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from tapster.errors import LocalProtocolError, RemoteProtocolError

from . import _rules as R
from ._wsdeflate import DeflateError, PerMessageDeflate, negotiate_deflate
from .events import NEED_DATA, Request, Sentinel

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a platform without the C speed-ups
    from websockets.utils import apply_mask

__all__ = [
    "Closed",
    "Handshake",
    "HandshakeError",
    "Message",
    "Pong",
    "WSState",
    "WebSocketConnection",
    "accept",
    "negotiate",
    "parse_h2_websocket",
    "parse_upgrade",
    "switching_protocols",
]

WEBSOCKET_VERSION = b"13"  # RFC 6455 §4.1: the only version there is
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
# RFC 6455 §7.4 and IANA's registry: the codes a close frame may carry, besides 3000-4999 (libraries
# and applications). 1005, 1006 and 1015 only ever describe a close that had no such frame; 1004 is
# reserved.
_SENDABLE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))
_RECEIVABLE_CODES = _SENDABLE_CODES
_PROTOCOL_ERROR = 1002
_NO_STATUS = 1005  # what a close frame without a payload reports
_ABNORMAL = 1006  # the connection closed without a close frame
_INVALID_DATA = 1007
_MESSAGE_TOO_BIG = 1009
_utf8_decoder = codecs.getincrementaldecoder("utf-8")


def accept_token(key: bytes) -> bytes:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


class HandshakeError(RemoteProtocolError):
    """A WebSocket upgrade request we cannot accept; `headers` are extra response header lines."""

    def __init__(self, message: str, status_hint: int = 400, headers: bytes = b"") -> None:
        super().__init__(message, status_hint)
        self.headers = headers


@dataclass(frozen=True, slots=True)
class Handshake:
    """A valid WebSocket upgrade request (RFC 6455 §4.2.1)."""

    key: bytes | None  # Sec-WebSocket-Key as sent (None over HTTP/2, RFC 8441 §5)
    subprotocols: list[str]  # Sec-WebSocket-Protocol offers, in order
    extensions: list[str]  # Sec-WebSocket-Extensions offers, each "name; params"


@dataclass(frozen=True, slots=True)
class Message:
    """A whole data message: `str` for a text message, `bytes` for a binary one."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class Pong:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection is closed (or failed): no more events. Write `data_to_send()`, then close TCP."""

    code: int
    reason: str


Event = Message | Pong | Closed | Sentinel


def _tokens(value: bytes) -> list[bytes]:
    return [t for t in (p.strip(b" \t").lower() for p in value.split(b",")) if t]


def _offers(value: bytes) -> list[str]:
    """The comma-separated offers of a Sec-WebSocket-Protocol or -Extensions field."""
    return [p.strip(" \t") for p in value.decode("latin-1").split(",") if p.strip(" \t")]


def parse_upgrade(request: Request) -> Handshake | None:
    """The handshake of a WebSocket upgrade request, None if `request` is none (serve it as HTTP:
    RFC 9110 §7.8 lets a server ignore Upgrade). Raises HandshakeError (400/426) for a broken one."""
    upgrade = connection_upgrade = False
    keys: list[bytes] = []
    versions: list[bytes] = []
    subprotocols: list[str] = []
    extensions: list[str] = []
    for name, value in request.headers:
        if name == b"upgrade":
            upgrade = upgrade or b"websocket" in _tokens(value)
        elif name == b"connection":
            connection_upgrade = connection_upgrade or b"upgrade" in _tokens(value)
        elif name == b"sec-websocket-key":
            keys.append(value)
        elif name == b"sec-websocket-version":
            versions.append(value)
        elif name == b"sec-websocket-protocol":
            subprotocols.extend(_offers(value))
        elif name == b"sec-websocket-extensions":
            extensions.extend(_offers(value))
    # RFC 6455 §4.1: GET, HTTP/1.1 or higher, "Upgrade: websocket", "Connection: Upgrade".
    if not (upgrade and connection_upgrade) or request.method != b"GET" or request.http_version != b"1.1":
        return None
    supported = b"sec-websocket-version: 13\r\n"
    if not versions:
        raise HandshakeError("WebSocket upgrade without Sec-WebSocket-Version", 400, supported)
    if versions != [WEBSOCKET_VERSION]:
        # RFC 6455 §4.2.2: answer a version we do not speak with the versions we do.
        raise HandshakeError(
            "unsupported WebSocket version (only 13)", 426, b"upgrade: websocket\r\n" + supported
        )
    if len(keys) != 1:
        raise HandshakeError("WebSocket upgrade needs exactly one Sec-WebSocket-Key")
    try:
        nonce = base64.b64decode(keys[0], validate=True)
    except binascii.Error:
        nonce = b""
    if len(nonce) != 16:  # RFC 6455 §4.1: a base64-encoded 16-byte value
        raise HandshakeError("invalid Sec-WebSocket-Key: must be 16 bytes, base64-encoded")
    if request.has_body:
        raise HandshakeError("a WebSocket upgrade request must not have a body")
    return Handshake(keys[0], subprotocols, extensions)


def parse_h2_websocket(request: Request) -> Handshake:
    """The handshake of an extended CONNECT with ``:protocol websocket`` (RFC 8441 §4-5): no key,
    no Upgrade or Connection; the version, subprotocols and extensions as over HTTP/1.1. Raises
    HandshakeError (400) for a broken one."""
    versions: list[bytes] = []
    subprotocols: list[str] = []
    extensions: list[str] = []
    for name, value in request.headers:
        if name == b"sec-websocket-version":
            versions.append(value)
        elif name == b"sec-websocket-protocol":
            subprotocols.extend(_offers(value))
        elif name == b"sec-websocket-extensions":
            extensions.extend(_offers(value))
    if versions != [WEBSOCKET_VERSION]:
        raise HandshakeError("WebSocket over HTTP/2 needs Sec-WebSocket-Version: 13", 400)
    return Handshake(None, subprotocols, extensions)


# Header fields of the 101 response that the server owns (the app uses `subprotocol` for its one).
_OWN_HEADERS = frozenset(
    (
        b"upgrade",
        b"connection",
        b"sec-websocket-accept",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    )
)


def negotiate(
    handshake: Handshake,
    subprotocol: str | None,
    headers: Iterable[tuple[bytes, bytes]],
    *,
    max_message_size: int,
    deflate: bool,
    deflate_window_bits: int = 12,
    deflate_level: int = 1,
) -> tuple[list[tuple[bytes, bytes]], WebSocketConnection]:
    """The response headers accepting `handshake` (validated; HTTP/1.1 adds its own Upgrade and
    Connection, HTTP/2 none) and the connection that speaks WebSocket from then on. Raises
    LocalProtocolError for invalid app input."""
    pairs: list[tuple[bytes, bytes]] = []
    if handshake.key is not None:  # RFC 8441 §5: no key, and no accept token, over HTTP/2
        pairs.append((b"sec-websocket-accept", accept_token(handshake.key)))
    if subprotocol is not None:
        # RFC 6455 §4.2.2: the server selects one of the client's values, or none.
        if subprotocol not in handshake.subprotocols:
            raise LocalProtocolError(
                f"subprotocol {subprotocol!r} was not offered by the client ({handshake.subprotocols})"
            )
        pairs.append((b"sec-websocket-protocol", subprotocol.encode("ascii")))
    try:
        for name, value in headers:
            if R.TOKEN_RE.fullmatch(name) is None:
                raise LocalProtocolError(f"invalid response header name {name!r}")
            if R.BAD_VALUE_RE.search(value) is not None:
                raise LocalProtocolError(f"invalid value for response header {name!r}: control characters")
            if name.lower() in _OWN_HEADERS:
                raise LocalProtocolError(
                    f"header {name!r} is set by the server (choose a subprotocol with 'subprotocol')"
                )
            pairs.append((name, value))
    except (TypeError, ValueError):
        raise LocalProtocolError(
            f"accept headers must be an iterable of (bytes, bytes) pairs, got {headers!r}"
        ) from None
    extension: PerMessageDeflate | None = None
    if deflate:
        negotiated = negotiate_deflate(handshake.extensions, deflate_window_bits, deflate_level)
        if negotiated is not None:
            extension = negotiated[0]
            pairs.append((b"sec-websocket-extensions", negotiated[1].encode("ascii")))
    return pairs, WebSocketConnection(max_message_size, extension)


def switching_protocols(extra: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The HTTP/1.1 101 response (RFC 9110 §15.2.2) with validated `headers` (from `negotiate`);
    `extra`: pre-formatted server header lines."""
    parts = [b"HTTP/1.1 101 Switching Protocols\r\n", extra, b"upgrade: websocket\r\nconnection: Upgrade\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def accept(
    handshake: Handshake,
    subprotocol: str | None,
    headers: Iterable[tuple[bytes, bytes]],
    extra: bytes = b"",
    *,
    max_message_size: int,
    deflate: bool,
    deflate_window_bits: int = 12,
    deflate_level: int = 1,
) -> tuple[bytes, WebSocketConnection]:
    """The HTTP/1.1 101 response accepting `handshake` (`extra`: pre-formatted server header lines),
    and the connection that speaks WebSocket from then on. Raises LocalProtocolError for invalid app
    input."""
    pairs, ws = negotiate(
        handshake,
        subprotocol,
        headers,
        max_message_size=max_message_size,
        deflate=deflate,
        deflate_window_bits=deflate_window_bits,
        deflate_level=deflate_level,
    )
    return switching_protocols(extra, pairs), ws


class WSState(enum.Enum):
    OPEN = "OPEN"
    CLOSING = "CLOSING"  # we sent a close frame and wait for the peer's
    CLOSED = "CLOSED"  # a close frame went each way, or the connection failed

    __hash__ = object.__hash__


class WebSocketConnection:
    """One open WebSocket, server side: RFC 6455 framing, strict, with permessage-deflate when
    `deflate` was negotiated. `max_message_size` bounds a message (after decompression)."""

    __slots__ = (
        "_buf",
        "_checked",
        "_checker",
        "_close_queued",
        "_compressed",
        "_decoder",
        "_deflate",
        "_eof",
        "_opcode",
        "_out",
        "_parts",
        "_size",
        "max_message_size",
        "state",
    )

    def __init__(self, max_message_size: int, deflate: PerMessageDeflate | None = None) -> None:
        self.max_message_size = max_message_size
        self.state = WSState.OPEN
        self._deflate = deflate
        self._buf = bytearray()
        self._eof = False
        self._out = b""
        self._close_queued = False  # a close frame waits in _out
        # The data message being received in fragments: its opcode (0: none), whether it is
        # compressed, its pieces, its size so far, and its UTF-8 decoder (text only).
        self._opcode = 0
        self._compressed = False
        self._parts: list[str | bytes] = []
        self._size = 0
        self._decoder: codecs.IncrementalDecoder | None = None
        # The part of an incomplete text frame whose UTF-8 was checked already, and the checker.
        self._checked = 0
        self._checker: codecs.IncrementalDecoder | None = None

    @property
    def deflate(self) -> PerMessageDeflate | None:
        """The negotiated permessage-deflate state, None without compression."""
        return self._deflate

    # ----------------------------------------------------------------- receiving

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer (ignored once the connection is closed: they can only be late)."""
        if self.state is not WSState.CLOSED:
            self._buf += data

    def receive_eof(self) -> None:
        """The peer closed TCP. Without a close frame first, that is an abnormal closure (1006)."""
        self._eof = True

    def next_event(self) -> Event:
        """The next whole message, pong or close; NEED_DATA when more bytes must arrive first.

        Pings are answered (their pongs wait in `data_to_send()`); a close frame from the peer is
        answered likewise (RFC 6455 §5.5.1). A frame that breaks the protocol fails the connection
        with the close code RFC 6455 §7.4.1 names. Nothing comes after `Closed`.
        """
        if self.state is WSState.CLOSED:
            return NEED_DATA
        buf = self._buf
        while True:
            size = len(buf)
            if size < 2:
                break
            b0 = buf[0]
            b1 = buf[1]
            opcode = b0 & 0x0F
            # RFC 6455 §5.2: checked on the first two bytes, before waiting for the payload.
            if not b1 & 0x80:
                return self._fail(_PROTOCOL_ERROR, "a client frame must be masked")
            if b0 & 0x30:
                return self._fail(_PROTOCOL_ERROR, "reserved bits RSV2/RSV3 set")
            if opcode >= 8:
                if opcode > 10:
                    return self._fail(_PROTOCOL_ERROR, f"reserved opcode {opcode}")
                if not b0 & 0x80 or b0 & 0x40 or b1 & 0x7F > 125:
                    return self._fail(
                        _PROTOCOL_ERROR, "a control frame must be final, uncompressed, <= 125 bytes"
                    )
            elif opcode == 0:
                if not self._opcode:
                    return self._fail(_PROTOCOL_ERROR, "a continuation frame without a message to continue")
                if b0 & 0x40:
                    return self._fail(_PROTOCOL_ERROR, "RSV1 set on a continuation frame")
            elif opcode <= 2:
                if self._opcode:
                    return self._fail(_PROTOCOL_ERROR, "a new message before the last one was finished")
                if b0 & 0x40 and self._deflate is None:
                    return self._fail(_PROTOCOL_ERROR, "RSV1 set without a negotiated extension")
            else:
                return self._fail(_PROTOCOL_ERROR, f"reserved opcode {opcode}")
            length = b1 & 0x7F
            if length < 126:
                start = 6
            elif length == 126:
                if size < 4:
                    break
                length = buf[2] << 8 | buf[3]
                start = 8
                if length < 126:
                    return self._fail(_PROTOCOL_ERROR, "frame length not in its shortest form")
            else:
                if size < 10:
                    break
                length = int.from_bytes(buf[2:10], "big")
                start = 14
                if length < 0x10000 or length >> 63:
                    return self._fail(_PROTOCOL_ERROR, "frame length not in its shortest form")
            if opcode < 8 and self._size + length > self.max_message_size:
                return self._fail(_MESSAGE_TOO_BIG, "")
            end = start + length
            if size < end:
                # Part of a text frame is here: RFC 6455 §8.1 fails the connection on invalid
                # UTF-8, and as soon as the bytes so far make it certain (Autobahn 6.4.3-4).
                if (
                    size > start + self._checked
                    and opcode < 8
                    and not (b0 & 0x40 or self._compressed)
                    and self._check_partial_text(opcode, start, size) is not None
                ):
                    return self._fail(_INVALID_DATA, "text message is not valid UTF-8")
                break
            self._checked = 0
            self._checker = None
            payload = apply_mask(buf[start:end], buf[start - 4 : start]) if length else b""
            del buf[:end]
            if opcode >= 8:
                event = self._control(opcode, payload)
                if event is not None:
                    return event
                continue
            event = self._data(opcode, b0, payload)
            if event is not None:
                return event
        if self._eof:
            self.state = WSState.CLOSED
            return Closed(_ABNORMAL, "")
        return NEED_DATA

    def _check_partial_text(self, opcode: int, start: int, size: int) -> UnicodeDecodeError | None:
        """Check the UTF-8 of the part of a text frame that arrived after the part already checked;
        the error, or None (not text, or valid so far)."""
        if (self._opcode or opcode) != 1:
            return None
        buf = self._buf
        checker = self._checker
        if checker is None:
            checker = self._checker = _utf8_decoder()
            if self._decoder is not None:  # the message's earlier fragments left a sequence open
                checker.setstate(self._decoder.getstate())
        done = self._checked
        mask = bytes(buf[start - 4 : start])
        turn = done % 4
        try:
            checker.decode(apply_mask(buf[start + done : size], mask[turn:] + mask[:turn]), False)
        except UnicodeDecodeError as exc:
            return exc
        self._checked = size - start
        return None

    def _control(self, opcode: int, payload: bytes) -> Event | None:
        if opcode == 9:  # ping: answered with a pong carrying the same payload (RFC 6455 §5.5.2)
            if self.state is WSState.OPEN:
                self._out += _frame(0x8A, payload)
            return None
        if opcode == 10:
            return Pong(payload)
        # close (RFC 6455 §5.5.1, §7.1.5)
        if len(payload) == 1:
            return self._fail(_PROTOCOL_ERROR, "a close frame with a one-byte payload")
        code = _NO_STATUS
        reason = ""
        if payload:
            code = payload[0] << 8 | payload[1]
            if code not in _RECEIVABLE_CODES and not 3000 <= code <= 4999:
                return self._fail(_PROTOCOL_ERROR, f"invalid close code {code}")
            try:
                reason = payload[2:].decode()
            except UnicodeDecodeError:
                return self._fail(_INVALID_DATA, "close reason is not valid UTF-8")
        if self.state is WSState.OPEN:  # the peer closes: answer in kind, echoing its code and reason
            self._out += _frame(0x88, payload)
            self._close_queued = True
        self.state = WSState.CLOSED
        self._parts.clear()
        return Closed(code, reason)

    def _data(self, opcode: int, b0: int, payload: bytes) -> Event | None:
        fin = b0 & 0x80
        if opcode:  # the first frame of a message
            self._opcode = opcode
            self._compressed = bool(b0 & 0x40)
        if self._compressed:
            assert self._deflate is not None
            try:
                payload = self._deflate.decompress(payload, bool(fin), self.max_message_size - self._size)
            except DeflateError as exc:
                return self._fail(
                    _MESSAGE_TOO_BIG if exc.too_big else _INVALID_DATA, "" if exc.too_big else str(exc)
                )
        self._size += len(payload)
        data: str | bytes
        if self._opcode == 1:
            decoder = self._decoder
            try:
                if fin and decoder is None:
                    data = payload.decode()
                else:
                    if decoder is None:
                        decoder = self._decoder = _utf8_decoder()
                    data = decoder.decode(payload, bool(fin))
            except UnicodeDecodeError:
                return self._fail(_INVALID_DATA, "text message is not valid UTF-8")
        else:
            data = payload
        if not fin:
            self._parts.append(data)
            return None
        self._opcode = 0
        self._size = 0
        self._decoder = None
        if self._parts:
            parts, self._parts = self._parts, []
            parts.append(data)
            data = "".join(parts) if isinstance(data, str) else b"".join(parts)  # type: ignore[arg-type]
        return Message(data)

    def _fail(self, code: int, reason: str) -> Closed:
        """RFC 6455 §7.1.7, fail the connection: send a close frame and stop reading."""
        if code == _MESSAGE_TOO_BIG:
            reason = f"message larger than {self.max_message_size} bytes"
        if self.state is WSState.OPEN:
            self._out += _close_frame(code, reason)
            self._close_queued = True
        self.state = WSState.CLOSED
        self._parts.clear()
        self._buf.clear()
        return Closed(code, reason)

    def data_to_send(self) -> bytes:
        """Bytes the connection produced by itself (pongs, close answers) since the last call."""
        out, self._out = self._out, b""
        self._close_queued = False
        return out

    # ----------------------------------------------------------------- sending

    def send_message(self, data: str | bytes) -> bytes:
        """The frame carrying `data` (text for a `str`, binary for `bytes`). Allowed while the
        connection is open, and once closed while the close frame it queued (an answer to the
        peer's, or a failure's) has not been taken by `data_to_send()`: the caller may send the
        answers to messages received before the close, ahead of it."""
        if self.state is not WSState.OPEN and not self._close_queued:
            raise LocalProtocolError("the WebSocket is closing: no more messages can be sent")
        if isinstance(data, str):
            first = 0x81
            data = data.encode()
        else:
            first = 0x82
        if self._deflate is not None:
            return _frame(first | 0x40, self._deflate.compress(data))
        return _frame(first, data)

    def send_ping(self, payload: bytes) -> bytes:
        if self.state is not WSState.OPEN:
            return b""
        return _frame(0x89, payload)

    def send_close(self, code: int = 1000, reason: str = "") -> bytes:
        """Start the closing handshake (RFC 6455 §7.1.2); b"" if a close was already sent."""
        if type(code) is not int or (code not in _SENDABLE_CODES and not 3000 <= code <= 4999):
            raise LocalProtocolError(f"invalid WebSocket close code {code!r}: use 1000-1014 or 3000-4999")
        if len(reason.encode()) > 123:
            raise LocalProtocolError("a WebSocket close reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5)")
        if self.state is not WSState.OPEN:
            return b""
        self.state = WSState.CLOSING
        return _close_frame(code, reason)

    def release(self) -> None:
        """The connection is idle: free what it can rebuild (the compression contexts). Not in the
        middle of a fragmented message: its compressed stream goes on in the next frame, which only
        the same inflater can read."""
        if self._deflate is not None and not self._opcode:
            self._deflate.release()


def _frame(first: int, payload: bytes) -> bytes:
    """A server frame (never masked): `first` is its first byte (FIN, RSV1, opcode)."""
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 0x10000:
        return bytes((first, 126, size >> 8, size & 0xFF)) + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


def _close_frame(code: int, reason: str) -> bytes:
    return _frame(0x88, code.to_bytes(2, "big") + reason.encode()[:123])
