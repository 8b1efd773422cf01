"""The HTTP/1.1 connection: transport callbacks in, one stream at a time out to the ASGI cycles.

`H11Protocol` has the shape of an ``asyncio.Protocol`` (the asyncio backend hands it to the loop as
is; the trio backend calls the same methods from its reader and writer). It is also the `Stream`
(`_stream.py`) of the request it is answering: HTTP/1.1 carries one exchange at a time, so the
connection is its own stream, and keep-alive, pipelining and read-ahead stay in here. One
`RequestCycle` (or `WebSocketCycle`) per request runs the app in its own task; the connection owns
the tasks and cancels them when it is terminated.
"""

from __future__ import annotations

import logging

from tapster.errors import ClientDisconnected, LocalProtocolError, RemoteProtocolError
from tapster.protocol import NEED_DATA, PAUSED, Data, EndOfMessage, H2Preface, H11Connection, Request, State
from tapster.protocol.proxy import ProxyHeader
from tapster.protocol.websocket import HandshakeError, parse_upgrade, switching_protocols

from ._cycle import RequestCycle
from ._deadline import Deadline
from ._scope import http_scope
from ._seam import Handle, Transport, Waiter
from ._state import BUSY_HEADERS, BUSY_MESSAGE, ServerState, error_log
from ._stream import Address, HeaderPairs, endpoints
from ._websocket import WebSocketCycle

__all__ = ["H11Protocol"]

_SWITCH_TO_H2C = b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"


class H11Protocol:
    """One HTTP/1.1 connection. Callbacks: connection_made, data_received, eof_received,
    connection_lost, pause_writing, resume_writing; the server calls shutdown() and terminate()."""

    __slots__ = (
        "_closed",
        "_drain",
        "_head_started",
        "_lingering",
        "_paused_reading",
        "_tasks",
        "_upgraded",
        "_upgraded_eof",
        "backend",
        "client",
        "conn",
        "cycle",
        "deadline",
        "proxied",
        "scheme",
        "server",
        "state",
        "transport",
        "websocket",
        "write_paused",
    )

    def __init__(self, state: ServerState, proxied: ProxyHeader | None = None) -> None:
        self.state = state
        self.proxied = proxied  # the PROXY header the connection opened with, on listeners that take one
        self.backend = state.backend
        self.conn = H11Connection(state.limits, h2_preface=state.config.http2)
        self.cycle: RequestCycle | None = None
        self._tasks: set[Handle] = set()
        self._closed = False
        self.write_paused = False
        self._drain: Waiter | None = None
        self._paused_reading = False
        #: Idle keep-alive, request head, request body and linger timeouts, one at a time.
        self.deadline = Deadline(state.backend, self._timed_out)
        self._head_started = False
        self._lingering = False
        self._upgraded_eof = False  # the peer of an upgraded connection closed its side
        self.websocket: WebSocketCycle | None = None  # an upgrade request, until the connection ends
        self._upgraded: WebSocketCycle | None = None  # the same, once accepted: it takes every byte

    # ----------------------------------------------------------------- transport callbacks

    def connection_made(self, transport: Transport) -> None:
        self.transport = transport
        self.client: Address
        self.server: Address
        self.client, self.server = endpoints(transport, self.proxied, self.state)
        tls = transport.get_extra_info("ssl_object")
        self.scheme = "https" if tls is not None else "http"
        if tls is not None and tls.selected_alpn_protocol() == "h2":
            self._closed = True
            self._hand_over_to_h2(transport, b"")  # RFC 9113 §3.2: chosen by ALPN
            return
        transport.set_write_buffer_limits(high=self.state.config.write_buffer_size)
        self.state.connections.add(self)
        if self.state.draining and self.state.close_idle:
            self._close()
            return
        # Nothing received yet: idle until the first byte, then the head timeout runs.
        self.deadline.set(self.backend.now() + self.state.config.keep_alive_timeout)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return  # lingering after an error: what still arrives is discarded
        if self._upgraded is not None:
            self._upgraded.data_received(data)
            return
        try:
            self.conn.receive_data(data)
        except RemoteProtocolError:
            self._close()
            return
        self._process()

    def eof_received(self) -> bool:
        if self._lingering:
            self.transport.close()
            return False
        if self._upgraded is not None:
            self._upgraded_eof = True
            self._upgraded.eof_received()
            return False
        self.conn.receive_data(b"")
        self._process()
        # Keep the transport open (half-closed) while a response is still owed.
        return self.cycle is not None and not self._closed

    def connection_lost(self, exc: BaseException | None) -> None:
        self._closed = True
        self.deadline.cancel()  # release the connection now, not when the timer fires
        cycle = self.cycle
        if cycle is not None:
            cycle.disconnect()
        if self.websocket is not None:
            self.websocket.connection_lost()
        if self._drain is not None:
            self._drain.wake()
            self._drain = None
        self.state.connection_closed(self)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._drain is not None:
            self._drain.wake()
            self._drain = None

    # ----------------------------------------------------------------- server control

    def shutdown(self) -> None:
        """Graceful: close now if idle, else let the current response finish and close after it.
        Retiring (`state.close_idle` false), an idle connection stays for one more request, which
        `_start_cycle` answers with `connection: close`, or until its keep-alive timeout."""
        if self.websocket is not None:
            self.websocket.shutdown()  # close 1001 (going away)
        elif self.cycle is None:
            if self.state.close_idle:
                self._close()
        elif self.state.close_idle or not self.cycle.head_written:
            self.conn.response_keep_alive = False

    def terminate(self) -> None:
        """The shutdown deadline passed: cancel the app and drop the connection."""
        for task in list(self._tasks):
            task.cancel()
        self._closed = True
        self.deadline.set(None)
        self.transport.abort()

    def census(self) -> tuple[int, int, int]:
        """(HTTP/2 streams, open WebSockets, app calls running) on this connection, for the
        metrics gauges."""
        websocket = self.websocket
        return 0, int(websocket is not None and websocket.accepted), len(self._tasks)

    def _hand_over_to_h2(self, transport: Transport, data: bytes) -> None:
        """This connection speaks HTTP/2: its protocol takes the transport (and `data`, received)."""
        from ._http2 import H2Protocol  # (imports h2: a server that never sees HTTP/2 never loads it)

        h2 = H2Protocol(self.state, data, proxied=self.proxied)
        transport.set_protocol(h2)
        h2.connection_made(transport)

    # ----------------------------------------------------------------- reading

    def _process(self) -> None:
        conn = self.conn
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                self._reject(exc)
                return
            if event is NEED_DATA:
                cycle = self.cycle
                if cycle is not None:
                    # Waiting for more of the body: it must make progress within body_timeout.
                    # (Only here, not per Data event: a body that is already in costs no clock read.)
                    if cycle.body_due and not self._paused_reading:
                        self.deadline.set(self.backend.now() + self.state.config.body_timeout)
                elif not self._head_started and conn.buffered:
                    # RFC 9112 §9.3 idle ends with the first byte; the head must arrive in time.
                    self._head_started = True
                    self.deadline.set(self.backend.now() + self.state.config.head_timeout)
                break
            if event is PAUSED:
                if conn.buffered > self.state.limits.max_pipelined and not self._paused_reading:
                    self._paused_reading = True
                    self.transport.pause_reading()
                break
            if isinstance(event, Data):
                cycle = self.cycle
                assert cycle is not None
                cycle.body_received(event.data)
                if cycle.buffered > self.state.config.max_body_buffer and not self._paused_reading:
                    # The app is not keeping up: stop reading until it consumes (flow control).
                    self._paused_reading = True
                    self.transport.pause_reading()
                    self.deadline.when = None
            elif isinstance(event, Request):
                self._start_cycle(event)
            elif isinstance(event, EndOfMessage):
                assert self.cycle is not None
                self.cycle.body_complete()
                self.deadline.when = None
            elif isinstance(event, H2Preface):  # (only when HTTP/2 is on)
                self.state.connections.discard(self)
                self._closed = True
                self.deadline.cancel()
                self._hand_over_to_h2(self.transport, event.data)
                return
            else:  # ConnectionClosed: the client closed or half-closed its side
                if self.cycle is not None:
                    # A response is owed: keep the socket open to write it (a half-closed client
                    # still reads), but tell an app that listens for the client leaving.
                    self.cycle.peer_closed()
                else:
                    self._close()
                break

    def _start_cycle(self, request: Request) -> None:
        self._head_started = False
        if self.state.draining:
            self.conn.response_keep_alive = False  # the last request on a retiring server's connection
        if request.upgrade and (self._start_websocket(request) or self._start_h2c(request)):
            return
        state = self.state
        if state.limit_concurrency is not None and not state.admit():
            self._refuse_busy(request)
            return
        cycle = RequestCycle(self, http_scope(self, request), request)
        self.cycle = cycle
        # No deadline while the app works; a body still to come gets one when reading finds it
        # missing (NEED_DATA in _process). With "Expect: 100-continue" the client may wait for the
        # 100 first (RFC 9110 §10.1.1): that body is due only once the app asks (body_wanted()).
        self.deadline.when = None
        run = cycle.run()
        task = self.backend.spawn(run if state.limit_concurrency is None else state.counted(run))
        self._tasks.add(task)
        cycle.task = task

    def _start_websocket(self, request: Request) -> bool:
        """Start a WebSocket cycle if `request` is a WebSocket upgrade; False to serve it as HTTP."""
        try:
            handshake = parse_upgrade(request)
        except HandshakeError as exc:
            error_log.debug("rejected WebSocket upgrade from %s: %s", self.client, exc)
            self._write_error(exc.status_hint, str(exc), exc.headers)
            return True
        if handshake is None:
            return False
        state = self.state
        if state.limit_concurrency is not None and not state.admit():
            self._refuse_busy(request)
            return True
        # No HTTP after this request: it becomes a WebSocket, or its refusal ends the connection.
        self.conn.response_keep_alive = False
        cycle = WebSocketCycle(self, request, handshake)
        self.websocket = cycle
        self.deadline.when = None  # the app takes its time to accept, like any response
        run = cycle.run()
        task = self.backend.spawn(run if state.limit_concurrency is None else state.counted(run))
        self._tasks.add(task)
        cycle.task = task
        return True

    def _start_h2c(self, request: Request) -> bool:
        """Continue in HTTP/2 if `request` asks to (RFC 7540 §3.2): 101, then the request is answered
        as stream 1. Not over TLS (ALPN decides there), and not for a request with a body, which stays
        on HTTP/1.1 (the body would have to be read before the switch)."""
        if not self.state.config.http2 or self.scheme != "http" or request.has_body:
            return False
        from tapster.protocol._h2messages import parse_h2c_upgrade  # (no h2 import for HTTP/1.1 alone)

        try:
            upgrade = parse_h2c_upgrade(request)
        except RemoteProtocolError as exc:
            self._write_error(exc.status_hint, str(exc))
            return True
        if upgrade is None:
            return False
        h2_request, settings = upgrade
        self.transport.write(_SWITCH_TO_H2C)
        rest = self.conn.switch_protocols()
        self.state.connections.discard(self)
        self._closed = True
        self.deadline.cancel()
        from ._http2 import H2Protocol  # (imports h2: only once a connection speaks HTTP/2)

        h2 = H2Protocol(self.state, rest, upgrade=(h2_request, settings), proxied=self.proxied)
        self.transport.set_protocol(h2)
        h2.connection_made(self.transport)
        return True

    def _refuse_busy(self, request: Request) -> None:
        """limit_concurrency reached: 503 with Retry-After, without calling the app; the connection
        closes after it (a client told to come back later should not hold a connection meanwhile)."""
        self.state.refuse_busy(request, self.client)
        self._write_error(503, BUSY_MESSAGE, BUSY_HEADERS)

    def _reject(self, exc: RemoteProtocolError) -> None:
        """A malformed request: answer with the status the protocol named, then close."""
        cycle = self.cycle
        if cycle is not None:
            # Broken body: the app sees a disconnect; answer only if it had not started a response.
            cycle.disconnect()
            if cycle.head_written:
                self._close()
                return
        error_log.debug("rejected request from %s: %s", self.client, exc)
        self._write_error(exc.status_hint, str(exc))

    def _write_error(self, status: int, message: str, headers: bytes = b"") -> None:
        if self._closed:
            return
        try:
            data = self.conn.error_response(status, message, self.state.extra_headers() + headers)
        except LocalProtocolError:
            self._close()
            return
        self.transport.write(data)
        self._close()

    # ----------------------------------------------------------------- the stream (_stream.Stream)

    def is_closing(self) -> bool:
        return self._closed or self.transport.is_closing()

    def send_head(self, status: int, headers: HeaderPairs, body: bytes, more: bool) -> None:
        if self.transport.is_closing():
            raise ClientDisconnected("the client closed the connection")
        conn = self.conn
        data = conn.response_head(status, headers, self.state.extra_headers(), None if more else body)
        if more:
            if body:
                data += conn.response_body(body, True)
            if not self._closed:
                self.transport.write(data)
            return
        if not self._closed:
            self.transport.write(data)
        self._response_done()

    def send_data(self, data: bytes, more: bool) -> None:
        if self.transport.is_closing():
            raise ClientDisconnected("the client closed the connection")
        out = self.conn.response_body(data, more)
        if out and not self._closed:
            self.transport.write(out)
        if not more:
            self._response_done()

    def send_continue(self) -> None:
        if not self._closed:
            self.transport.write(self.conn.informational_continue())

    # Never offered over HTTP/1.1 (the cycle checks the scope's extensions first): browsers act on
    # 103 Early Hints over HTTP/2 only, and some HTTP/1.1 clients mishandle an extra 1xx response.
    def send_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        raise LocalProtocolError("interim responses other than 100 are not served over HTTP/1.1")

    def send_trailers(self, headers: list[tuple[bytes, bytes]]) -> None:
        raise LocalProtocolError("response trailers are not served over HTTP/1.1")

    def push_promise(self, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        raise LocalProtocolError("server push is HTTP/2 only")

    def send_error(self, status: int, message: str, headers: bytes = b"") -> None:
        self._write_error(status, message, headers)
        self._response_done()

    def abort(self) -> None:
        if self._upgraded is not None:
            # A WebSocket that must end now (its close went unanswered): nothing left to flush.
            self._closed = True
            self.deadline.set(None)
            self.transport.abort()
        else:
            self._close()  # the client sees the response end early, never a corrupt message

    def done(self, task: Handle | None) -> None:
        if task is not None:
            self.state.call_ended(self, self._tasks, task)

    def running(self) -> bool:
        """App calls of this connection are still running."""
        return bool(self._tasks)

    def body_consumed(self, size: int) -> None:
        if self._paused_reading and not self._closed:
            self._paused_reading = False
            self.transport.resume_reading()
            self.deadline.when = None
            cycle = self.cycle
            # Only a body still to come can stall: once it is all here the app may take its time.
            if cycle is not None and cycle.body_due:
                self.deadline.set(self.backend.now() + self.state.config.body_timeout)

    def body_wanted(self) -> None:
        if not self._closed and not self._paused_reading and self.deadline.when is None:
            self.deadline.set(self.backend.now() + self.state.config.body_timeout)

    async def wait_writable(self) -> None:
        while self.write_paused and not self._closed:
            if self._drain is None:
                self._drain = self.backend.create_waiter()
            await self._drain.wait()
        if self._closed:
            raise ClientDisconnected("the client closed the connection")

    def upgrade(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        self.write(switching_protocols(self.state.extra_headers(), headers))
        self._upgraded = self.websocket
        if self._paused_reading:  # the HTTP side paused on read-ahead during the handshake
            self._paused_reading = False
            self.transport.resume_reading()
        return self.conn.switch_protocols()

    def write(self, data: bytes) -> None:
        if not self._closed:
            self.transport.write(data)

    def close(self) -> None:
        self._close()

    def pause_reading(self) -> None:
        if not self._closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self._closed:
            self.transport.resume_reading()

    # ----------------------------------------------------------------- the end of an exchange

    def _response_done(self) -> None:
        """The response is complete: reuse the connection for the next request, or close it."""
        self.cycle = None
        if self._closed:
            return
        conn = self.conn
        # Retiring, a response whose head promised keep-alive (it left before the retirement) does
        # not end with a close its client cannot expect: the connection idles, and its next
        # request is answered with `connection: close` (see shutdown()).
        if not conn.reuse() or (self.state.draining and self.state.close_idle):
            self._close()
            return
        self.deadline.set(self.backend.now() + self.state.config.keep_alive_timeout)
        if self._paused_reading:
            self._paused_reading = False
            self.transport.resume_reading()
        if conn.buffered or conn.peer_eof:
            self._process()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        conn = self.conn
        client = conn.client_state
        if self._upgraded is not None:
            # A WebSocket: the peer may still be sending (frames behind one that failed the
            # connection, or crossing our close frame); closing with them unread would reset the
            # connection and could destroy the frames we sent last.
            still_sending = not self._upgraded_eof
        else:
            still_sending = (
                client is State.BODY
                or client is State.ERROR
                or (client is State.IDLE and (conn.buffered > 0 or self._head_started))
            )
        if still_sending and not conn.peer_eof and self.transport.can_write_eof():
            # Closing with unread input makes the kernel reset the connection, which can destroy
            # our answer before the client reads it (RFC 9112 §9.6). Half-close instead, discard
            # what still arrives, and close at the client's EOF or after linger_timeout.
            self._lingering = True
            self.transport.write_eof()
            if self._paused_reading:
                self._paused_reading = False
                self.transport.resume_reading()
            self.deadline.set(self.backend.now() + self.state.config.linger_timeout)
            return
        self.deadline.set(None)
        self.transport.close()

    # ----------------------------------------------------------------- timers

    def _timed_out(self) -> None:
        if self._lingering:
            self.transport.close()
            return
        if self._closed:
            return
        cycle = self.cycle
        if cycle is None:
            if self.conn.buffered or self._head_started:
                self._write_error(408, "the request head was not received in time")
            else:
                self._close()  # idle keep-alive connection
            return
        # The request body stalled.
        cycle.disconnect()
        if cycle.head_written or cycle.response_complete:
            self._close()
        else:
            self._write_error(408, "the request body was not received in time")


logging.getLogger("tapster").addHandler(logging.NullHandler())
