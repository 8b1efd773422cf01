"""The ASGI side of a firkin websocket: the connection's states, the receiving task, the refusal.

One task of ours runs beside the handler for the life of the connection: it reads the ASGI messages
into a bounded inbox, so that the client leaving is seen even while the handler waits on something
else (a feed that only sends). When the client leaves, a handler waiting in `receive()` gets
`WebsocketDisconnected`; a handler waiting on anything else is cancelled (as in Quart), and either
way the handler ends cleanly.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected

from firkin.wrappers.websocket import Websocket, WebsocketDisconnected

from .scope import scope_location

if TYPE_CHECKING:
    from firkin.app import Firkin
    from firkin.typing import ASGIMessage, ASGIReceive, ASGIScope, ASGISend
    from firkin.wrappers import Response

__all__ = ["WebsocketConnection", "handle_websocket", "websocket_from_scope"]

#: Messages received and not yet read by the handler, per connection, before we stop reading (and the
#: server, then the client, waits). Precedent: the `websockets` library's `max_queue` default (16).
#: The size of one message is the server's limit (uvicorn `ws_max_size`, 16 MiB by default).
DEFAULT_MAX_QUEUE = 16


class State(enum.Enum):
    CONNECTING = "connecting"  # the handshake awaits the app's answer
    OPEN = "open"  # accepted
    CLOSED = "closed"  # the app closed it (or refused the handshake with a close)
    RESPONDED = "responded"  # the app refused the handshake with an HTTP response
    GONE = "gone"  # the client left (websocket.disconnect)


# What the app may do in each state, and where it leads (RFC 6455 §4 and §7; ASGI websocket spec).
# Anything else is a mistake of the app's code: a RuntimeError that says what state the socket is in.
TRANSITIONS: dict[State, dict[str, State]] = {
    State.CONNECTING: {"accept": State.OPEN, "close": State.CLOSED, "respond": State.RESPONDED},
    State.OPEN: {"accept": State.OPEN, "send": State.OPEN, "close": State.CLOSED},
    State.CLOSED: {},
    State.RESPONDED: {},
    State.GONE: {},
}


def _spec_version(scope: ASGIScope) -> tuple[int, ...]:
    raw = str((scope.get("asgi") or {}).get("spec_version", "2.0"))
    try:
        return tuple(int(part) for part in raw.split("."))
    except ValueError:
        return (2, 0)


class WebsocketConnection:
    """One websocket over ASGI: implements the `WebsocketIO` a `Websocket` talks to."""

    def __init__(
        self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend, max_queue: int = DEFAULT_MAX_QUEUE
    ) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.state = State.CONNECTING
        # Messages read from the server and not yet by the handler (at most max_queue), and whether
        # the client's messages have ended (it left, or the connection is over).
        self._inbox: deque[str | bytes] = deque()
        self._max_queue = max_queue
        self._ended = False
        self._reading = False  # a task is inside the server's receive(): nobody else may call it
        self._receiving = 0  # tasks inside receive(): they hear of a disconnect from the inbox
        # The waits are events of the running async library, made with its own class (anyio.Event()
        # looks the library up each time, which costs more than the message).
        self._event_class: type[anyio.Event] | None = None
        self._data_ready: anyio.Event | None = None  # set when the inbox or the reading changes
        self._watch: anyio.Event | None = None  # wakes the watcher (see run_receiver)
        self._call_soon: Callable[[Callable[[], object]], object] | None = None
        self._watch_check_due = False
        self._handler_scopes: list[anyio.CancelScope] = []
        self.disconnect_code = 1006  # RFC 6455 §7.1.5: closed without a close frame
        self.disconnect_reason = ""
        self._accepted = False
        self._spec = _spec_version(scope)

    # ----------------------------------------------------------------- state

    @property
    def accepted(self) -> bool:
        return self._accepted

    @property
    def closed(self) -> bool:
        return self.state in (State.CLOSED, State.RESPONDED, State.GONE)

    def _move(self, action: str) -> None:
        if self.state is State.GONE and action in ("send", "accept"):
            raise WebsocketDisconnected(self.disconnect_code, self.disconnect_reason)
        target = TRANSITIONS[self.state].get(action)
        if target is None:
            raise RuntimeError(f"cannot {action} a websocket that is {self.state.value}")
        self.state = target
        if target is State.OPEN:
            self._accepted = True

    # ----------------------------------------------------------------- receiving

    # Who reads from the server: a handler waiting in receive() reads for itself (the message goes
    # straight to it, with no task in between); while no handler waits there, the watcher task
    # (run_receiver) reads instead, so that the client leaving is seen even while the handler waits
    # on something else, and what it reads waits in the inbox. The watcher is woken only when a
    # handler leaves receive() and has not come back by the next turn of the event loop.

    def _event(self) -> anyio.Event:
        cls = self._event_class
        if cls is None:
            event = anyio.Event()
            self._event_class = type(event)
            return event
        return cls()

    def _watcher_may_read(self) -> bool:
        return not (self._ended or self._reading or self._receiving or len(self._inbox) >= self._max_queue)

    def _wake_watcher(self) -> None:
        watch = self._watch
        if watch is not None and self._watcher_may_read():
            self._watch = None
            watch.set()

    def _wake_watcher_soon(self) -> None:
        if self._watch_check_due:
            return  # one check per turn of the loop, however many messages the handler took
        call_soon = self._call_soon
        if call_soon is None:
            try:
                call_soon = self._call_soon = asyncio.get_running_loop().call_soon
            except RuntimeError:  # not asyncio (trio): the woken watcher runs after we yield, as late
                self._wake_watcher()
                return
        self._watch_check_due = True
        call_soon(self._due_watch_check)

    def _due_watch_check(self) -> None:
        self._watch_check_due = False
        self._wake_watcher()

    def _wake_readers(self) -> None:
        ready = self._data_ready
        if ready is not None:
            self._data_ready = None
            ready.set()

    def _take(self, message: ASGIMessage) -> str | bytes | None:
        """The data of a server message; None for websocket.connect. A disconnect ends the inbox."""
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            return text if text is not None else (message.get("bytes") or b"")
        if kind == "websocket.disconnect":
            self._client_left(message.get("code", 1005), message.get("reason") or "")
            self._end_inbox()
        return None  # websocket.connect opens the handshake: nothing to do until the app answers

    async def run_receiver(self) -> None:
        """The watcher: read the server's messages into the inbox while no handler waits in
        receive(), until the client leaves."""
        inbox = self._inbox
        try:
            while not self._ended:
                if not self._watcher_may_read():
                    watch = self._watch = self._event()
                    await watch.wait()
                    continue
                self._reading = True
                try:
                    message = await self._receive()
                finally:
                    self._reading = False
                data = self._take(message)
                if data is not None:
                    inbox.append(data)
                self._wake_readers()  # the message, or the end, or a turn to read
        finally:
            self._end_inbox()  # receive() then raises WebsocketDisconnected, after what is queued

    def _end_inbox(self) -> None:
        self._ended = True
        self._wake_readers()
        watch = self._watch
        if watch is not None:
            self._watch = None
            watch.set()

    def _client_left(self, code: int, reason: str) -> None:
        left_while_open = self.state in (State.CONNECTING, State.OPEN)
        self.disconnect_code, self.disconnect_reason = code, reason
        if left_while_open:
            self.state = State.GONE
            if self._receiving == 0:
                # Nobody will read the end of the inbox: end the handler that waits on other things.
                for scope in self._handler_scopes:
                    scope.cancel()

    def cancel_on_disconnect(self) -> anyio.CancelScope:
        """A cancel scope for the handler, cancelled if the client leaves while it waits elsewhere
        than in receive()."""
        scope = anyio.CancelScope()
        if self.state is State.GONE:
            scope.cancel()  # gone before the handler started
        self._handler_scopes.append(scope)
        return scope

    def close_inbox(self) -> None:
        """Drop what the handler did not read (the connection is over)."""
        self._inbox.clear()
        self._end_inbox()

    async def receive(self) -> str | bytes:
        inbox = self._inbox
        self._receiving += 1
        try:
            while True:
                if inbox:
                    if len(inbox) == self._max_queue:
                        self._wake_watcher_soon()  # it may have stopped at a full inbox
                    return inbox.popleft()
                if self._ended:
                    raise WebsocketDisconnected(self.disconnect_code, self.disconnect_reason)
                if self._reading:  # the watcher (or another task) is reading: wait for it
                    ready = self._data_ready
                    if ready is None:
                        ready = self._data_ready = self._event()
                    await ready.wait()
                    continue
                self._reading = True
                try:
                    message = await self._receive()
                finally:
                    self._reading = False
                    if self._data_ready is not None:
                        self._wake_readers()  # another task waits: its turn to read
                data = self._take(message)
                if data is not None:
                    return data
        finally:
            self._receiving -= 1
            if not self._receiving:
                self._wake_watcher_soon()

    # ----------------------------------------------------------------- sending

    async def _send_or_gone(self, message: dict[str, Any]) -> None:
        try:
            await self._send(message)
        except (OSError, ClientDisconnected) as exc:  # the server's way to say the client left
            self.state = State.GONE
            raise WebsocketDisconnected(self.disconnect_code, self.disconnect_reason) from exc

    async def accept(self, headers: Headers, subprotocol: str | None) -> None:
        if self.state is State.OPEN:
            return
        self._move("accept")
        message: dict[str, Any] = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            if self._spec < (2, 1):  # accept headers came with ASGI websocket spec 2.1
                raise RuntimeError(
                    "the ASGI server does not support headers on websocket.accept (spec 2.1);"
                    " accept without headers"
                )
            message["headers"] = [
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
            ]
        await self._send_or_gone(message)

    async def send(self, data: str | bytes) -> None:
        if self.state is not State.OPEN:
            self._move("send")  # raises what sending in this state is
        message = (
            {"type": "websocket.send", "text": data}
            if isinstance(data, str)
            else {"type": "websocket.send", "bytes": data}
        )
        try:  # (what _send_or_gone does, one coroutine call less on the path of every message)
            await self._send(message)
        except (OSError, ClientDisconnected) as exc:
            self.state = State.GONE
            raise WebsocketDisconnected(self.disconnect_code, self.disconnect_reason) from exc

    async def close(self, code: int, reason: str) -> None:
        if self.state is State.GONE:
            return  # the client went first: there is nobody to tell
        self._move("close")
        message: dict[str, Any] = {"type": "websocket.close", "code": code}
        if self._spec >= (2, 3):  # the close reason came with ASGI websocket spec 2.3
            message["reason"] = reason
        try:
            await self._send_or_gone(message)
        except WebsocketDisconnected:
            pass  # closing a connection that is already gone: done either way

    async def respond(self, response: Response) -> None:
        """Refuse the handshake with `response` (ASGI "websocket.http.response" extension), or with
        a close (the server answers 403) when the server does not offer the extension."""
        extensions = self.scope.get("extensions") or {}
        if "websocket.http.response" not in extensions:
            await response.response.aclose()
            await self.close(1000, "")
            return
        self._move("respond")
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.items()
        ]
        body = response.response
        try:
            await self._send_or_gone(
                {"type": "websocket.http.response.start", "status": response.status_code, "headers": headers}
            )
            async for chunk in body:
                if chunk:
                    await self._send_or_gone(
                        {"type": "websocket.http.response.body", "body": chunk, "more_body": True}
                    )
            await self._send_or_gone({"type": "websocket.http.response.body", "body": b""})
        except WebsocketDisconnected:
            pass  # the client left before the refusal: nobody to tell
        finally:
            await body.aclose()

    async def finish(self, response: Response | None) -> None:
        """What the handler left: refuse with its response (before accepting), else close (1000)."""
        if self.state is State.CONNECTING and response is not None:
            await self.respond(response)
            return
        if response is not None:
            await response.response.aclose()  # returned after accepting: ignored, as in Quart
        if self.state in (State.CONNECTING, State.OPEN):
            await self.close(1000, "")

    async def abort(self) -> None:
        """The handling failed without an answer (an exception propagated, or we were cancelled):
        close with 1011 "internal error" (RFC 6455 §7.4.1), or refuse the handshake."""
        if self.state not in (State.CONNECTING, State.OPEN):
            return
        with anyio.CancelScope(shield=True):
            try:
                await self.close(1011, "")
            except Exception:  # noqa: BLE001 - the server may refuse anything by now; we tried
                pass


def websocket_from_scope(app: Firkin, scope: ASGIScope, io: Any) -> Websocket:
    headers = Headers([(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]])
    server, root_path, path, remote_addr = scope_location(scope)
    return app.websocket_class(
        scope.get("scheme", "ws"),
        server,
        root_path,
        path,
        scope.get("query_string", b""),
        headers,
        remote_addr,
        io,
        subprotocols=list(scope.get("subprotocols") or ()),
        http_version=scope.get("http_version", "1.1"),
        scope=dict(scope),
    )


async def handle_websocket(app: Firkin, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
    connection = WebsocketConnection(scope, receive, send, app.config["WEBSOCKET_MAX_QUEUE"])
    websocket = websocket_from_scope(app, scope, connection)
    failure: Exception | None = None
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(connection.run_receiver)
            try:
                response = await app.handle_websocket(websocket)
            except Exception as exc:  # noqa: BLE001 - propagated (PROPAGATE_EXCEPTIONS): re-raised below
                failure = exc
                await connection.abort()
            except BaseException:  # cancelled (the server shuts down): say so to the client, then go
                await connection.abort()
                raise
            else:
                await connection.finish(response)
            group.cancel_scope.cancel()  # the handler is done: stop reading
    finally:
        connection.close_inbox()
    if failure is not None:
        raise failure
