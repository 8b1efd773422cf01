"""What every connection of one server shares: config, app, backend, lifespan state, the live set."""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, cast

from tapster._trust import TrustedProxies
from tapster.config import Config

from ._seam import Backend, Handle, Waiter
from ._types import ASGIApp

if TYPE_CHECKING:
    from typing import TypeAlias

    from tapster.protocol import Request

    from ._http2 import H2Protocol
    from ._http11 import H11Protocol
    from ._observe import Observer
    from ._stream import Address

    Connection: TypeAlias = H11Protocol | H2Protocol

__all__ = ["BUSY_HEADERS", "BUSY_MESSAGE", "ServerState"]

#: The 503 of limit_concurrency: the client may retry in a second (RFC 9110 §10.2.3).
BUSY_MESSAGE = "the server is busy (limit_concurrency reached); retry later"
BUSY_HEADERS = b"retry-after: 1\r\n"

error_log = logging.getLogger("tapster.error")
access_log = logging.getLogger("tapster.access")


class ServerState:
    __slots__ = (
        "_date_second",
        "_extra",
        "_extra_pairs",
        "_pairs_second",
        "_server_line",
        "_trim_due",
        "app",
        "backend",
        "close_idle",
        "config",
        "connections",
        "draining",
        "finishing",
        "in_flight",
        "lifespan_state",
        "limit_concurrency",
        "limits",
        "observer",
        "on_all_closed",
        "release_connection",
        "trusted_proxies",
    )

    def __init__(self, app: ASGIApp, config: Config, backend: Backend) -> None:
        self.app = app
        self.config = config
        self.backend = backend
        self.limits = config.h11_limits
        self.lifespan_state: dict[str, Any] = {}
        self.connections: set[Connection] = set()
        #: Connections whose socket is gone while app calls of theirs still run (a websocket
        #: handler's cleanup after the client closed, say): a shutdown waits for them too, so the
        #: lifespan's shutdown never runs beside them.
        self.finishing: set[Connection] = set()
        self.draining = False  # graceful shutdown under way: finish in-flight work, take no more
        # While draining: close idle keep-alive connections at once (a shutdown), or let each serve
        # one more request with `connection: close` or reach its keep-alive timeout (a retirement).
        self.close_idle = True
        self.on_all_closed: Waiter | None = None
        #: Records each finished exchange (access log, metrics, StatsD); None when all are off.
        self.observer: Observer | None = None
        #: At most this many app calls (requests, websockets) at once; more get a 503.
        self.limit_concurrency = config.limit_concurrency
        self.in_flight = 0  # app calls admitted under limit_concurrency and not yet returned
        #: With max_connections: tells the listener a connection ended (it may accept again).
        self.release_connection: Callable[[], None] | None = None
        #: Peers whose PROXY protocol header (and, in the middleware, proxy headers) we believe.
        self.trusted_proxies = TrustedProxies(config.forwarded_allow_ips)
        self._server_line = b"server: tapster\r\n" if config.server_header else b""
        self._date_second = -1
        self._extra = self._server_line
        self._pairs_second = -1
        self._trim_due = False
        self._extra_pairs: list[tuple[bytes, bytes]] = (
            [(b"server", b"tapster")] if config.server_header else []
        )

    def memory_freed(self) -> None:
        """Much memory went back to the C allocator (the zlib state of idle websockets): ask it to
        return its free pages to the system soon (glibc's malloc_trim), at most once a second.
        Without this the process keeps the pages, and its size, as if the state were still held."""
        if self._trim_due or _malloc_trim() is None:
            return
        self._trim_due = True
        self.backend.call_at(self.backend.now() + 1.0, self._trim)

    def _trim(self) -> None:
        self._trim_due = False
        trim = _malloc_trim()
        if trim is not None:
            trim(0)

    def extra_headers(self) -> bytes:
        """The header lines the server adds to every response; the Date is formatted once a second."""
        if not self.config.date_header:
            return self._extra
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            date = formatdate(second, usegmt=True).encode("ascii")
            self._extra = b"date: " + date + b"\r\n" + self._server_line
        return self._extra

    def extra_pairs(self) -> list[tuple[bytes, bytes]]:
        """The same headers as (name, value) pairs, for HTTP/2 (a new list: callers extend it)."""
        if not self.config.date_header:
            return list(self._extra_pairs)
        second = int(time.time())
        if second != self._pairs_second:
            self._pairs_second = second
            date = formatdate(second, usegmt=True).encode("ascii")
            server = [(b"server", b"tapster")] if self.config.server_header else []
            self._extra_pairs = [(b"date", date), *server]
        return list(self._extra_pairs)

    def admit(self) -> bool:
        """Room for one more app call under limit_concurrency (only called when it is set): counted
        from here until the coroutine `counted()` wraps returns."""
        assert self.limit_concurrency is not None
        if self.in_flight >= self.limit_concurrency:
            return False
        self.in_flight += 1
        return True

    async def counted(self, run: Coroutine[Any, Any, None]) -> None:
        """Run an admitted app call; its place is given back when it ends, however it ends."""
        try:
            await run
        finally:
            self.in_flight -= 1

    def refuse_busy(self, request: Request, client: Address) -> None:
        """Record a request refused with 503 under limit_concurrency (the caller sends the 503)."""
        error_log.debug("503 to %s: limit_concurrency (%s) app calls in flight", client, self.in_flight)
        if self.observer is not None:
            self.observer.exchange(request, client, 503, (), 0, 0.0)

    def connection_closed(self, conn: Connection) -> None:
        """The connection's socket is gone (called once per socket, by the protocol that owns it last)."""
        if self.release_connection is not None:
            self.release_connection()
        self.connections.discard(conn)
        if conn.running():
            self.finishing.add(conn)
        self._maybe_all_closed()

    def call_ended(self, conn: Connection, tasks: set[Handle], task: Handle) -> None:
        """An app call of `conn` ended (`tasks`: the connection's running ones). When it was the last
        and the socket is gone already, the connection is no longer finishing."""
        tasks.discard(task)
        if not tasks and conn in self.finishing:
            self.finishing.discard(conn)
            self._maybe_all_closed()

    def _maybe_all_closed(self) -> None:
        if not self.connections and not self.finishing and self.on_all_closed is not None:
            self.on_all_closed.wake()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, None elsewhere (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return cast("Callable[[int], int]", trim)
