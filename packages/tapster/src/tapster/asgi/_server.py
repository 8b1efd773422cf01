"""The server's life, backend-neutral: bind, lifespan startup, serve, graceful shutdown."""

from __future__ import annotations

import threading

from tapster._bind import bind_sockets, close_sockets, describe, ssl_context
from tapster.config import Config

from ._http11 import H11Protocol
from ._lifespan import Lifespan
from ._seam import Backend, Waiter
from ._state import ServerState, error_log
from ._types import ASGIApp

__all__ = ["Server"]


class Server:
    """Serves one ASGI app with one config. `shutdown()` may be called from any thread or a signal."""

    def __init__(self, app: ASGIApp, config: Config | None = None) -> None:
        self.app = app
        self.config = config if config is not None else Config()
        #: URLs (or unix:paths) being served, filled in once the server accepts connections.
        self.addresses: list[str] = []
        #: Set once the server accepts connections (for threads and tests that wait for it).
        self.started = threading.Event()
        self._shutdown_requests = 0
        self._close_idle = True
        self._backend: Backend | None = None
        self._stop: Waiter | None = None
        self._state: ServerState | None = None

    @property
    def stopping(self) -> bool:
        """True once a shutdown (or a retirement) was asked for."""
        return self._shutdown_requests > 0

    def shutdown(self) -> None:
        """Ask for a graceful shutdown; asking twice cancels what is left at once."""
        self._shutdown_requests += 1
        backend = self._backend
        if backend is not None:
            backend.call_soon_threadsafe(self._on_shutdown)

    def retire(self) -> None:
        """A graceful shutdown for a rolling restart, where other processes go on serving the same
        sockets: like `shutdown()`, except that an idle HTTP/1.1 keep-alive connection is not closed
        under its client (who may be sending a request at that very moment): its next request is
        answered with `connection: close`, or it closes at its keep-alive timeout as it would anyway."""
        self._close_idle = False
        self.shutdown()

    def _on_shutdown(self) -> None:
        if self._stop is not None:
            self._stop.wake()
        state = self._state
        if self._shutdown_requests > 1 and state is not None and state.on_all_closed is not None:
            state.on_all_closed.wake()

    async def serve(self, backend: Backend, *, install_signals: bool = True) -> None:
        config = self.config
        state = ServerState(self.app, config, backend)
        self._state = state
        self._stop = backend.create_waiter()
        self._backend = backend
        tls = ssl_context(config)
        sockets = bind_sockets(config)
        signals = None
        if install_signals and threading.current_thread() is threading.main_thread():
            signals = backend.add_signal_handlers(self.shutdown)
        lifespan = Lifespan(self.app, backend, config.lifespan, state.lifespan_state)
        try:
            await lifespan.startup(config.lifespan_startup_timeout)
            listener = await backend.listen(sockets, lambda: H11Protocol(state), tls)
            self.addresses = [describe(sock, tls is not None) for sock in sockets]
            for address in self.addresses:
                error_log.info("Tapster serving on %s", address)
            self.started.set()
            if not self._shutdown_requests:
                await self._stop.wait()
            # Draining from here on: a response that starts now is the last on its connection.
            state.draining = True
            state.close_idle = self._close_idle
            error_log.info("Shutting down: no new connections; finishing in-flight requests")
            listener.cancel()
            await self._drain(state)
            await lifespan.shutdown(config.lifespan_shutdown_timeout)
        finally:
            # Cancelled or failed before a graceful drain: take every connection down with us.
            for conn in list(state.connections):
                conn.terminate()
            lifespan.cancel()
            if signals is not None:
                signals.cancel()
            close_sockets(sockets, config)

    async def _settle(self, backend: Backend) -> None:
        """A few turns of the loop, so that a connection accepted just before the listener was
        cancelled (asyncio makes its transport in a task of its own; trio may be woken for one last
        accept) reaches `connection_made` and is drained, rather than dropped unread at exit.
        Ten turns, not three: under a flood of connections (tests/e2e/test_lifecycle.py's
        refusal wait) CPython 3.11's asyncio still had transports on the way after three."""
        for _ in range(10):
            waiter = backend.create_waiter()
            backend.call_soon(waiter.wake)
            await waiter.wait()

    async def _drain(self, state: ServerState) -> None:
        backend = state.backend
        deadline = backend.now() + self.config.shutdown_timeout
        told: set[object] = set()
        # Until no connection is left and none arrived late, the deadline passes or a second
        # shutdown request cancels what is left (checked after each await: it may come meanwhile).
        while True:
            await self._settle(backend)
            if self._shutdown_requests > 1 or backend.now() >= deadline:
                break
            for conn in list(state.connections):
                if conn not in told:
                    told.add(conn)
                    conn.shutdown()
            if not state.connections:
                break
            waiter = state.on_all_closed = backend.create_waiter()
            timer = backend.call_at(deadline, waiter.wake)
            await waiter.wait()
            timer.cancel()
        if state.connections:
            error_log.warning(
                "Cancelling %d connection(s) still busy at the shutdown deadline", len(state.connections)
            )
            for conn in list(state.connections):
                conn.terminate()
