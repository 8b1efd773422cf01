"""The backend seam: the little the driver needs from an event loop (STYLE.md #6).

The asyncio backend satisfies `Transport` with asyncio's own transports (the driver is an
``asyncio.Protocol``); the trio backend adapts trio streams to the same shape. Nothing here imports
an event-loop library.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from tapster.protocol.proxy import ProxyHeader

__all__ = ["Accepting", "Backend", "Handle", "Listener", "ProtocolFactory", "Transport", "Waiter"]

#: A new connection's protocol, given the PROXY header it opened with (None on other listeners).
ProtocolFactory = Callable[[ProxyHeader | None], Any]


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket and what its bind string asked of it (tapster._bind opens them)."""

    sock: socket.socket
    bind: str  # the bind string it came from, options included
    tls: ssl.SSLContext | None
    #: Each connection opens with a PROXY protocol header (read before TLS, within `proxy_timeout`
    #: seconds, at most `max_proxy_header_size` bytes), else it is closed.
    proxy_protocol: bool = False
    proxy_timeout: float = 5.0
    max_proxy_header_size: int = 4096


class Transport(Protocol):
    """The write side and read control of one connection (the subset of asyncio.Transport we use)."""

    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...  # flush what is queued, then close
    def abort(self) -> None: ...  # close now, dropping what is queued
    def can_write_eof(self) -> bool: ...
    def write_eof(self) -> None: ...  # flush what is queued, then shut down the sending side
    def is_closing(self) -> bool: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def get_extra_info(self, name: str, default: Any = None) -> Any: ...
    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...
    def set_protocol(self, protocol: Any) -> None: ...  # hand the connection to another protocol


class Handle(Protocol):
    """A scheduled timer or a spawned task."""

    def cancel(self) -> object: ...


class Accepting(Protocol):
    """What `Backend.listen()` returns: `cancel()` stops accepting for good."""

    def cancel(self) -> object: ...

    def connection_closed(self) -> None:
        """With `max_connections`: a connection accepted here has ended (its protocol's
        connection_lost ran), so there may be room to accept again. Otherwise never called."""
        ...


class Waiter(Protocol):
    """A one-shot wake-up: one task awaits `wait()`, anyone calls `wake()` (idempotent)."""

    def wake(self) -> None: ...
    def wait(self) -> Awaitable[None]: ...


class Backend(Protocol):
    """Clock, timers, tasks and wake-ups of one event loop."""

    def now(self) -> float: ...  # monotonic seconds
    def call_at(self, when: float, callback: Callable[[], None]) -> Handle: ...
    def spawn(self, coro: Coroutine[Any, Any, None]) -> Handle: ...  # run `coro` as a task of its own
    def create_waiter(self) -> Waiter: ...
    def call_soon(self, callback: Callable[[], None]) -> object: ...  # after what is ready to run now
    def call_soon_threadsafe(self, callback: Callable[[], None]) -> object: ...

    async def listen(
        self, listeners: list[Listener], protocol_factory: ProtocolFactory, max_connections: int | None = None
    ) -> Accepting:
        """Accept connections on every listener, each served by a new protocol (after its TLS handshake,
        and after its PROXY header on the listeners that expect one); cancel() stops accepting.
        With `max_connections`, accepting pauses while that many accepted connections are open
        (from accept() until connection_lost, or until a failed TLS handshake or PROXY header) and
        resumes below: the kernel's listen backlog holds the connections waiting meanwhile."""
        ...

    def add_signal_handlers(self, callback: Callable[[], None]) -> Handle:
        """Call `callback` on SIGINT/SIGTERM (main thread only); cancel() restores the defaults."""
        ...
