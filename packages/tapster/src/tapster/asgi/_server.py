"""The server's life, backend-neutral: bind, lifespan startup, serve, graceful shutdown."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from tapster._bind import close_listeners, describe, open_listeners
from tapster.config import Config
from tapster.protocol.proxy import ProxyHeader
from tapster.proxy_headers import ProxyHeadersMiddleware

from ._http11 import H11Protocol
from ._lifespan import Lifespan
from ._seam import Backend, Waiter
from ._state import ServerState, error_log

if TYPE_CHECKING:
    from tapster._interface import App

__all__ = ["Server"]


class Server:
    """Serves one ASGI app with one config. `shutdown()` may be called from any thread or a signal."""

    def __init__(self, app: App, config: Config | None = None) -> None:
        from tapster._interface import adapt_app

        self.config = config if config is not None else Config()
        #: The ASGI 3 app served: `app` itself, or its adapter (`config.interface`: WSGI, ASGI 2).
        self.app = adapt_app(app, self.config)
        #: URLs (or unix:paths) being served, filled in once the server accepts connections.
        self.addresses: list[str] = []
        #: Set once the server accepts connections (for threads and tests that wait for it).
        self.started = threading.Event()
        self._shutdown_requests = 0
        self._backend: Backend | None = None
        self._stop: Waiter | None = None
        self._state: ServerState | None = None

    def shutdown(self) -> None:
        """Ask for a graceful shutdown; asking twice cancels what is left at once."""
        self._shutdown_requests += 1
        backend = self._backend
        if backend is not None:
            backend.call_soon_threadsafe(self._on_shutdown)

    def _on_shutdown(self) -> None:
        if self._stop is not None:
            self._stop.wake()
        state = self._state
        if self._shutdown_requests > 1 and state is not None and state.on_all_closed is not None:
            state.on_all_closed.wake()

    async def serve(self, backend: Backend, *, install_signals: bool = True) -> None:
        config = self.config
        app = self.app
        if config.proxy_headers:
            # Outermost, so the scope the app and the access log see carries the real client.
            app = ProxyHeadersMiddleware(app, config.forwarded_allow_ips, config.forwarded_header)
        state = ServerState(app, config, backend)
        self._state = state
        self._stop = backend.create_waiter()
        self._backend = backend
        listeners = open_listeners(config)
        signals = None
        if install_signals and threading.current_thread() is threading.main_thread():
            signals = backend.add_signal_handlers(self.shutdown)
        lifespan = Lifespan(self.app, backend, config.lifespan, state.lifespan_state)
        try:
            await lifespan.startup(config.lifespan_startup_timeout)

            def new_connection(proxied: ProxyHeader | None) -> H11Protocol:
                return H11Protocol(state, proxied)

            accepting = await backend.listen(listeners, new_connection)
            self.addresses = [describe(listener) for listener in listeners]
            for address in self.addresses:
                error_log.info("Tapster serving on %s", address)
            self.started.set()
            if not self._shutdown_requests:
                await self._stop.wait()
            error_log.info("Shutting down: no new connections; finishing in-flight requests")
            accepting.cancel()
            await self._drain(state)
            await lifespan.shutdown(config.lifespan_shutdown_timeout)
        finally:
            # Cancelled or failed before a graceful drain: take every connection down with us.
            for conn in list(state.connections):
                conn.terminate()
            lifespan.cancel()
            if signals is not None:
                signals.cancel()
            close_listeners(listeners)

    async def _drain(self, state: ServerState) -> None:
        backend = state.backend
        state.draining = True
        for conn in list(state.connections):
            conn.shutdown()
        if state.connections and self._shutdown_requests < 2:
            waiter = state.on_all_closed = backend.create_waiter()
            timer = backend.call_at(backend.now() + self.config.shutdown_timeout, waiter.wake)
            await waiter.wait()
            timer.cancel()
        if state.connections:
            error_log.warning(
                "Cancelling %d connection(s) still busy at the shutdown deadline", len(state.connections)
            )
            for conn in list(state.connections):
                conn.terminate()
