"""One request seen from the app: the ASGI `receive` and `send`, and the task that runs it.

Written against the stream interface (`_stream.Stream`) only: the same cycle serves an HTTP/1.1
connection and each stream of an HTTP/2 one. The stream feeds the cycle with the request body and
the disconnect; the cycle hands the app's response to the stream.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any

from tapster._access import escape_for_log
from tapster.errors import ClientDisconnected, LocalProtocolError
from tapster.protocol import Request

from ._seam import Handle, Waiter
from ._state import error_log
from ._types import Message

if TYPE_CHECKING:
    from ._stream import Stream

__all__ = ["RequestCycle", "escape_for_log"]

_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}
_EMPTY_BODY: dict[str, Any] = {"type": "http.request", "body": b"", "more_body": False}


class RequestCycle:
    """One request: the ASGI `receive` and `send` callables and the app task that uses them."""

    __slots__ = (
        "_body",
        "_body_done",
        "_buffered",
        "_continue_sent",
        "_eof_delivered",
        "_peer_closed",
        "_trailers",
        "_trailers_due",
        "_waiter",
        "bytes_sent",
        "disconnected",
        "head_written",
        "headers",
        "request",
        "response_complete",
        "response_started",
        "scope",
        "started",
        "status",
        "stream",
        "task",
    )

    def __init__(self, stream: Stream, scope: dict[str, Any], request: Request) -> None:
        self.stream = stream
        self.scope = scope
        self.request = request
        self._body: list[bytes] = []
        self._buffered = 0  # bytes in _body
        self._body_done = not request.has_body
        self._continue_sent = not request.expect_continue
        self._eof_delivered = False
        self._peer_closed = False
        #: http.response.trailers: None (not announced), [] (announced), then the fields sent so far
        self._trailers: list[tuple[bytes, bytes]] | None = None
        self._trailers_due = False  # the body is complete: trailers are next
        self._waiter: Waiter | None = None
        self.disconnected = False
        self.response_started = False
        self.head_written = False
        self.response_complete = False
        self.status = 0
        self.headers: Any = ()
        self.task: Handle | None = None
        self.bytes_sent = 0
        state = stream.state
        #: When the request head was in, for the access log and metrics only. (perf_counter, not the
        #: backend's clock: uvloop's loop.time() is cached per loop iteration, in milliseconds.)
        self.started = perf_counter() if state.observer is not None else 0.0

    # ----------------------------------------------------------------- fed by the stream

    @property
    def buffered(self) -> int:
        return self._buffered

    @property
    def body_due(self) -> bool:
        """More body is owed now (not held back until a 100 Continue that was not sent yet)."""
        return self._continue_sent and not self._body_done

    def body_received(self, data: bytes) -> None:
        self._body.append(data)
        self._buffered += len(data)
        self._wake()

    def body_complete(self) -> None:
        self._body_done = True
        self._wake()

    def disconnect(self) -> None:
        self.disconnected = True
        self._wake()

    def peer_closed(self) -> None:
        """EOF after the whole request: receive() now reports http.disconnect; send() still works."""
        self._peer_closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.wake()
            self._waiter = None

    # ----------------------------------------------------------------- ASGI

    async def receive(self) -> Message:
        while True:
            if self.disconnected or self.response_complete:
                return dict(_DISCONNECT)
            if self._body:
                body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
                self._body.clear()
                self._buffered = 0
                self.stream.body_consumed(len(body))
                self._eof_delivered = self._body_done
                return {"type": "http.request", "body": body, "more_body": not self._body_done}
            if self._body_done:
                if self._peer_closed and self._eof_delivered:
                    return dict(_DISCONNECT)
                if self._eof_delivered:
                    # The whole body was delivered: the next message is the disconnect.
                    await self._wait()
                    continue
                self._eof_delivered = True
                return dict(_EMPTY_BODY)
            if not self._continue_sent:
                self._continue_sent = True
                # A 100 may precede the final response as long as no byte of its head is out
                # (`http.response.start` alone writes nothing); the body is wanted either way.
                if not self.head_written:
                    self.stream.send_continue()
                self.stream.body_wanted()
            await self._wait()

    async def _wait(self) -> None:
        # One waiter shared by every task in receive() (an app may listen for the disconnect in
        # one task while another reads): a wake-up reaches them all.
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = self.stream.state.backend.create_waiter()
        await waiter.wait()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            if not self.response_started:
                raise LocalProtocolError("ASGI: 'http.response.body' sent before 'http.response.start'")
            if self.response_complete or self._trailers_due:
                raise LocalProtocolError("ASGI: 'http.response.body' sent after the response was complete")
            stream = self.stream
            # (The stream itself raises ClientDisconnected once it cannot send: also for a transport
            # that failed a write and reports the loss only on a later loop iteration, which an app
            # that never yields would never reach: asyncio's _force_close.)
            if self.disconnected:
                raise ClientDisconnected("the client closed the connection")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if not more and self._trailers is not None:
                more = True  # the trailers end the response
                self._trailers_due = True
            elif not more:
                # Complete before the stream hears it: finishing the stream may start the next
                # request on the connection, which must find this one over.
                self.response_complete = True
            if not self.head_written:
                try:
                    stream.send_head(self.status, self.headers, body, more)
                except LocalProtocolError as exc:
                    self.response_complete = False
                    error_log.error("invalid response from the ASGI app for %s: %s", self._where(), exc)
                    raise
                except ClientDisconnected:
                    self.response_complete = False
                    self.disconnected = True  # the stream knew first: the app's failure is no news
                    raise
                self.head_written = True
            else:
                try:
                    stream.send_data(body, more)
                except LocalProtocolError:
                    self.response_complete = False
                    raise
                except ClientDisconnected:
                    self.response_complete = False
                    self.disconnected = True
                    raise
            self.bytes_sent += len(body)
            if not more:
                if self._waiter is not None:
                    self._wake()
                if stream.state.observer is not None:
                    self._observe()
            elif stream.write_paused:
                await stream.wait_writable()
        elif kind == "http.response.start":
            if self.response_started:
                raise LocalProtocolError("ASGI: 'http.response.start' sent twice")
            if self.disconnected:
                raise ClientDisconnected("the client closed the connection")
            self.status = message["status"]
            self.headers = message.get("headers", ())
            self.response_started = True
            if message.get("trailers"):
                if "http.response.trailers" not in self.scope["extensions"]:
                    raise LocalProtocolError(
                        "ASGI: 'trailers' in 'http.response.start', but this request does not offer "
                        "the http.response.trailers extension (HTTP/2 with 'te: trailers' does)"
                    )
                self._trailers = []
        else:
            await self._send_extension(kind, message)

    async def _send_extension(self, kind: str, message: Message) -> None:
        """The ASGI extension messages: trailers, early hints, server push."""
        stream = self.stream
        if kind == "http.response.trailers":
            trailers = self._trailers
            if trailers is None or not self._trailers_due:
                raise LocalProtocolError(
                    "ASGI: 'http.response.trailers' only after the last body message of a response "
                    "started with 'trailers': True"
                )
            if self.disconnected or stream.is_closing():
                raise ClientDisconnected("the client closed the connection")
            trailers.extend(message.get("headers", ()))
            if message.get("more_trailers", False):
                return
            self.response_complete = True
            stream.send_trailers(trailers)
            if self._waiter is not None:
                self._wake()
            if stream.state.observer is not None:
                self._observe()
        elif kind == "http.response.early_hint":
            links = message.get("links", ())
            if isinstance(links, bytes) or not all(isinstance(link, bytes) for link in links):
                raise LocalProtocolError("ASGI: 'http.response.early_hint' needs 'links', a list of bytes")
            # Hints too: nothing to do where not offered, or once the final head is out.
            offered = "http.response.early_hint" in self.scope["extensions"]
            if offered and not self.head_written and not self.disconnected and not stream.is_closing():
                stream.send_informational(103, [(b"link", link) for link in links])
        elif kind == "http.response.push":
            path = message.get("path")
            if not isinstance(path, str) or not path.startswith("/"):
                raise LocalProtocolError("ASGI: 'http.response.push' needs a 'path' str starting with '/'")
            # A hint, never a requirement: without the extension (HTTP/1.1, or a client that refused
            # pushes) there is nothing to do.
            offered = "http.response.push" in self.scope["extensions"]
            if offered and not self.disconnected and not stream.is_closing():
                stream.push_promise(path, list(message.get("headers", ())))
        else:
            raise LocalProtocolError(f"ASGI: unexpected message type {kind!r} in an http scope")

    async def run(self) -> None:
        stream = self.stream
        try:
            await stream.state.app(self.scope, self.receive, self.send)
        except Exception as exc:  # noqa: BLE001 - the app's failure is reported, the server goes on
            complete = self.response_complete
            self._app_failed(exc)
            if not complete and stream.state.observer is not None:
                self._observe()
        else:
            if not self.response_complete:
                if self._peer_closed or self.disconnected:
                    stream.abort()  # the app heard that the client left and gave up: fine
                elif self.head_written:
                    error_log.error("ASGI app returned before finishing the response to %s", self._where())
                    stream.abort()
                elif not stream.is_closing():
                    error_log.error("ASGI app returned without sending a response to %s", self._where())
                    self._send_500()
                if stream.state.observer is not None:
                    self._observe()
        finally:
            stream.done(self.task)

    def _app_failed(self, exc: Exception) -> None:
        if self.disconnected:  # the client left: the error is a consequence, not news
            error_log.debug("ASGI app raised after the client left (%s): %r", self._where(), exc)
            if not self.response_complete:
                self.stream.abort()  # nobody to answer (the connection answered a broken request)
            return
        if isinstance(exc, LocalProtocolError) and not self.head_written:
            pass  # already logged where it was detected, with the reason
        else:
            error_log.error("Exception in ASGI application for %s", self._where(), exc_info=exc)
        if self.response_complete:
            return
        if self.head_written:
            self.stream.abort()  # never a corrupt message: the client sees the response end early
        else:
            self._send_500()

    def _send_500(self) -> None:
        self.response_complete = True
        self.status = 500
        self.headers = ()
        self.stream.send_error(500, "the application failed to respond")

    def _where(self) -> str:
        request = self.request
        return escape_for_log(f"{request.method.decode('ascii')} {request.target.decode('ascii')}")

    def _observe(self) -> None:
        """Record the exchange (access log, metrics): once, when the response ends or is cut short.
        A request that got no response because the client left is recorded as 499 (nginx's
        "client closed request")."""
        stream = self.stream
        observer = stream.state.observer
        assert observer is not None
        request = self.request
        status = self.status if self.head_written or self.response_complete else 499
        # (The body of a HEAD, 204 or 304 response is dropped by the stream, never sent.)
        sent = 0 if status in (204, 304) or request.method == b"HEAD" else self.bytes_sent
        observer.exchange(
            request,
            self.scope.get("client"),
            status,
            self.headers,
            sent,
            perf_counter() - self.started,
        )
