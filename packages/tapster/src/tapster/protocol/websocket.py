"""A sans-I/O WebSocket server connection (RFC 6455, RFC 7692): the opening handshake on our own
HTTP/1.1 parser, then framing by wsproto.

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
import enum
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.events import Pong as _WsprotoPong
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol
from wsproto.utilities import generate_accept_token

from tapster.errors import LocalProtocolError, RemoteProtocolError

from . import _rules as R
from .events import NEED_DATA, Request, Sentinel

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
# RFC 6455 §7.4: codes an endpoint may send. 1005, 1006 and 1015 only ever describe a close that
# had no such frame; 1004 is reserved; 3000-4999 belong to libraries and applications.
_SENDABLE_CODES = frozenset(int(c) for c in CloseReason if c not in (1005, 1006, 1015))


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


class _BoundedDeflate(PerMessageDeflate):
    """permessage-deflate whose inflater never produces more than `max_size` bytes per message: the
    compressed frame of a deflate bomb fails with 1009 before it can fill memory."""

    def __init__(self, max_size: int) -> None:
        super().__init__()
        self.max_size = max_size
        self._budget = max_size

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        assert self._decompressor is not None
        try:
            out = self._decompressor.decompress(data, self._budget + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        if len(out) > self._budget or self._decompressor.unconsumed_tail:
            return CloseReason.MESSAGE_TOO_BIG
        self._budget -= len(out)
        return out

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        result = super().frame_inbound_complete(proto, fin)
        if isinstance(result, bytes) and len(result) > self._budget:
            return CloseReason.MESSAGE_TOO_BIG
        if fin:
            self._budget = self.max_size
        return result


def _negotiate_deflate(offers: Iterable[str], max_size: int) -> tuple[_BoundedDeflate, bytes] | None:
    """RFC 7692 §5: accept the first permessage-deflate offer whose parameters we support."""
    for offer in offers:
        if offer.split(";", 1)[0].strip().lower() != PerMessageDeflate.name:
            continue
        extension = _BoundedDeflate(max_size)
        try:
            params = extension.accept(offer)
        except ValueError:  # a malformed window size: decline this offer
            continue
        if params is None or params is False:
            continue
        name = PerMessageDeflate.name.encode()
        return extension, name + b"; " + params.encode("ascii") if isinstance(
            params, str
        ) and params else name
    return None


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
) -> tuple[list[tuple[bytes, bytes]], WebSocketConnection]:
    """The response headers accepting `handshake` (validated; HTTP/1.1 adds its own Upgrade and
    Connection, HTTP/2 none) and the connection that speaks WebSocket from then on. Raises
    LocalProtocolError for invalid app input."""
    pairs: list[tuple[bytes, bytes]] = []
    if handshake.key is not None:  # RFC 8441 §5: no key, and no accept token, over HTTP/2
        pairs.append((b"sec-websocket-accept", generate_accept_token(handshake.key)))
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
    extensions: list[Extension] = []
    if deflate:
        negotiated = _negotiate_deflate(handshake.extensions, max_message_size)
        if negotiated is not None:
            extensions.append(negotiated[0])
            pairs.append((b"sec-websocket-extensions", negotiated[1]))
    return pairs, WebSocketConnection(max_message_size, extensions)


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
) -> tuple[bytes, WebSocketConnection]:
    """The HTTP/1.1 101 response accepting `handshake` (`extra`: pre-formatted server header lines),
    and the connection that speaks WebSocket from then on. Raises LocalProtocolError for invalid app
    input."""
    pairs, ws = negotiate(handshake, subprotocol, headers, max_message_size=max_message_size, deflate=deflate)
    return switching_protocols(extra, pairs), ws


class WSState(enum.Enum):
    OPEN = "OPEN"
    CLOSING = "CLOSING"  # we sent a close frame and wait for the peer's
    CLOSED = "CLOSED"  # a close frame went each way, or the connection failed

    __hash__ = object.__hash__


class WebSocketConnection:
    """One open WebSocket, server side. `max_message_size` bounds a message (after decompression)."""

    __slots__ = ("_out", "_parts", "_size", "_ws", "max_message_size", "state")

    def __init__(self, max_message_size: int, extensions: list[Extension] | None = None) -> None:
        self._ws = Connection(ConnectionType.SERVER, extensions)
        self.max_message_size = max_message_size
        self.state = WSState.OPEN
        self._parts: list[str | bytes] = []  # the message being received, in pieces
        self._size = 0  # bytes in _parts
        self._out = b""

    # ----------------------------------------------------------------- receiving

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer (ignored once the connection is closed: they can only be late)."""
        if self.state is not WSState.CLOSED and data:
            self._ws.receive_data(data)

    def receive_eof(self) -> None:
        """The peer closed TCP. Without a close frame first, that is an abnormal closure (1006)."""
        if self.state is not WSState.CLOSED:
            self._ws.receive_data(None)

    def next_event(self) -> Event:
        """The next whole message, pong or close; NEED_DATA when more bytes must arrive first.

        Pings are answered (their pongs wait in `data_to_send()`); a close frame from the peer is
        answered likewise (RFC 6455 §5.5.1). Nothing comes after `Closed`.
        """
        if self.state is WSState.CLOSED:
            return NEED_DATA
        ws = self._ws
        for event in ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                data = event.data
                if isinstance(data, str):
                    self._size += len(data) if data.isascii() else len(data.encode())
                else:
                    data = bytes(data)  # already bytes: no copy
                    self._size += len(data)
                if self._size > self.max_message_size:
                    return self._fail(int(CloseReason.MESSAGE_TOO_BIG))
                if not event.message_finished:
                    self._parts.append(data)
                    continue
                self._size = 0
                if self._parts:
                    parts, self._parts = self._parts, []
                    parts.append(data)
                    if isinstance(data, str):
                        return Message("".join(parts))  # type: ignore[arg-type] # all str
                    return Message(b"".join(parts))  # type: ignore[arg-type] # all bytes
                return Message(data)
            if isinstance(event, Ping):
                self._out += ws.send(event.response())
            elif isinstance(event, _WsprotoPong):
                return Pong(bytes(event.payload))
            elif isinstance(event, CloseConnection):
                state = ws.state
                if state is ConnectionState.REMOTE_CLOSING:  # the peer closes: answer in kind
                    self._out += ws.send(event.response())
                elif state is not ConnectionState.CLOSED:  # a frame wsproto rejected
                    return self._fail(int(event.code), event.reason or "")
                self.state = WSState.CLOSED
                return Closed(int(event.code), event.reason or "")
        return NEED_DATA

    def _fail(self, code: int, reason: str = "") -> Closed:
        """RFC 6455 §7.1.7, fail the connection: send a close frame and stop reading."""
        if code == CloseReason.MESSAGE_TOO_BIG:
            reason = f"message larger than {self.max_message_size} bytes"
        if self._ws.state is ConnectionState.OPEN:
            self._out += self._ws.send(CloseConnection(code, reason))
        self.state = WSState.CLOSED
        self._parts.clear()
        return Closed(code, reason)

    def data_to_send(self) -> bytes:
        """Bytes the connection produced by itself (pongs, close answers) since the last call."""
        out, self._out = self._out, b""
        return out

    # ----------------------------------------------------------------- sending

    def send_message(self, data: str | bytes) -> bytes:
        if self.state is not WSState.OPEN:
            raise LocalProtocolError("the WebSocket is closing: no more messages can be sent")
        if isinstance(data, str):
            return self._ws.send(TextMessage(data=data))
        return self._ws.send(BytesMessage(data=data))

    def send_ping(self, payload: bytes) -> bytes:
        if self.state is not WSState.OPEN:
            return b""
        return self._ws.send(Ping(payload=payload))

    def send_close(self, code: int = 1000, reason: str = "") -> bytes:
        """Start the closing handshake (RFC 6455 §7.1.2); b"" if a close was already sent."""
        if type(code) is not int or (code not in _SENDABLE_CODES and not 3000 <= code <= 4999):
            raise LocalProtocolError(f"invalid WebSocket close code {code!r}: use 1000-1014 or 3000-4999")
        if self._ws.state is not ConnectionState.OPEN:
            return b""
        self.state = WSState.CLOSING
        return self._ws.send(CloseConnection(code, reason))
