"""One HTTP/2 stream as the ASGI cycles see it: `H2Stream` implements `_stream.Stream` for one
request on an `H2Protocol` connection (_http2.py). Response data goes out as the stream's and the
connection's windows allow, its buffer bounded by `write_buffer_size`; request data is acknowledged
(WINDOW_UPDATE) only as the app consumes it; a body deadline of its own; RST_STREAM for abort.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from tapster.errors import ClientDisconnected, LocalProtocolError
from tapster.protocol import Request
from tapster.protocol._h2messages import checked_fields
from tapster.protocol._h2messages import response_headers as build_response_headers
from tapster.protocol.http2 import ErrorCode

from ._cycle import RequestCycle
from ._deadline import Deadline
from ._seam import Handle, Waiter
from ._stream import HeaderPairs
from ._websocket import WebSocketCycle

if TYPE_CHECKING:
    from ._http2 import H2Protocol

__all__ = ["H2Stream"]


# Fields that frame the message: never trailers (RFC 9110 §6.5.1).
_NOT_TRAILERS = frozenset((b"content-length", b"content-type", b"host", b"transfer-encoding"))


class H2Stream:
    """One request/response exchange on an HTTP/2 connection (RFC 9113 §5), as a `Stream`."""

    __slots__ = (
        "_body_deadline",
        "_drain",
        "_early",
        "_end_pending",
        "_head_request",
        "_no_body",
        "_pending",
        "_pending_size",
        "_reading_paused",
        "_remaining",
        "_trailer_fields",
        "_unacked",
        "client",
        "closed",
        "conn",
        "cycle",
        "ended",
        "request",
        "scheme",
        "server",
        "sid",
        "state",
        "upgraded",
        "write_paused",
    )

    def __init__(self, conn: H2Protocol, sid: int, request: Request) -> None:
        self.conn = conn
        self.sid = sid
        self.request = request
        self.state = conn.state
        self.client = conn.client
        self.server = conn.server
        self.scheme = conn.scheme
        self.cycle: RequestCycle | WebSocketCycle | None = None
        self.write_paused = conn.transport_paused
        self.closed = False  # reset, or the connection is gone: nothing more is sent
        self.ended = False  # our END_STREAM went out (or is queued behind the pending data)
        self.upgraded = False  # a WebSocket: DATA frames carry its bytes both ways
        self._pending: deque[memoryview] = deque()  # response data waiting for a window (views: no copies)
        self._pending_size = 0
        self._end_pending = False
        self._drain: Waiter | None = None
        self._unacked = 0  # flow-controlled request bytes received, not yet consumed by the app
        self._reading_paused = False
        self._head_request = request.method == b"HEAD"
        self._no_body = False
        self._remaining: int | None = None  # the response's content-length, counting down
        self._trailer_fields: list[tuple[bytes, bytes]] | None = None  # sent after the last DATA
        self._body_deadline: Deadline | None = None
        #: WebSocket bytes that came before the app accepted: handed over by upgrade(). Bounded by
        #: the stream window, which is not reopened until then.
        self._early: list[bytes] = []

    # ----------------------------------------------------------------- fed by the connection

    def data_received(self, data: bytes, flow: int, end: bool) -> None:
        cycle = self.cycle
        if cycle is None:  # refused without calling the app (limit_concurrency): the body is dropped
            self.conn.core.acknowledge(self.sid, flow)
            return
        self._unacked += flow
        if self.upgraded:
            assert isinstance(cycle, WebSocketCycle)
            if not self._reading_paused:
                self._ack()
            if data:
                cycle.data_received(data)
            if end:
                cycle.eof_received()
            return
        if isinstance(cycle, WebSocketCycle):  # (not accepted yet)
            if end:
                self.lost()  # the client gave up before the answer: the app hears a disconnect
            elif data:
                self._early.append(data)
            return
        assert isinstance(cycle, RequestCycle)
        if data:
            cycle.body_received(data)
        if end:
            cycle.body_complete()
            if self._body_deadline is not None:
                self._body_deadline.cancel()
        elif cycle.body_due:
            self._body_timer().set_in(self.state.config.body_timeout)

    def ended_by_peer(self) -> None:
        """END_STREAM without data."""
        cycle = self.cycle
        if isinstance(cycle, WebSocketCycle):
            if self.upgraded:
                cycle.eof_received()
            else:
                self.lost()  # ended before the app accepted
        elif cycle is not None:
            cycle.body_complete()
            if self._body_deadline is not None:
                self._body_deadline.cancel()

    def lost(self) -> None:
        """Reset by the client, or the connection dropped."""
        self.closed = True
        if self._body_deadline is not None:
            self._body_deadline.cancel()
        self._pending.clear()
        self._pending_size = 0
        cycle = self.cycle
        if isinstance(cycle, WebSocketCycle):
            cycle.connection_lost()
        elif cycle is not None:
            cycle.disconnect()
        self._wake_writer()

    def transport_resumed(self) -> None:
        """The socket drained: a writer held only by it (not by its own buffer) may go on."""
        if self._pending_size <= self.state.config.write_buffer_size:
            self.write_paused = False
            self._wake_writer()

    def _body_timer(self) -> Deadline:
        deadline = self._body_deadline
        if deadline is None:
            deadline = self._body_deadline = Deadline(self.state.backend, self._body_timed_out)
        return deadline

    def _body_timed_out(self) -> None:
        cycle = self.cycle
        if self.closed or not isinstance(cycle, RequestCycle):
            return
        cycle.disconnect()
        if cycle.head_written or cycle.response_complete:
            self.abort()
        else:
            self.send_error(408, "the request body was not received in time")

    def _ack(self) -> None:
        if self._unacked and not self.closed:
            self.conn.core.acknowledge(self.sid, self._unacked)
            self._unacked = 0
            self.conn.flush()

    # ----------------------------------------------------------------- the stream interface

    def is_closing(self) -> bool:
        return self.closed or self.ended

    def send_head(self, status: int, headers: HeaderPairs, body: bytes, more: bool) -> None:
        if self.closed or self.conn.transport_gone():
            raise ClientDisconnected("the client reset the stream")
        if type(status) is int and status < 200:
            raise LocalProtocolError(f"invalid response status {status}: a final response is 200..599")
        pairs = build_response_headers(status, headers, self.state.extra_pairs())
        for name, value in pairs:
            if name == b"content-length":
                if not (value.isdigit() and len(value) <= 18) or self._remaining is not None:
                    raise LocalProtocolError(f"invalid or repeated content-length header {value!r}")
                self._remaining = int(value)
        self._no_body = self._head_request or status in (204, 304)
        if self._no_body:
            body = b""
            self._remaining = None
        elif not more and self._remaining is None:
            pairs.append((b"content-length", b"%d" % len(body)))
        core = self.conn.core
        if not more and not body:
            self._check_length(0, False)
            core.send_response(self.sid, pairs, True)
            self._finished()
        else:
            core.send_response(self.sid, pairs, False)
            self._queue(body, more)
        self.conn.flush()

    def send_data(self, data: bytes, more: bool) -> None:
        if self.closed or self.conn.transport_gone():
            raise ClientDisconnected("the client reset the stream")
        if self._no_body:
            data = b""
        self._queue(data, more)
        self.conn.flush()

    def _check_length(self, size: int, more: bool) -> None:
        remaining = self._remaining
        if remaining is None:
            return
        remaining -= size
        if remaining < 0 or (not more and remaining):
            self.abort()
            raise LocalProtocolError(
                "response body longer than its content-length"
                if remaining < 0
                else f"response ended {remaining} bytes short of its content-length"
            )
        self._remaining = remaining

    def _queue(self, data: bytes, more: bool) -> None:
        self._check_length(len(data), more)
        if data:
            self._pending.append(memoryview(data))
            self._pending_size += len(data)
        if not more:
            self._end_pending = True
        self.push()
        if self._pending_size > self.state.config.write_buffer_size:
            self.write_paused = True

    def push(self, limit: int | None = None) -> int:
        """Send what the windows allow (at most `limit` bytes); returns the bytes sent."""
        if self.closed or self.ended:
            return 0
        core = self.conn.core
        sid = self.sid
        sent = 0
        pending = self._pending
        while pending:
            window = core.window(sid)
            if limit is not None:
                window = min(window, limit - sent)
            if window <= 0:
                break
            chunk = pending[0]
            if len(chunk) > window:
                pending[0] = chunk[window:]
                chunk = chunk[:window]
            else:
                pending.popleft()
            self._pending_size -= len(chunk)
            sent += len(chunk)
            trailers = self._trailer_fields is not None
            core.send_data(sid, chunk, self._end_pending and not pending and not trailers)
        if pending:
            self.conn.blocked[sid] = self
        else:
            self.conn.blocked.pop(sid, None)
            if self._end_pending:
                if self._trailer_fields is not None:
                    core.send_headers(sid, self._trailer_fields, True)  # RFC 9113 §8.1: trailers end it
                elif sent == 0:  # no DATA frame carried END_STREAM: an empty one does
                    core.end_stream(sid)
                self._finished()
        if (
            self.write_paused
            and self._pending_size <= self.state.config.write_buffer_size // 2
            and not self.conn.transport_paused
        ):
            self.write_paused = False
            self._wake_writer()
        return sent

    def _finished(self) -> None:
        """Our side is complete: END_STREAM is out."""
        self.ended = True
        self.conn.stream_finished(self)

    def send_continue(self) -> None:
        if not self.closed and not self.ended:
            self.conn.core.send_headers(self.sid, [(b":status", b"100")], False)
            self.conn.flush()

    def send_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        if self.closed or self.ended:
            return
        if type(status) is not int or not 102 <= status <= 199:
            raise LocalProtocolError(f"invalid interim status {status!r}: 102..199 (100 is the server's)")
        self.conn.core.send_headers(self.sid, [(b":status", b"%d" % status), *checked_fields(headers)], False)
        self.conn.flush()

    def send_trailers(self, headers: list[tuple[bytes, bytes]]) -> None:
        if self.closed:
            raise ClientDisconnected("the client reset the stream")
        fields = checked_fields(headers)
        if any(name in _NOT_TRAILERS for name, _ in fields):
            raise LocalProtocolError("content-length and framing fields are not allowed as trailers")
        self._trailer_fields = fields
        self._queue(b"", False)
        self.conn.flush()

    def push_promise(self, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        if self.closed or self.ended or self.sid % 2 == 0:
            return  # (a pushed stream cannot promise more: RFC 9113 §8.4)
        authority = next((v for n, v in self.request.headers if n == b"host"), b"")
        fields = checked_fields(headers)
        pseudo = [
            (b":method", b"GET"),
            (b":scheme", self.scheme.encode()),
            (b":path", path.encode("ascii")),
            (b":authority", authority),
        ]
        promised = self.conn.core.push(self.sid, pseudo + fields)
        if promised is not None:
            raw_path, _, query = path.encode("ascii").partition(b"?")
            request = Request(
                b"GET",
                path.encode("ascii"),
                raw_path,
                query,
                b"2",
                [*fields, (b"host", authority)],
                True,
                False,
                False,
            )
            self.conn.start_pushed(promised, request)
        self.conn.flush()

    def send_error(self, status: int, message: str, headers: bytes = b"") -> None:
        if self.closed or self.ended:
            return
        body = f"{status} {message}\n".encode()
        fields = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))]
        for line in headers.split(b"\r\n"):  # (pre-formatted HTTP/1.1 lines: "name: value")
            name, sep, value = line.partition(b":")
            if sep:
                fields.append((name.strip().lower(), value.strip()))
        try:
            self.send_head(status, fields, body, False)
        except (LocalProtocolError, ClientDisconnected):
            self.abort()

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._pending.clear()
        self._pending_size = 0
        self.conn.blocked.pop(self.sid, None)
        self.conn.core.reset(self.sid, ErrorCode.INTERNAL_ERROR if not self.upgraded else ErrorCode.CANCEL)
        self.conn.flush()
        self.conn.stream_finished(self)
        self._wake_writer()

    def done(self, task: Handle | None) -> None:
        self.conn.task_done(task)
        if not self._end_pending and not self.closed and not self.upgraded:
            # The app's task ended without completing the response (and the cycle said nothing):
            # the stream must not stay open forever. (A WebSocket ends by its close handshake, or
            # by its deadline, after the app has returned.)
            self.abort()

    def body_consumed(self, size: int) -> None:
        self._ack()
        cycle = self.cycle
        if isinstance(cycle, RequestCycle) and cycle.body_due and not self.closed:
            self._body_timer().set_in(self.state.config.body_timeout)

    def body_wanted(self) -> None:
        if not self.closed:
            self._body_timer().set_in(self.state.config.body_timeout)

    async def wait_writable(self) -> None:
        while self.write_paused and not self.closed:
            if self._drain is None:
                self._drain = self.state.backend.create_waiter()
            await self._drain.wait()
        if self.closed:
            raise ClientDisconnected("the client reset the stream")

    def _wake_writer(self) -> None:
        if self._drain is not None:
            self._drain.wake()
            self._drain = None

    def upgrade(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        # RFC 8441 §5: a 2xx answers the extended CONNECT; the stream then carries the WebSocket.
        pairs = build_response_headers(200, headers, self.state.extra_pairs())
        self.conn.core.send_response(self.sid, pairs, False)
        self.upgraded = True
        self.conn.flush()
        self._ack()
        early, self._early = b"".join(self._early), []
        return early

    def write(self, data: bytes) -> None:
        if not self.closed and not self.ended:
            self._queue(data, True)
            self.conn.flush()

    def close(self) -> None:
        if not self.closed and not self.ended:
            self._queue(b"", False)
            self.conn.flush()

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False
        self._ack()
