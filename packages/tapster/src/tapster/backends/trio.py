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
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import trio

from tapster.asgi._seam import Listener, ProtocolFactory
from tapster.asgi._server import Server
from tapster.asgi._state import error_log
from tapster.errors import RemoteProtocolError
from tapster.protocol.proxy import ProxyHeader, ProxyHeaderReader

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
            try:
                await coro
            except Exception:  # noqa: BLE001 - a bug in a request's task: log it, keep the server
                # (asyncio logs a failed task and goes on; in trio the nursery would cancel them all.)
                error_log.exception("unexpected error in a task of the server")

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


class _Accepting(_Scope):
    """The accept loops of one listen(); with max_connections, the count that pauses them."""

    __slots__ = ("_limit", "_open", "_room")

    def __init__(self, scope: trio.CancelScope, limit: int | None) -> None:
        super().__init__(scope)
        self._limit = limit
        self._open = 0  # accepted, and neither closed nor failed before connection_made
        self._room = trio.Event()

    async def wait_room(self) -> None:
        """Return once fewer than max_connections are open (at once without a bound)."""
        limit = self._limit
        while limit is not None and self._open >= limit:
            if self._room.is_set():
                self._room = trio.Event()
            await self._room.wait()

    def accepted(self) -> None:
        if self._limit is not None:
            self._open += 1

    def connection_closed(self) -> None:
        if self._limit is not None:
            self._open -= 1
            self._room.set()


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
        self, listeners: list[Listener], protocol_factory: ProtocolFactory, max_connections: int | None = None
    ) -> _Accepting:
        scope = trio.CancelScope()
        counting = _Accepting(scope, max_connections)
        accepting: list[tuple[trio.abc.Listener[Any], Listener]] = []
        for listener in listeners:
            trio_listener: trio.abc.Listener[Any] = trio.SocketListener(
                trio.socket.from_stdlib_socket(listener.sock)
            )
            # With a PROXY header, TLS starts after it: each connection is wrapped once it is read.
            if listener.tls is not None and not listener.proxy_protocol:
                trio_listener = trio.SSLListener(trio_listener, listener.tls, https_compatible=True)
            accepting.append((trio_listener, listener))

        async def accept_all() -> None:
            with scope:
                async with trio.open_nursery() as nursery:
                    for trio_listener, listener in accepting:
                        nursery.start_soon(
                            self._accept_loop, trio_listener, listener, protocol_factory, counting
                        )
            # Stopped: close the listening sockets so new connections are refused, not queued.
            with trio.CancelScope(shield=True):
                for trio_listener, _ in accepting:
                    await trio_listener.aclose()
            error_log.debug("Stopped listening on %d socket(s)", len(accepting))

        self.nursery.start_soon(accept_all)
        return counting

    async def _accept_loop(
        self,
        trio_listener: trio.abc.Listener[Any],
        listener: Listener,
        protocol_factory: ProtocolFactory,
        counting: _Accepting,
    ) -> None:
        while True:
            # At max_connections, stop accepting: the kernel's backlog holds the next ones.
            await counting.wait_room()
            try:
                stream = await trio_listener.accept()
            except OSError as exc:  # EMFILE and friends: back off rather than spin
                error_log.error("accept() failed: %s", exc)
                await trio.sleep(0.1)
                continue
            counting.accepted()
            if listener.proxy_protocol:
                self.nursery.start_soon(
                    self._proxied_connection, stream, listener, protocol_factory, counting
                )
                continue
            transport = _TrioTransport(
                stream,
                protocol_factory(None),
                self.write_buffer_size,
                self.handshake_timeout,
                counting.connection_closed,
            )
            self.nursery.start_soon(transport.run)

    async def _proxied_connection(
        self,
        stream: trio.SocketStream,
        listener: Listener,
        protocol_factory: ProtocolFactory,
        counting: _Accepting,
    ) -> None:
        header: ProxyHeader | None = None
        with trio.move_on_after(listener.proxy_timeout):
            try:
                header = await _read_proxy_header(stream.socket, listener.max_proxy_header_size)
            except (RemoteProtocolError, OSError) as exc:
                error_log.debug("closed a connection on %s: PROXY header: %s", listener.bind, exc)
        if header is None:
            counting.connection_closed()  # (never made: its place is given back here)
            await trio.aclose_forcefully(stream)
            return
        connection: trio.abc.Stream = stream
        if listener.tls is not None:
            connection = trio.SSLStream(stream, listener.tls, server_side=True, https_compatible=True)
        transport = _TrioTransport(
            connection,
            protocol_factory(header),
            self.write_buffer_size,
            self.handshake_timeout,
            counting.connection_closed,
        )
        await transport.run()

    def add_signal_handlers(self, callback: Callable[[], None]) -> _Scope:
        scope = trio.CancelScope()

        async def watch() -> None:
            with scope, trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    callback()

        self.nursery.start_soon(watch)
        return _Scope(scope)


async def _read_proxy_header(sock: trio.socket.SocketType, max_size: int) -> ProxyHeader:
    """Peek, then take exactly the header's bytes from the socket: what follows stays there for
    TLS or HTTP (tapster.protocol.proxy)."""
    reader = ProxyHeaderReader(max_size)
    while True:
        data = await sock.recv(reader.wanted, socket.MSG_PEEK)
        if not data:
            raise ConnectionResetError("the peer closed the connection before its PROXY header")
        used = reader.receive_data(data)
        await sock.recv(used)  # (peeked, so it is there: no wait)
        if reader.header is not None:
            return reader.header


class _TrioTransport:
    """Gives a trio stream the transport shape the driver uses (see tapster.asgi._seam.Transport)."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        protocol: Any,
        high_water: int,
        handshake_timeout: float = 10.0,
        never_made: Callable[[], None] | None = None,
    ) -> None:
        self.stream = stream
        #: Called when the connection ends before connection_made (a failed TLS handshake).
        self.never_made = never_made
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
            # (A failed handshake is no cancellation: scope.cancel() without a checkpoint after it
            # left cancelled_caught False, and a cleartext client on a TLS port took the server down.)
            done = False
            with trio.move_on_after(self.handshake_timeout):
                try:
                    await stream.do_handshake()
                    done = True
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass
            if not done:
                if self.never_made is not None:
                    self.never_made()
                await trio.aclose_forcefully(stream)
                return
        try:
            self.protocol.connection_made(self)
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer, nursery.cancel_scope)
                    try:
                        await self._reader()
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
                        exc = error
                        nursery.cancel_scope.cancel()
        except Exception as error:  # noqa: BLE001 - a bug in this connection's code: end it alone
            # (Raised out of here, it would cancel the server's nursery: every connection with it.
            # asyncio's transports do the same: log, close the one connection.)
            error_log.exception("unexpected error on a connection; it is closed")
            exc = error
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
