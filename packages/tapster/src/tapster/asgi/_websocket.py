"""One WebSocket seen from the app: the ASGI `websocket` scope's `receive` and `send`, and its task.

Written against the stream interface (`_stream.Stream`) only. A connection starts a `WebSocketCycle`
for a WebSocket request (an HTTP/1.1 upgrade, or an HTTP/2 extended CONNECT). Until the app accepts,
the request is plain HTTP (the app may still deny it with an HTTP response); from `websocket.accept`
on, the stream hands every byte to this cycle, which feeds the sans-I/O `WebSocketConnection` and
keeps the pings, the close handshake (on its own deadline) and the bounded message queue.
"""

from __future__ import annotations

import enum
from collections import deque
from time import perf_counter
from typing import TYPE_CHECKING, Any

from tapster._access import escape_for_log
from tapster.errors import ClientDisconnected, LocalProtocolError
from tapster.protocol import NEED_DATA, Request
from tapster.protocol.websocket import Closed, Handshake, Message, Pong, WebSocketConnection, negotiate

from ._deadline import Deadline
from ._scope import websocket_scope
from ._seam import Handle, Waiter
from ._state import error_log
from ._types import Message as ASGIMessage

if TYPE_CHECKING:
    from ._stream import Stream

__all__ = ["WebSocketCycle"]

_CONNECT: dict[str, Any] = {"type": "websocket.connect"}
_ABNORMAL = 1006  # RFC 6455 §7.1.5: the connection closed without a close frame
_GOING_AWAY = 1001  # RFC 6455 §7.4.1: the server is going down
_INTERNAL_ERROR = 1011


class Phase(enum.Enum):
    CONNECTING = "CONNECTING"  # the app decides: accept, close (403) or an HTTP response
    RESPONSE = "RESPONSE"  # the app is sending an HTTP response instead (websocket.http.response)
    OPEN = "OPEN"  # accepted: messages both ways
    CLOSING = "CLOSING"  # we sent a close frame, the peer's answer is due within ws_ping_timeout
    CLOSED = "CLOSED"  # over: the close handshake completed, the connection failed or dropped

    __hash__ = object.__hash__


class WebSocketCycle:
    """One WebSocket: the ASGI `receive` and `send` callables and the app task that uses them."""

    __slots__ = (
        "_closed",
        "_connect_sent",
        "_deferred",
        "_going_away",
        "_held",
        "_held_size",
        "_idle",
        "_ping_count",
        "_ping_payload",
        "_queue",
        "_reading_paused",
        "_response_headers",
        "_response_sent",
        "_response_status",
        "_waiter",
        "deadline",
        "handshake",
        "head_written",
        "phase",
        "request",
        "scope",
        "started",
        "stream",
        "task",
        "ws",
    )

    def __init__(self, stream: Stream, request: Request, handshake: Handshake) -> None:
        self.stream = stream
        self.request = request
        self.handshake = handshake
        self.scope = websocket_scope(stream, request, list(handshake.subprotocols))
        self.phase = Phase.CONNECTING
        self.ws: WebSocketConnection | None = None
        self.task: Handle | None = None
        self.head_written = False
        #: Pings, the pong timeout and the close-handshake timeout (armed once accepted).
        self.deadline = Deadline(stream.state.backend, self._timed_out)
        self._queue: deque[str | bytes] = deque()
        self._deferred: Closed | None = None  # a close held back until the app takes the queue
        self._closed: tuple[int, str] | None = None  # (code, reason) the app gets in websocket.disconnect
        self._connect_sent = False
        self._going_away = False
        self._held: list[bytes] | None = None  # frames sent by the app, written together soon
        self._held_size = 0
        # Frees a compressing websocket's zlib state once it has been quiet for a while.
        self._idle: Deadline | None = None
        self._reading_paused = False
        self._ping_payload: bytes | None = None  # the ping whose pong is awaited
        self._ping_count = 0
        self._waiter: Waiter | None = None
        self._response_status = 0
        self._response_headers: Any = ()
        self._response_sent = 0  # body bytes of the app's HTTP response to the handshake
        state = stream.state
        #: When the handshake request was in, for the access log and metrics only (perf_counter).
        self.started = perf_counter() if state.observer is not None else 0.0

    @property
    def accepted(self) -> bool:
        """Accepted and not over yet (open, or closing)."""
        return self.phase is Phase.OPEN or self.phase is Phase.CLOSING

    # ----------------------------------------------------------------- fed by the stream

    def data_received(self, data: bytes) -> None:
        assert self.ws is not None
        self.ws.receive_data(data)
        self._pump()

    def eof_received(self) -> None:
        assert self.ws is not None
        self.ws.receive_eof()
        self._pump()

    def connection_lost(self) -> None:
        """The stream is gone (the connection dropped, or the stream was reset)."""
        if self._closed is None:
            self._closed = (_ABNORMAL, "")
        self.phase = Phase.CLOSED
        self.deadline.cancel()
        if self._idle is not None:
            self._idle.cancel()
        self._wake()

    def shutdown(self) -> None:
        """The server is going down: close with 1001 (going away), now or as soon as accepted."""
        if self.phase is Phase.OPEN:
            self._start_close(_GOING_AWAY, "server shutting down")
        else:
            self._going_away = True

    def _timed_out(self) -> None:
        """The deadline passed: a ping is due, a pong or a close answer is overdue."""
        stream = self.stream
        config = stream.state.config
        if self._close_deferred():
            return
        if self.phase is Phase.CLOSING:
            error_log.debug("WebSocket close from %s not answered in time", stream.client)
            self._finish(_ABNORMAL, "", abort=True)
        elif self.phase is not Phase.OPEN:
            return
        elif self._ping_payload is not None:
            error_log.info(
                "WebSocket ping to %s not answered within %ss", stream.client, config.ws_ping_timeout
            )
            self._fail(_INTERNAL_ERROR, "keepalive ping timeout")
        else:
            assert self.ws is not None
            self._ping_count += 1
            self._ping_payload = b"%d" % self._ping_count
            self._write(self.ws.send_ping(self._ping_payload))
            self.deadline.set_in(config.ws_ping_timeout)

    def _pump(self) -> None:
        """Turn received bytes into queued messages, until the queue is full (then stop reading)."""
        if self._deferred is not None:
            return  # a close waits for the app (what still arrives is ignored, the close kept back)
        ws = self.ws
        assert ws is not None
        stream = self.stream
        queue = self._queue
        limit = stream.state.config.ws_max_queue
        while True:
            if len(queue) >= limit:
                # The app is not keeping up: leave the rest in the buffer and stop reading (TCP pushes back).
                if not self._reading_paused:
                    self._reading_paused = True
                    stream.pause_reading()
                break
            event = ws.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, Message):
                queue.append(event.data)
                self._wake()
                if self._idle is not None:
                    self._idle.set_in(stream.state.config.ws_deflate_idle_timeout)
            elif isinstance(event, Closed):
                if queue and self.phase is Phase.OPEN:
                    # Messages received before the close still wait for the app: it takes them,
                    # and may answer them, before the close frame goes out (at its next receive(),
                    # or after ws_ping_timeout at the latest).
                    self._deferred = event
                    self.deadline.set_in(stream.state.config.ws_ping_timeout)
                    return
                out = ws.data_to_send()
                if out:
                    self._write(out)
                self._finish(event.code, event.reason)
                return
            elif isinstance(event, Pong) and event.payload == self._ping_payload:
                self._ping_payload = None
                if self.phase is Phase.OPEN:  # (while CLOSING, the close timeout stands)
                    interval = stream.state.config.ws_ping_interval
                    if interval:
                        self.deadline.set_in(interval)
                    else:
                        self.deadline.set(None)
        out = ws.data_to_send()
        if out:
            self._write(out)

    def _finish(self, code: int, reason: str, *, abort: bool = False) -> None:
        """The WebSocket is over: the app hears (code, reason) once the queue is drained; the stream
        ends (abort: at once, dropping what is unsent)."""
        if self._closed is None:
            self._closed = (code, reason)
        self.phase = Phase.CLOSED
        self.deadline.cancel()
        if self._idle is not None:
            self._idle.cancel()
        self._wake()
        if abort:
            self.stream.abort()
        else:
            self.stream.close()

    def _fail(self, code: int, reason: str) -> None:
        """RFC 6455 §7.1.7: send a close frame and end the stream without waiting for an answer."""
        assert self.ws is not None
        self._write(self.ws.send_close(code, reason))
        self._finish(code, reason)

    def _start_close(self, code: int, reason: str) -> None:
        """RFC 6455 §7.1.2: send a close frame; the stream ends at the answer or the timeout."""
        if self._close_deferred():  # the peer's close (or a failure) came first: that one goes out
            return
        assert self.ws is not None
        stream = self.stream
        self._write(self.ws.send_close(code, reason))
        self.phase = Phase.CLOSING
        self.deadline.set_in(stream.state.config.ws_ping_timeout)

    def _close_deferred(self) -> bool:
        """Send the close that waited for the app to take the messages before it; False if none."""
        event = self._deferred
        if event is None:
            return False
        self._deferred = None
        assert self.ws is not None
        out = self.ws.data_to_send()
        if out:
            self._write(out)
        self._finish(event.code, event.reason)
        return True

    def _release(self) -> None:
        """Quiet for ws_deflate_idle_timeout: free the compression state (and let the allocator
        give it back to the system)."""
        if self.ws is not None:
            self.ws.release()
            self.stream.state.memory_freed()

    def _write(self, data: bytes) -> None:
        """Write `data` after any frames held back (one write for all)."""
        held = self._held
        if held is not None:
            self._held = None
            held.append(data)
            data = b"".join(held)
        self.stream.write(data)

    def _write_held(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self.stream.is_closing():
                self.stream.write(b"".join(held))

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.wake()
            self._waiter = None

    # ----------------------------------------------------------------- ASGI

    async def receive(self) -> ASGIMessage:
        if not self._connect_sent:
            self._connect_sent = True
            return dict(_CONNECT)
        while True:
            queue = self._queue
            if not queue and self._deferred is not None:
                self._close_deferred()  # the app has taken every message before the close
            if queue:
                data = queue.popleft()
                # Reading resumes once the app has taken half the queue, not at every message it
                # takes (a pause and a resume per message when a client keeps the queue full).
                if (
                    self._reading_paused
                    and len(queue) <= self.stream.state.config.ws_max_queue // 2
                    and not self.stream.is_closing()
                ):
                    self._reading_paused = False
                    self.stream.resume_reading()
                    self._pump()  # what was left in the buffer when reading paused
                if isinstance(data, str):
                    return {"type": "websocket.receive", "text": data}
                return {"type": "websocket.receive", "bytes": data}
            if self._closed is not None:
                code, reason = self._closed
                return {"type": "websocket.disconnect", "code": code, "reason": reason}
            waiter = self._waiter
            if waiter is None:
                waiter = self._waiter = self.stream.state.backend.create_waiter()
            await waiter.wait()

    async def send(self, message: ASGIMessage) -> None:
        kind = message["type"]
        phase = self.phase
        if kind == "websocket.send":
            if phase is not Phase.OPEN:
                if phase is Phase.CONNECTING:
                    raise LocalProtocolError("ASGI: 'websocket.send' before 'websocket.accept'")
                raise ClientDisconnected("the WebSocket is closed")
            data = message.get("bytes")
            if data is None:
                data = message.get("text")
                if not isinstance(data, str):
                    raise LocalProtocolError("ASGI: 'websocket.send' needs 'bytes' (bytes) or 'text' (str)")
            elif not isinstance(data, bytes) or message.get("text") is not None:
                raise LocalProtocolError("ASGI: 'websocket.send' needs exactly one of 'bytes' and 'text'")
            stream = self.stream
            if stream.is_closing():
                raise ClientDisconnected("the client closed the connection")
            assert self.ws is not None
            frame = self.ws.send_message(data)
            held = self._held
            if self._queue and not stream.write_paused:
                # More messages wait for the app, so more sends are likely to follow at once (a
                # client with many in flight): hold the frame and write them together, at the
                # latest when this turn of the event loop ends. Alone, a frame goes out now.
                if held is None:
                    self._held = [frame]
                    self._held_size = len(frame)
                    stream.state.backend.call_soon(self._write_held)
                else:
                    held.append(frame)
                    self._held_size += len(frame)
                if self._held_size >= stream.state.config.write_buffer_size:
                    self._write_held()
            else:
                self._write(frame)
            if self._idle is not None:
                self._idle.set_in(stream.state.config.ws_deflate_idle_timeout)
            if stream.write_paused:
                await stream.wait_writable()
        elif kind == "websocket.accept":
            self._accept(message)
        elif kind == "websocket.close":
            code = message.get("code", 1000)
            reason = message.get("reason") or ""
            if phase is Phase.CONNECTING:
                # ASGI: a close before accept is a 403, and the handshake is not completed.
                self._check_connected()
                self.phase = Phase.CLOSED
                self._log_access(403)
                self.stream.send_error(403, "the application refused the WebSocket connection")
            elif phase is Phase.OPEN:
                assert self.ws is not None
                if not isinstance(reason, str):
                    raise LocalProtocolError("ASGI: 'websocket.close' reason must be a str")
                self._start_close(code, reason)
            elif phase is Phase.RESPONSE:
                raise LocalProtocolError("ASGI: 'websocket.close' during an HTTP response")
            # CLOSING / CLOSED: closing twice changes nothing
        elif kind == "websocket.http.response.start":
            self._check_connected()
            if phase is not Phase.CONNECTING:
                raise LocalProtocolError(
                    "ASGI: 'websocket.http.response.start' only before the WebSocket is accepted or closed"
                )
            self._response_status = message["status"]
            self._response_headers = message.get("headers", ())
            self.phase = Phase.RESPONSE
        elif kind == "websocket.http.response.body":
            if phase is not Phase.RESPONSE:
                raise LocalProtocolError(
                    "ASGI: 'websocket.http.response.body' without 'websocket.http.response.start'"
                )
            self._send_response_body(message.get("body", b""), message.get("more_body", False))
        else:
            raise LocalProtocolError(f"ASGI: unexpected message type {kind!r} in a websocket scope")

    def _check_connected(self) -> None:
        if self._closed is not None or self.stream.is_closing():
            raise ClientDisconnected("the client closed the connection")

    def _accept(self, message: ASGIMessage) -> None:
        self._check_connected()
        if self.phase is not Phase.CONNECTING:
            raise LocalProtocolError(f"ASGI: 'websocket.accept' in state {self.phase.name}")
        stream = self.stream
        config = stream.state.config
        try:
            headers, ws = negotiate(
                self.handshake,
                message.get("subprotocol"),
                message.get("headers", ()),
                max_message_size=config.ws_max_message_size,
                deflate=config.ws_per_message_deflate,
                deflate_window_bits=config.ws_deflate_window_bits,
                deflate_level=config.ws_deflate_level,
            )
        except LocalProtocolError as exc:
            error_log.error("invalid websocket.accept from the ASGI app for %s: %s", self._where(), exc)
            raise
        self.ws = ws
        if ws.deflate is not None:
            self._idle = Deadline(stream.state.backend, self._release)
        self.phase = Phase.OPEN
        self._log_access(101 if self.request.http_version != b"2" else 200, headers)
        ws.receive_data(stream.upgrade(headers))
        if config.ws_ping_interval:
            self.deadline.set_in(config.ws_ping_interval)
        if self._going_away:
            self._start_close(_GOING_AWAY, "server shutting down")
        else:
            self._pump()

    def _send_response_body(self, body: bytes, more: bool) -> None:
        stream = self.stream
        if self._closed is not None or stream.is_closing():
            raise ClientDisconnected("the client closed the connection")
        if not self.head_written:
            if not more:
                self.phase = Phase.CLOSED
            try:
                stream.send_head(self._response_status, self._response_headers, body, more)
            except LocalProtocolError as exc:
                self.phase = Phase.RESPONSE
                error_log.error("invalid response from the ASGI app for %s: %s", self._where(), exc)
                raise
            self.head_written = True
            self._response_sent = len(body)
        else:
            if not more:
                self.phase = Phase.CLOSED
            stream.send_data(body, more)
            self._response_sent += len(body)
        if not more:
            self._log_access(self._response_status, self._response_headers, self._response_sent)

    async def run(self) -> None:
        stream = self.stream
        try:
            await stream.state.app(self.scope, self.receive, self.send)
        except Exception as exc:  # noqa: BLE001 - the app's failure is reported, the server goes on
            self._app_failed(exc)
        else:
            phase = self.phase
            if phase is Phase.OPEN:
                self._start_close(1000, "")  # the app is done with it: a normal closure
            elif phase is Phase.CONNECTING and not stream.is_closing():
                error_log.error(
                    "ASGI app returned without accepting or refusing the WebSocket %s", self._where()
                )
                self._send_500()
            elif phase is Phase.RESPONSE:
                error_log.error("ASGI app returned before finishing the response to %s", self._where())
                self._end_response()
        finally:
            stream.done(self.task)

    def _app_failed(self, exc: Exception) -> None:
        phase = self.phase
        if self._closed is not None or self.stream.is_closing():  # the client left: not news
            error_log.debug("ASGI app raised after the WebSocket closed (%s): %r", self._where(), exc)
            return
        if not isinstance(exc, LocalProtocolError):  # those were logged where they were detected
            error_log.error("Exception in ASGI application for WebSocket %s", self._where(), exc_info=exc)
        if phase is Phase.CONNECTING:
            self._send_500()
        elif phase is Phase.RESPONSE:
            self._end_response()
        elif phase is Phase.OPEN:
            self._start_close(_INTERNAL_ERROR, "")

    def _send_500(self) -> None:
        self.phase = Phase.CLOSED
        self._log_access(500)
        self.stream.send_error(500, "the application failed to respond")

    def _end_response(self) -> None:
        self.phase = Phase.CLOSED
        if self.head_written:
            self.stream.abort()  # never a corrupt message: the client sees the response end early
        else:
            self._send_500()

    def _where(self) -> str:
        return escape_for_log(self.request.target.decode("ascii"))

    def _log_access(self, status: int, headers: Any = (), sent: int = 0) -> None:
        """Record the handshake's outcome (access log, metrics): the 101 (200 over HTTP/2) of an
        accepted WebSocket, the 403 of a refused one, or the app's own HTTP response."""
        state = self.stream.state
        observer = state.observer
        if observer is None:
            return
        duration = perf_counter() - self.started
        observer.exchange(self.request, self.scope.get("client"), status, headers, sent, duration)
