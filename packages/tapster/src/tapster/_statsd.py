"""The StatsD / DogStatsD client (`--statsd-host`): requests and durations as datagrams.

Never blocks and never grows: lines are batched into one datagram of at most `statsd_max_packet`
bytes, sent when the next line would not fit or at the end of the event loop's current turn
(whichever comes first), on a non-blocking socket. A datagram the socket cannot take at once
(its buffer is full: EAGAIN, ENOBUFS) or that the network refuses (ECONNREFUSED: nobody listens)
is dropped and counted in `dropped`; StatsD is lossy by design and must never slow a request.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from .config import Config
from .errors import ConfigError

__all__ = ["StatsdClient", "open_statsd_socket"]


def open_statsd_socket(target: str) -> socket.socket:
    """A connected, non-blocking datagram socket to host:port (UDP) or unix:/path."""
    if target.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        address: str | tuple[Any, ...] = target[5:]
    else:
        host, sep, port = target.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"statsd_host {target!r} must be host:port or unix:/path")
        try:
            family, kind, proto, _, address = socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)[0]
        except socket.gaierror as exc:
            raise ConfigError(f"statsd_host {target!r}: {exc.strerror}") from exc
        sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        sock.connect(address)  # (UDP: no packet is sent; errors of later sends come back to us)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"statsd_host {target!r}: {exc.strerror or exc}") from exc
    return sock


class StatsdClient:
    """A `Sink` of the observer (asgi._observe): one exchange becomes a counter and a timer line."""

    __slots__ = (
        "_buffer",
        "_call_soon",
        "_dogstatsd",
        "_max",
        "_prefix",
        "_scheduled",
        "_sock",
        "_tags",
        "dropped",
        "sent",
    )

    def __init__(
        self, config: Config, sock: socket.socket, call_soon: Callable[[Callable[[], None]], object]
    ) -> None:
        self._sock = sock
        self._call_soon = call_soon
        self._prefix = config.statsd_prefix
        self._dogstatsd = bool(config.dogstatsd_tags)
        self._tags = ",".join(config.dogstatsd_tags)
        self._max = config.statsd_max_packet
        self._buffer = bytearray()  # never more than _max bytes
        self._scheduled = False
        self.sent = 0  # datagrams
        self.dropped = 0  # datagrams the socket did not take

    def exchange(self, method: str, status: int, duration: float) -> None:
        prefix = self._prefix
        millis = duration * 1000.0
        if self._dogstatsd:
            tags = f"|#method:{method},status:{status},{self._tags}"  # (DogStatsD: tags after |#)
            self._add(f"{prefix}.requests:1|c{tags}")
            self._add(f"{prefix}.request.duration:{millis:.3f}|ms{tags}")
        else:
            self._add(f"{prefix}.requests:1|c")
            self._add(f"{prefix}.requests.status.{status}:1|c")
            self._add(f"{prefix}.request.duration:{millis:.3f}|ms")

    def _add(self, line: str) -> None:
        data = line.encode("ascii", "replace")
        buffer = self._buffer
        if buffer and len(buffer) + 1 + len(data) > self._max:
            self.flush()
        if len(data) > self._max:
            self.dropped += 1  # (a line longer than a datagram: only a very long prefix or tags)
            return
        if buffer:
            buffer += b"\n"
        buffer += data
        if not self._scheduled:
            self._scheduled = True
            self._call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        buffer = self._buffer
        if not buffer:
            return
        try:
            self._sock.send(buffer)
        except OSError:  # BlockingIOError (buffer full), ConnectionRefusedError, ENOBUFS...: drop it
            self.dropped += 1
        else:
            self.sent += 1
        buffer.clear()

    def close(self) -> None:
        self.flush()
        self._sock.close()
