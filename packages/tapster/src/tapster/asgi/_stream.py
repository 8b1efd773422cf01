"""The stream interface: what the ASGI cycles need from the connection that carries them.

One request and its response (or one WebSocket) is one *stream*. The HTTP/1.1 connection is its own
single stream and keeps keep-alive and pipelining to itself; an HTTP/2 connection carries many
streams, each with its own flow-control window and state. The cycles (`RequestCycle`,
`WebSocketCycle`) are written against this interface only, so they are the same for every HTTP
version; they never touch a connection's private members (STYLE.md #22).

Direction of the calls: the cycle calls the methods below; the stream feeds the cycle through the
cycle's own methods (`body_received`, `body_complete`, `disconnect`, `peer_closed` for a request;
`data_received`, `eof_received`, `connection_lost`, `shutdown` for a WebSocket).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tapster.protocol.proxy import ProxyHeader

    from ._seam import Handle, Transport
    from ._state import ServerState

__all__ = ["Address", "HeaderPairs", "Stream", "address", "endpoints"]

Address = tuple[str, int] | None
HeaderPairs = Iterable[tuple[bytes, bytes]]


def address(value: object) -> Address:
    """ASGI `client`/`server` from a socket address: (host, port) for IP sockets, None for Unix ones."""
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


def endpoints(
    transport: Transport, proxied: ProxyHeader | None, state: ServerState
) -> tuple[Address, Address]:
    """ASGI `client` and `server` of a connection: its socket's addresses, or those its PROXY header
    named when the peer that sent it is trusted (an untrusted peer's header is read and ignored)."""
    client = address(transport.get_extra_info("peername"))
    server = address(transport.get_extra_info("sockname"))
    source = proxied.source if proxied is not None else None
    if source is not None and state.trusted_proxies.trusts(client[0] if client else None):
        assert proxied is not None
        return source, proxied.destination
    return client, server


class Stream(Protocol):
    """One exchange on a connection, as an ASGI cycle sees it."""

    state: ServerState  # config, app, backend and the lifespan state of the server
    client: Address  # ASGI `client`
    server: Address  # ASGI `server`
    scheme: str  # "http" or "https"
    #: The send side is over its high-water mark (transport buffer, or the stream's window and
    #: buffer): a cycle that just sent awaits `wait_writable()`.
    write_paused: bool

    def is_closing(self) -> bool:
        """Nothing more can be sent: the stream or its connection is closed or closing."""
        ...

    # ----------------------------------------------------------------- HTTP responses

    def send_head(self, status: int, headers: HeaderPairs, body: bytes, more: bool) -> None:
        """Send the final response head with the first piece of the body (one write when it fits).
        ``more=False``: `body` is the whole body, the response is complete and the stream done.
        Raises LocalProtocolError, having sent nothing, when the app's status or headers are invalid,
        and ClientDisconnected when the stream or its connection can no longer send."""
        ...

    def send_data(self, data: bytes, more: bool) -> None:
        """Send a piece of the response body; ``more=False`` completes the response (the stream is
        done). Raises LocalProtocolError when the body breaks the framing (content-length), and
        ClientDisconnected when the stream or its connection can no longer send."""
        ...

    def send_continue(self) -> None:
        """The interim `100 Continue` (RFC 9110 §15.2.1), before the final head only."""
        ...

    def send_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        """Another interim response, e.g. `103 Early Hints` (RFC 8297), before the final head."""
        ...

    def send_trailers(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Trailer fields after the body (which was sent with ``more=True``); completes the response
        (the stream is done). Only where the scope's extensions offer `http.response.trailers`."""
        ...

    def push_promise(self, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        """HTTP/2 server push (RFC 9113 §8.4): promise `path` and answer it as a request of its own;
        nothing when the client refused pushes. Only where `http.response.push` is offered."""
        ...

    def send_error(self, status: int, message: str, headers: bytes = b"") -> None:
        """A complete plain-text error response, when no head has been sent; the stream is done
        (on HTTP/1.1 the connection then closes). `headers`: extra pre-formatted HTTP/1.1 lines."""
        ...

    def done(self, task: Handle | None) -> None:
        """The app's `task` for this stream has ended (the response may have completed long before)."""
        ...

    def abort(self) -> None:
        """End the exchange abnormally: a response cut short must never look complete (HTTP/1.1:
        close the connection; HTTP/2: RST_STREAM)."""
        ...

    # ----------------------------------------------------------------- request bodies

    def body_consumed(self, size: int) -> None:
        """The app took `size` bytes of buffered body: room for more (HTTP/1.1: resume reading;
        HTTP/2: WINDOW_UPDATE)."""
        ...

    def body_wanted(self) -> None:
        """The app asked for a body the client holds back until a 100 Continue: its timeout starts."""
        ...

    async def wait_writable(self) -> None:
        """Wait until `write_paused` clears; raises ClientDisconnected if the stream goes away."""
        ...

    # ----------------------------------------------------------------- WebSocket tunnels

    def upgrade(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        """Accept a WebSocket (HTTP/1.1: 101 Switching Protocols; HTTP/2: a 200 to the extended
        CONNECT). From now on the stream's bytes go to the WebSocket cycle's `data_received`.
        Returns the bytes already received that belong to the WebSocket."""
        ...

    def write(self, data: bytes) -> None:
        """Bytes of an upgraded stream (WebSocket frames)."""
        ...

    def close(self) -> None:
        """End an upgraded stream normally, once what was written has gone out."""
        ...

    def pause_reading(self) -> None:
        """Take no more bytes from the peer until `resume_reading()` (back-pressure)."""
        ...

    def resume_reading(self) -> None: ...
