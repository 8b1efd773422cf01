"""What every connection of one server shares: config, app, backend, lifespan state, the live set."""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, cast

from tapster.config import Config

from ._seam import Backend, Waiter
from ._types import ASGIApp

if TYPE_CHECKING:
    from typing import TypeAlias

    from ._http2 import H2Protocol
    from ._http11 import H11Protocol

    Connection: TypeAlias = H11Protocol | H2Protocol

__all__ = ["ServerState"]

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
        "access_log",
        "app",
        "backend",
        "close_idle",
        "config",
        "connections",
        "draining",
        "lifespan_state",
        "limits",
        "on_all_closed",
    )

    def __init__(self, app: ASGIApp, config: Config, backend: Backend) -> None:
        self.app = app
        self.config = config
        self.backend = backend
        self.limits = config.h11_limits
        self.lifespan_state: dict[str, Any] = {}
        self.connections: set[Connection] = set()
        self.draining = False  # graceful shutdown under way: finish in-flight work, take no more
        # While draining: close idle keep-alive connections at once (a shutdown), or let each serve
        # one more request with `connection: close` or reach its keep-alive timeout (a retirement).
        self.close_idle = True
        self.on_all_closed: Waiter | None = None
        self.access_log = config.access_log
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

    def connection_closed(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if not self.connections and self.on_all_closed is not None:
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
