"""What every connection of one server shares: config, app, backend, lifespan state, the live set."""

from __future__ import annotations

import logging
import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

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
        "access_log",
        "app",
        "backend",
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
        self.on_all_closed: Waiter | None = None
        self.access_log = config.access_log
        self._server_line = b"server: tapster\r\n" if config.server_header else b""
        self._date_second = -1
        self._extra = self._server_line
        self._pairs_second = -1
        self._extra_pairs: list[tuple[bytes, bytes]] = (
            [(b"server", b"tapster")] if config.server_header else []
        )

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
