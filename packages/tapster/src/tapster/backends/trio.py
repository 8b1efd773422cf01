"""The trio backend: trio streams adapted to the transport callbacks the driver expects.

Each connection has a reader task (receive_some -> data_received) and a writer task (a bounded
outgoing buffer -> send_all, with pause_writing/resume_writing around its high-water mark).
"""

from __future__ import annotations

import heapq
import itertools
import math
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import trio

from tapster.asgi._server import Server
from tapster.asgi._state import error_log

__all__ = ["TrioBackend", "run", "serve"]

_READ_SIZE = 64 * 1024


class _Waiter:
    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = trio.Event()

    def wake(self) -> None:
        self._event.set()

    def wait(self) -> Awaitable[None]:
        return self._event.wait()


class _Timer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Task:
    __slots__ = ("_cancelled", "_scope")

    def __init__(self) -> None:
        self._scope: trio.CancelScope | None = None
        self._cancelled = False

    async def run(self, coro: Coroutine[Any, Any, None]) -> None:
        with trio.CancelScope() as scope:
            self._scope = scope
            if self._cancelled:
                scope.cancel()
            await coro

    def cancel(self) -> None:
        self._cancelled = True
        if self._scope is not None:
            self._scope.cancel()


class _Scope:
    __slots__ = ("_scope",)

    def __init__(self, scope: trio.CancelScope) -> None:
        self._scope = scope

    def cancel(self) -> None:
        self._scope.cancel()


class TrioBackend:
    def __init__(
        self, nursery: trio.Nursery, write_buffer_size: int, handshake_timeout: float = 10.0
    ) -> None:
        self.nursery = nursery
        self.write_buffer_size = write_buffer_size
        self.handshake_timeout = handshake_timeout
        self._token = trio.lowlevel.current_trio_token()
        self._timers: list[tuple[float, int, _Timer]] = []
        self._sequence = itertools.count()
        self._timer_scope: trio.CancelScope | None = None
        nursery.start_soon(self._run_timers)

    def now(self) -> float:
        return trio.current_time()

    def call_at(self, when: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(when, callback)
        heapq.heappush(self._timers, (when, next(self._sequence), timer))
        scope = self._timer_scope
        if scope is not None and when < scope.deadline:
            scope.deadline = when
        return timer

    async def _run_timers(self) -> None:
        # One task for every timer of the server (trio has no call_later).
        timers = self._timers
        while True:
            now = trio.current_time()
            while timers and timers[0][0] <= now:
                _, _, timer = heapq.heappop(timers)
                if not timer.cancelled:
                    try:
                        timer.callback()
                    except Exception:  # noqa: BLE001 - a broken callback must not stop all timers
                        error_log.exception("timer callback failed")
            deadline = timers[0][0] if timers else math.inf
            with trio.CancelScope(deadline=deadline) as scope:
                self._timer_scope = scope
                await trio.sleep_forever()
            self._timer_scope = None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> _Task:
        task = _Task()
        self.nursery.start_soon(task.run, coro)
        return task

    def create_waiter(self) -> _Waiter:
        return _Waiter()

    def call_soon(self, callback: Callable[[], None]) -> None:
        self._token.run_sync_soon(callback)

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        self._token.run_sync_soon(callback)

    async def listen(
        self,
        sockets: list[socket.socket],
        protocol_factory: Callable[[], Any],
        ssl_context: ssl.SSLContext | None,
    ) -> _Scope:
        scope = trio.CancelScope()
        listeners: list[trio.abc.Listener[Any]] = []
        for sock in sockets:
            listener: trio.abc.Listener[Any] = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
            if ssl_context is not None:
                listener = trio.SSLListener(listener, ssl_context, https_compatible=True)
            listeners.append(listener)

        async def accept_all() -> None:
            with scope:
                async with trio.open_nursery() as accepting:
                    for listener in listeners:
                        accepting.start_soon(self._accept_loop, listener, protocol_factory)
            # Stopped: close the listening sockets so new connections are refused, not queued.
            with trio.CancelScope(shield=True):
                for listener in listeners:
                    await listener.aclose()
            error_log.debug("Stopped listening on %d socket(s)", len(listeners))

        self.nursery.start_soon(accept_all)
        return _Scope(scope)

    async def _accept_loop(
        self, listener: trio.abc.Listener[Any], protocol_factory: Callable[[], Any]
    ) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:  # EMFILE and friends: back off rather than spin
                error_log.error("accept() failed: %s", exc)
                await trio.sleep(0.1)
                continue
            transport = _TrioTransport(
                stream, protocol_factory(), self.write_buffer_size, self.handshake_timeout
            )
            self.nursery.start_soon(transport.run)

    def add_signal_handlers(self, callback: Callable[[], None]) -> _Scope:
        scope = trio.CancelScope()

        async def watch() -> None:
            with scope, trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    callback()

        self.nursery.start_soon(watch)
        return _Scope(scope)


class _TrioTransport:
    """Gives a trio stream the transport shape the driver uses (see tapster.asgi._seam.Transport)."""

    def __init__(
        self, stream: trio.abc.Stream, protocol: Any, high_water: int, handshake_timeout: float = 10.0
    ) -> None:
        self.stream = stream
        self.protocol = protocol
        self.high_water = high_water
        self.handshake_timeout = handshake_timeout
        self._buffer = bytearray()
        self._closing = False
        self._eof_requested = False
        self._write_paused = False
        self._reading_paused = False
        self._has_data = trio.Event()
        self._can_read = trio.Event()
        self._scope = trio.CancelScope()

    # ----------------------------------------------------------------- Transport

    def write(self, data: bytes) -> None:
        if self._closing:
            return
        self._buffer += data
        self._has_data.set()
        if not self._write_paused and len(self._buffer) > self.high_water:
            self._write_paused = True
            self.protocol.pause_writing()

    def close(self) -> None:
        self._closing = True
        self._has_data.set()  # the writer flushes what is queued, then closes

    def abort(self) -> None:
        self._closing = True
        self._buffer.clear()
        self._scope.cancel()

    def is_closing(self) -> bool:
        return self._closing

    def can_write_eof(self) -> bool:
        return isinstance(self.stream, trio.abc.HalfCloseableStream)

    def write_eof(self) -> None:
        self._eof_requested = True
        self._has_data.set()  # the writer flushes, then shuts down the sending side

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is not None:
            self.high_water = high

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False
        self._can_read.set()

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        stream = self.stream
        if name == "ssl_object":
            return stream if isinstance(stream, trio.SSLStream) else default
        raw = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
        sock = getattr(raw, "socket", None)
        if sock is None:
            return default
        try:
            if name == "peername":
                return sock.getpeername()
            if name == "sockname":
                return sock.getsockname()
        except OSError:
            return default
        return default

    # ----------------------------------------------------------------- tasks

    async def run(self) -> None:
        exc: BaseException | None = None
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
            # The protocol is chosen by ALPN, so the handshake comes first (asyncio does the same
            # before connection_made). A client that never completes it is dropped in time.
            with trio.move_on_after(self.handshake_timeout) as scope:
                try:
                    await stream.do_handshake()
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    scope.cancel()
            if scope.cancelled_caught:
                await trio.aclose_forcefully(stream)
                return
        self.protocol.connection_made(self)
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer, nursery.cancel_scope)
                    try:
                        await self._reader()
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
                        exc = error
                        nursery.cancel_scope.cancel()
        finally:
            # Also when the whole server is being cancelled: the socket is closed, the driver told.
            self._closing = True
            try:
                await trio.aclose_forcefully(self.stream)
            finally:
                self.protocol.connection_lost(exc)

    async def _reader(self) -> None:
        while not self._closing:
            if self._reading_paused:
                self._can_read = trio.Event()
                await self._can_read.wait()
                continue
            data = await self.stream.receive_some(_READ_SIZE)
            if self._closing:
                return
            if not data:
                if not self.protocol.eof_received():
                    self.close()
                return
            self.protocol.data_received(data)

    async def _writer(self, cancel_scope: trio.CancelScope) -> None:
        try:
            while True:
                if not self._buffer:
                    if self._closing:
                        break
                    if self._eof_requested and isinstance(self.stream, trio.abc.HalfCloseableStream):
                        self._eof_requested = False
                        await self.stream.send_eof()
                        continue
                    self._has_data = trio.Event()
                    await self._has_data.wait()
                    continue
                data = bytes(self._buffer)
                self._buffer.clear()
                await self.stream.send_all(data)
                if self._write_paused and len(self._buffer) <= self.high_water // 4:
                    self._write_paused = False
                    self.protocol.resume_writing()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        cancel_scope.cancel()


async def serve(server: Server, *, install_signals: bool = True) -> None:
    """Serve inside an already running trio run."""
    failure: Exception | None = None
    async with trio.open_nursery() as nursery:
        backend = TrioBackend(nursery, server.config.write_buffer_size, server.config.head_timeout)
        try:
            await server.serve(backend, install_signals=install_signals)
        except Exception as exc:  # noqa: BLE001 - re-raised below, unwrapped from the nursery's group
            failure = exc
        nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure


def run(server: Server, *, install_signals: bool = True) -> None:
    trio.run(lambda: serve(server, install_signals=install_signals))
