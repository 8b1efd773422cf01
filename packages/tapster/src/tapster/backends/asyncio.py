"""The asyncio backend: the driver is handed to the loop as an ``asyncio.Protocol``; uvloop if installed."""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tapster.asgi._server import Server
from tapster.asgi._state import error_log

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
        self,
        sockets: list[socket.socket],
        protocol_factory: Callable[[], Any],
        ssl_context: ssl.SSLContext | None,
    ) -> _Handles:
        servers = [
            await self.loop.create_server(
                protocol_factory,
                sock=sock,
                ssl=ssl_context,
                ssl_handshake_timeout=self.handshake_timeout if ssl_context is not None else None,
                start_serving=True,
            )
            for sock in sockets
        ]

        def close() -> None:
            for server in servers:
                server.close()  # closes the listening sockets now
            error_log.debug("Stopped listening on %d socket(s)", len(servers))

        return _Handles(close)

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
