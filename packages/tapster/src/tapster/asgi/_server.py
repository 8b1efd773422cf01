"""The server's life, backend-neutral: bind, lifespan startup, serve, graceful shutdown."""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING

from tapster._bind import close_listeners, describe, open_listeners
from tapster.config import Config
from tapster.protocol.proxy import ProxyHeader
from tapster.proxy_headers import ProxyHeadersMiddleware

from ._http11 import H11Protocol
from ._lifespan import Lifespan
from ._observe import Observer, RequestMetrics, Sink
from ._seam import Accepting, Backend, Listener, Waiter
from ._state import ServerState, error_log

if TYPE_CHECKING:
    from tapster._interface import App

if TYPE_CHECKING:
    from tapster._statsd import StatsdClient

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
        #: The metrics endpoint's URL (with metrics_bind), once the server accepts connections.
        self.metrics_address: str | None = None
        #: The request counters behind the metrics endpoint; None without metrics_bind. A
        #: supervisor counts worker restarts here: `server.metrics.worker_restarted()`.
        self.metrics: RequestMetrics | None = None
        #: The StatsD client (with statsd_host): its `sent` and `dropped` count datagrams.
        self.statsd: StatsdClient | None = None
        if self.config.metrics_bind is not None:
            from tapster._prometheus import require_prometheus_client

            require_prometheus_client()
            self.metrics = RequestMetrics()
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
        metrics_listeners: list[Listener] = []
        metrics_state: ServerState | None = None
        metrics_accepting: Accepting | None = None
        try:
            metrics_listeners, metrics_state = self._observe(state, backend)
            await lifespan.startup(config.lifespan_startup_timeout)

            def new_connection(proxied: ProxyHeader | None) -> H11Protocol:
                return H11Protocol(state, proxied)

            accepting = await backend.listen(listeners, new_connection, config.max_connections)
            if config.max_connections is not None:
                state.release_connection = accepting.connection_closed
            if metrics_state is not None:
                served = metrics_state

                def new_metrics_connection(proxied: ProxyHeader | None) -> H11Protocol:
                    return H11Protocol(served, proxied)

                metrics_accepting = await backend.listen(metrics_listeners, new_metrics_connection)
                self.metrics_address = describe(metrics_listeners[0])
            self.addresses = [describe(listener) for listener in listeners]
            for address in self.addresses:
                error_log.info("Tapster serving on %s", address)
            if self.metrics_address is not None:
                error_log.info("Metrics on %s/metrics", self.metrics_address)
            self.started.set()
            if not self._shutdown_requests:
                await self._stop.wait()
            # Draining from here on: a response that starts now is the last on its connection.
            state.draining = True
            state.close_idle = self._close_idle
            error_log.info("Shutting down: no new connections; finishing in-flight requests")
            accepting.cancel()
            await self._drain(state)
            await lifespan.shutdown(config.lifespan_shutdown_timeout)
        finally:
            # Cancelled or failed before a graceful drain: take every connection down with us.
            for conn in list(state.connections):
                conn.terminate()
            if metrics_accepting is not None:
                metrics_accepting.cancel()
            if metrics_state is not None:
                for conn in list(metrics_state.connections):
                    conn.terminate()
            close_listeners(metrics_listeners)
            if self.statsd is not None:
                self.statsd.close()
            lifespan.cancel()
            if signals is not None:
                signals.cancel()
            close_listeners(listeners)

    def _observe(self, state: ServerState, backend: Backend) -> tuple[list[Listener], ServerState | None]:
        """Set up what records each exchange (access log, metrics, StatsD) and open the metrics
        endpoint's listener; returns it with the state of its own small server (no observer)."""
        config = self.config
        sinks: list[Sink] = []
        if config.statsd_host is not None:
            from tapster._statsd import StatsdClient, open_statsd_socket

            self.statsd = StatsdClient(config, open_statsd_socket(config.statsd_host), backend.call_soon)
            sinks.append(self.statsd)
        if config.access_log or self.metrics is not None or sinks:
            state.observer = Observer(config, self.metrics, sinks)
        if config.metrics_bind is None or self.metrics is None:
            return [], None
        from tapster._prometheus import MetricsApp

        app = MetricsApp(self.metrics, state)
        # Its own listener: plain HTTP unless its bind string asks for TLS (?certfile=...), no PROXY
        # protocol, no proxy headers, none of the app's bounds or observers.
        metrics_config = dataclasses.replace(
            config,
            binds=(config.metrics_bind,),
            certfile=None,
            keyfile=None,
            proxy_protocol=False,
            proxy_headers=False,
            access_log=False,
            limit_concurrency=None,
            max_connections=None,
            metrics_bind=None,
            statsd_host=None,
        )
        return open_listeners(metrics_config), ServerState(app, metrics_config, backend)

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
            if not state.connections and not state.finishing:
                break
            waiter = state.on_all_closed = backend.create_waiter()
            timer = backend.call_at(deadline, waiter.wake)
            await waiter.wait()
            timer.cancel()
        if state.connections or state.finishing:
            error_log.warning(
                "Cancelling %d connection(s) still busy at the shutdown deadline",
                len(state.connections) + len(state.finishing),
            )
            for conn in [*state.connections, *state.finishing]:
                conn.terminate()
            await self._settle(backend)  # the cancelled app calls run their cleanup before the lifespan's
