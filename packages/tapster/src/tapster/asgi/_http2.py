"""The HTTP/2 connection: transport callbacks in, one `H2Stream` per request out to the ASGI cycles.

`H2Protocol` has the same transport-callback shape as `H11Protocol`; it is chosen by ALPN after a
TLS handshake, or when a cleartext connection opens with the HTTP/2 preface (prior knowledge), or
after an `Upgrade: h2c`. The sans-I/O `tapster.protocol.http2.H2Connection` does the framing and
the protocol rules; this module owns the streams (`H2Stream` implements `_stream.Stream`), their
tasks, the flow of response data as windows allow (round robin across streams, each stream's
buffer bounded), request-body windows reopened only as the app consumes, timeouts and shutdown.
"""

from __future__ import annotations

from typing import Any

from tapster.protocol import Request
from tapster.protocol.http2 import (
    ConnectionEnded,
    ErrorCode,
    H2Connection,
    StreamData,
    StreamEnded,
    StreamRequest,
    StreamReset,
    WindowOpened,
)
from tapster.protocol.proxy import ProxyHeader
from tapster.protocol.websocket import Handshake, HandshakeError, parse_h2_websocket

from ._cycle import RequestCycle
from ._deadline import Deadline
from ._http2_stream import H2Stream
from ._scope import http_scope
from ._seam import Handle, Transport
from ._state import BUSY_HEADERS, BUSY_MESSAGE, ServerState, error_log
from ._stream import Address, endpoints
from ._websocket import WebSocketCycle

__all__ = ["H2Protocol"]


class H2Protocol:
    """One HTTP/2 connection. Callbacks: connection_made, data_received, eof_received,
    connection_lost, pause_writing, resume_writing; the server calls shutdown() and terminate()."""

    __slots__ = (
        "_closed",
        "_flush_scheduled",
        "_initial",
        "_proxied",
        "_tasks",
        "_upgrade",
        "backend",
        "blocked",
        "client",
        "core",
        "deadline",
        "scheme",
        "server",
        "state",
        "streams",
        "transport",
        "transport_paused",
    )

    def __init__(
        self,
        state: ServerState,
        initial: bytes = b"",
        upgrade: tuple[Request, bytes] | None = None,
        proxied: ProxyHeader | None = None,
    ) -> None:
        self.state = state
        self._proxied = proxied
        self.backend = state.backend
        self.core = H2Connection(state.config.h2_limits)
        self.streams: dict[int, H2Stream] = {}
        #: Streams with response data waiting for a flow-control window, in arrival order.
        self.blocked: dict[int, H2Stream] = {}
        self.transport_paused = False
        self._tasks: set[Handle] = set()
        self._closed = False
        self._flush_scheduled = False
        self._initial = initial
        self._upgrade = upgrade
        self.deadline = Deadline(state.backend, self._timed_out)
        self.client: Address = None
        self.server: Address = None
        self.scheme = "http"

    # ----------------------------------------------------------------- transport callbacks

    def connection_made(self, transport: Transport) -> None:
        self.transport = transport
        self.client, self.server = endpoints(transport, self._proxied, self.state)
        self.scheme = "https" if transport.get_extra_info("ssl_object") is not None else "http"
        transport.set_write_buffer_limits(high=self.state.config.write_buffer_size)
        self.state.connections.add(self)
        upgrade = self._upgrade
        self.core.initiate(None if upgrade is None else upgrade[1])
        self.flush()
        if upgrade is not None:
            self._upgrade = None
            self._start_stream(StreamRequest(1, upgrade[0], True))
        if self.state.draining:
            self.shutdown()
        self._idle()
        if self._initial:
            data, self._initial = self._initial, b""
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        for event in self.core.receive_data(data, self.backend.now()):
            if self._closed:
                break  # a connection error among the events: nothing after it is served
            if isinstance(event, StreamData):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.data_received(event.data, event.flow, event.end_stream)
                else:
                    self.core.acknowledge(event.stream_id, event.flow)
            elif isinstance(event, StreamRequest):
                self._start_stream(event)
            elif isinstance(event, StreamEnded):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.ended_by_peer()
            elif isinstance(event, WindowOpened):
                self._window_opened(event.stream_id)
            elif isinstance(event, StreamReset):
                stream = self.streams.pop(event.stream_id, None)
                self.blocked.pop(event.stream_id, None)
                if stream is not None:
                    stream.lost()
            elif isinstance(event, ConnectionEnded):
                self._connection_ended(event)
        self._flush_now()
        self._idle()

    def eof_received(self) -> bool:
        return False  # the client is done: close (in-flight responses have nobody to read them)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lose_streams()
        self.state.connection_closed(self)

    def pause_writing(self) -> None:
        self.transport_paused = True
        for stream in self.streams.values():
            stream.write_paused = True

    def resume_writing(self) -> None:
        self.transport_paused = False
        for stream in list(self.streams.values()):
            stream.transport_resumed()

    # ----------------------------------------------------------------- server control

    def shutdown(self) -> None:
        """Graceful: GOAWAY naming the last stream taken; those finish, then the connection closes."""
        self.core.goaway("server shutting down")
        for stream in self.streams.values():
            if isinstance(stream.cycle, WebSocketCycle):
                stream.cycle.shutdown()
        self.flush()
        if not self.streams:
            self._close()

    def census(self) -> tuple[int, int, int]:
        """(HTTP/2 streams, open WebSockets, app calls running) on this connection, for the
        metrics gauges."""
        websockets = 0
        for stream in self.streams.values():
            cycle = stream.cycle
            if isinstance(cycle, WebSocketCycle) and cycle.accepted:
                websockets += 1
        return len(self.streams), websockets, len(self._tasks)

    def terminate(self) -> None:
        """The shutdown deadline passed: cancel the apps and drop the connection."""
        for task in list(self._tasks):
            task.cancel()
        self._closed = True
        self.deadline.cancel()
        self.transport.abort()

    # ----------------------------------------------------------------- streams

    def _start_stream(self, event: StreamRequest) -> None:
        request = event.request
        stream = H2Stream(self, event.stream_id, request)
        self.streams[event.stream_id] = stream
        self.deadline.when = None
        if request.method == b"CONNECT":
            self._start_connect(stream, event)
            return
        extensions: dict[str, Any] = {"http.response.early_hint": {}}
        if event.te_trailers:
            extensions["http.response.trailers"] = {}
        if self.core.push_enabled:
            extensions["http.response.push"] = {}
        cycle = RequestCycle(stream, http_scope(stream, request, extensions), request)
        if request.has_body and not request.expect_continue:
            stream.body_wanted()  # the body is due now: its deadline runs
        self._run(stream, cycle)

    def start_pushed(self, sid: int, request: Request) -> None:
        """Answer a promised request (server push) as if the client had sent it."""
        stream = H2Stream(self, sid, request)
        self.streams[sid] = stream
        self._run(stream, RequestCycle(stream, http_scope(stream, request, {}), request))

    def _start_connect(self, stream: H2Stream, event: StreamRequest) -> None:
        if event.protocol != b"websocket":
            # RFC 9113 §8.5 CONNECT (a tunnel through a proxy), or a protocol we do not speak.
            stream.send_error(501, "CONNECT is only served for WebSockets (RFC 8441)")
            return
        try:
            handshake: Handshake = parse_h2_websocket(event.request)
        except HandshakeError as exc:
            error_log.debug("rejected WebSocket over HTTP/2 from %s: %s", self.client, exc)
            stream.send_error(exc.status_hint, str(exc))
            return
        self._run(stream, WebSocketCycle(stream, event.request, handshake))

    def _run(self, stream: H2Stream, cycle: RequestCycle | WebSocketCycle) -> None:
        """`cycle` serves `stream`: its app runs in a task of its own, owned by the connection;
        or, over limit_concurrency, the stream gets a 503 and the app is not called."""
        state = self.state
        if state.limit_concurrency is not None and not state.admit():
            state.refuse_busy(stream.request, self.client)
            stream.send_error(503, BUSY_MESSAGE, BUSY_HEADERS)
            return
        stream.cycle = cycle
        run = cycle.run()
        task = self.backend.spawn(run if state.limit_concurrency is None else state.counted(run))
        self._tasks.add(task)
        cycle.task = task

    def transport_gone(self) -> bool:
        return self._closed or self.transport.is_closing()

    def stream_finished(self, stream: H2Stream) -> None:
        """Our side of `stream` is over (END_STREAM or RST_STREAM queued)."""
        if self.streams.get(stream.sid) is stream:
            del self.streams[stream.sid]
            self.core.stream_done(stream.sid)
        self.blocked.pop(stream.sid, None)
        if not self.streams:
            if self.core.going_away:
                self._close()
            else:
                # The last open stream: no other answer can join this write, so it leaves now
                # rather than a loop iteration later (a client waiting on one stream at a time).
                self._flush_now()
                self._idle()

    def task_done(self, task: Handle | None) -> None:
        if task is not None:
            self.state.call_ended(self, self._tasks, task)

    def running(self) -> bool:
        """App calls of this connection are still running."""
        return bool(self._tasks)

    def _window_opened(self, sid: int) -> None:
        if sid:
            stream = self.blocked.get(sid)
            if stream is not None:
                stream.push()
            return
        # The connection's window: share it round robin, a frame at a time (no stream starves).
        frame = self.core.max_frame_size
        while self.blocked:
            progress = 0
            for stream in list(self.blocked.values()):
                progress += stream.push(frame)
            if not progress:
                break

    def _connection_ended(self, event: ConnectionEnded) -> None:
        if event.remote and event.code == ErrorCode.NO_ERROR:
            # The client opens no more streams; those it opened are still answered (RFC 9113 §6.8).
            self.core.goaway()
            if not self.streams:
                self._close()
            return
        if not event.remote:
            error_log.debug("HTTP/2 connection error with %s: %s", self.client, event.message)
        self._close()

    # ----------------------------------------------------------------- writing and closing

    def flush(self) -> None:
        """Write what the protocol has queued: once per loop iteration at most, so the responses of
        many streams answered in one iteration leave in one write (one system call)."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.backend.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_scheduled = False
        data = self.core.data_to_send()
        # (is_closing: the peer may have closed the transport before connection_lost reaches us;
        # writing then only makes the TLS transport log "SSL connection is closed".)
        if data and not self._closed and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        if self._closed:
            return
        self._flush_now()
        self._lose_streams()
        self.transport.close()

    def _lose_streams(self) -> None:
        """The connection is over: every stream's app hears of it, and no timer keeps it alive."""
        self._closed = True
        self.deadline.cancel()
        for stream in list(self.streams.values()):
            stream.lost()
        self.streams.clear()
        self.blocked.clear()

    def _idle(self) -> None:
        """No stream open: the connection may idle for keep_alive_timeout, then it is closed."""
        if not self.streams and not self._closed and self.deadline.when is None:
            self.core.release()
            self.deadline.set_in(self.state.config.keep_alive_timeout)

    def _timed_out(self) -> None:
        if self._closed or self.streams:
            return
        self.core.goaway("idle")
        self._close()
