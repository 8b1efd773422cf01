"""The asyncio backend: the driver is handed to the loop as an ``asyncio.Protocol``; uvloop if installed."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tapster.asgi._seam import Listener, ProtocolFactory
from tapster.asgi._server import Server
from tapster.asgi._state import error_log
from tapster.errors import RemoteProtocolError
from tapster.protocol.proxy import ProxyHeader, ProxyHeaderReader

__all__ = ["AsyncioBackend", "run", "serve", "uvloop_available"]


class _Waiter:
    """A one-shot event. Each waiting task awaits a future of its own: asyncio cancels the future a
    cancelled task was awaiting, and a shared one would take every other waiter down with it (and
    stay cancelled for whoever waits next)."""

    __slots__ = ("_futures", "_loop", "_woken")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._futures: list[asyncio.Future[None]] = []
        self._woken = False

    def wake(self) -> None:
        self._woken = True
        for future in self._futures:
            if not future.done():
                future.set_result(None)
        self._futures.clear()

    def wait(self) -> Awaitable[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        if self._woken:
            future.set_result(None)
            return future
        futures = self._futures
        if futures:  # drop the futures of waits that were cancelled (a receive() with a timeout, looped)
            futures[:] = [f for f in futures if not f.done()]
        futures.append(future)
        return future


class _Handles:
    __slots__ = ("_cancel",)

    def __init__(self, cancel: Callable[[], None]) -> None:
        self._cancel = cancel

    def cancel(self) -> None:
        self._cancel()

    def connection_closed(self) -> None:
        pass  # (no max_connections: nothing counted)


class _BoundedAcceptor:
    """Accepts on the listening sockets itself (not loop.create_server, which cannot pause), so it
    can stop at max_connections: while that many are open the sockets are not watched and the
    kernel's backlog holds new connections; a connection ending makes room and accepting resumes.
    Each accepted socket is served (PROXY header, TLS handshake, protocol) in a task this acceptor
    owns and cancels when it is cancelled."""

    __slots__ = ("_backend", "_factory", "_limit", "_listeners", "_open", "_paused", "_stopped", "_tasks")

    def __init__(
        self,
        backend: AsyncioBackend,
        listeners: list[Listener],
        protocol_factory: ProtocolFactory,
        limit: int,
    ) -> None:
        self._backend = backend
        self._listeners = listeners
        self._factory = protocol_factory
        self._limit = limit
        self._open = 0  # accepted, and neither closed nor failed before connection_made
        self._paused = True
        self._stopped = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._resume()

    def _resume(self) -> None:
        if self._paused and not self._stopped:
            self._paused = False
            loop = self._backend.loop
            for listener in self._listeners:
                loop.add_reader(listener.sock.fileno(), self._accept, listener)

    def _pause(self) -> None:
        if not self._paused:
            self._paused = True
            for listener in self._listeners:
                self._backend.loop.remove_reader(listener.sock.fileno())

    def _accept(self, listener: Listener) -> None:
        while self._open < self._limit:
            try:
                conn, _ = listener.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:  # EMFILE and friends: back off rather than spin
                error_log.error("accept() failed: %s", exc)
                self._pause()
                self._backend.loop.call_later(0.1, self._resume)
                return
            self._open += 1
            self._backend._start(self._tasks, self._connect(conn, listener))
        self._pause()

    async def _connect(self, conn: socket.socket, listener: Listener) -> None:
        made = False
        try:
            made = await self._backend._serve_accepted(conn, listener, self._factory)
        finally:
            if not made:  # no connection_lost will come: its place is given back here
                self.connection_closed()

    def connection_closed(self) -> None:
        self._open -= 1
        if self._open < self._limit:
            self._resume()

    def cancel(self) -> None:
        self._pause()
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        for listener in self._listeners:
            listener.sock.close()  # new connections are refused, not queued (as Server.close() does)
        error_log.debug("Stopped listening on %d socket(s)", len(self._listeners))


class AsyncioBackend:
    __slots__ = ("call_at", "call_soon", "call_soon_threadsafe", "handshake_timeout", "loop", "now", "spawn")

    def __init__(self, loop: asyncio.AbstractEventLoop, handshake_timeout: float = 10.0) -> None:
        self.loop = loop
        self.handshake_timeout = handshake_timeout  # seconds for a TLS handshake
        self.now = loop.time
        self.call_at = loop.call_at  # returns a TimerHandle, whose cancel() is all the seam needs
        self.call_soon = loop.call_soon
        # The task of every request: the loop's own create_task, no Python frame in between.
        self.spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]] = loop.create_task
        self.call_soon_threadsafe = loop.call_soon_threadsafe

    def create_waiter(self) -> _Waiter:
        return _Waiter(self.loop)

    async def listen(
        self, listeners: list[Listener], protocol_factory: ProtocolFactory, max_connections: int | None = None
    ) -> _Handles | _BoundedAcceptor:
        if max_connections is not None:
            return _BoundedAcceptor(self, listeners, protocol_factory, max_connections)

        def new_protocol() -> Any:
            return protocol_factory(None)

        servers: list[asyncio.Server] = []
        tasks: set[asyncio.Task[Any]] = set()  # accept loops and connections reading a PROXY header
        for listener in listeners:
            if listener.proxy_protocol:
                # The header comes before the TLS ClientHello: accept, read it, then hand over.
                self._start(tasks, self._accept_proxied(listener, protocol_factory, tasks))
                continue
            tls = listener.tls
            servers.append(
                await self.loop.create_server(
                    new_protocol,
                    sock=listener.sock,
                    ssl=tls,
                    ssl_handshake_timeout=self.handshake_timeout if tls is not None else None,
                    start_serving=True,
                )
            )

        def close() -> None:
            for server in servers:
                server.close()  # closes the listening sockets now
            for task in list(tasks):
                task.cancel()
            error_log.debug("Stopped listening on %d socket(s)", len(listeners))

        return _Handles(close)

    def _start(self, tasks: set[asyncio.Task[Any]], coro: Coroutine[Any, Any, object]) -> None:
        task = self.loop.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _accept_proxied(
        self, listener: Listener, protocol_factory: ProtocolFactory, tasks: set[asyncio.Task[Any]]
    ) -> None:
        sock = listener.sock
        try:
            while True:
                try:
                    conn, _ = await self.loop.sock_accept(sock)
                except OSError as exc:  # EMFILE and friends: back off rather than spin
                    error_log.error("accept() failed: %s", exc)
                    await asyncio.sleep(0.1)
                    continue
                self._start(tasks, self._serve_accepted(conn, listener, protocol_factory))
        finally:
            sock.close()  # stopped: new connections are refused, not queued (as create_server's close)

    async def _serve_accepted(
        self, conn: socket.socket, listener: Listener, protocol_factory: ProtocolFactory
    ) -> bool:
        """Serve an accepted socket: its PROXY header first where the listener expects one, then
        its TLS handshake and its protocol. False when it ended before the protocol was made (the
        socket is closed then, and no connection_lost will come)."""
        conn.setblocking(False)
        header: ProxyHeader | None = None
        if listener.proxy_protocol:
            try:
                async with asyncio.timeout(listener.proxy_timeout):
                    header = await self._read_proxy_header(conn, listener.max_proxy_header_size)
            except (TimeoutError, RemoteProtocolError, OSError) as exc:
                error_log.debug(
                    "closed a connection on %s: PROXY header: %s", listener.bind, exc or "timed out"
                )
                conn.close()
                return False
            except BaseException:
                conn.close()
                raise
        tls = listener.tls
        try:
            await self.loop.connect_accepted_socket(
                lambda: protocol_factory(header),
                conn,
                ssl=tls,
                ssl_handshake_timeout=self.handshake_timeout if tls is not None else None,
            )
        except OSError as exc:  # a failed or timed-out TLS handshake (its transport closed the socket)
            error_log.debug("closed a connection on %s: %s", listener.bind, exc)
            conn.close()
            return False
        except BaseException:
            conn.close()
            raise
        return True

    async def _read_proxy_header(self, sock: socket.socket, max_size: int) -> ProxyHeader:
        """Peek, then take exactly the header's bytes from the socket: what follows stays there for
        TLS or HTTP (tapster.protocol.proxy)."""
        reader = ProxyHeaderReader(max_size)
        while True:
            try:
                data = sock.recv(reader.wanted, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                await self._wait_readable(sock)
                continue
            if not data:
                raise ConnectionResetError("the peer closed the connection before its PROXY header")
            used = reader.receive_data(data)
            sock.recv(used)  # (peeked, so it is there: no wait)
            if reader.header is not None:
                return reader.header

    async def _wait_readable(self, sock: socket.socket) -> None:
        future: asyncio.Future[None] = self.loop.create_future()

        def readable() -> None:
            if not future.done():
                future.set_result(None)

        fd = sock.fileno()
        self.loop.add_reader(fd, readable)
        try:
            await future
        finally:
            self.loop.remove_reader(fd)

    def add_signal_handlers(self, callback: Callable[[], None]) -> _Handles:
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            self.loop.add_signal_handler(sig, callback)

        def remove() -> None:
            for sig in signals:
                self.loop.remove_signal_handler(sig)

        return _Handles(remove)


def uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


async def serve(server: Server, *, install_signals: bool = True) -> None:
    """Serve inside an already running asyncio loop."""
    backend = AsyncioBackend(asyncio.get_running_loop(), server.config.head_timeout)
    await server.serve(backend, install_signals=install_signals)


def run(server: Server, *, use_uvloop: bool, install_signals: bool = True) -> None:
    """Run a new event loop (uvloop's when asked) until the server has shut down."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if use_uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(server, install_signals=install_signals))
