"""The supervisor's line to one worker: JSON messages, one a line, over a socketpair (private).

The supervisor reads without blocking (its loop watches many workers); the worker reads blocking, in
a thread of its own. Either side sees EOF when the other process is gone, which is how a worker
notices a supervisor that was killed.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

__all__ = ["MAX_MESSAGE", "Channel", "ChannelError"]

# Bytes of one message. The largest is the worker's start message (the whole Config) or an error
# that quotes an exception; a peer that sends more without a newline is broken, not chatty.
MAX_MESSAGE = 256 * 1024


class ChannelError(Exception):
    """The peer sent something that is not a message of ours."""


class Channel:
    """One end of the pipe. `send()` may be called from any thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        if len(data) > MAX_MESSAGE:
            raise ChannelError(f"message of {len(data)} bytes is over the {MAX_MESSAGE} byte bound")
        with self._lock:
            try:
                self.sock.sendall(data)
            except OSError:
                pass  # the peer is gone: its exit is noticed (and reported) on the other path

    def receive_nowait(self) -> list[dict[str, Any]] | None:
        """Messages that arrived (a non-blocking socket), or None at EOF."""
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            data = b""
        if not data:
            return None
        self._buffer += data
        return self._split()

    def receive(self) -> dict[str, Any] | None:
        """The next message, blocking; None at EOF."""
        while True:
            messages = self._split(limit=1)
            if messages:
                return messages[0]
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                return None
            self._buffer += data

    def _split(self, limit: int | None = None) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while limit is None or len(messages) < limit:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE:
                    raise ChannelError(f"a message longer than {MAX_MESSAGE} bytes")
                break
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            try:
                message = json.loads(line)
            except ValueError as exc:
                raise ChannelError(f"not a JSON message: {line[:80]!r}") from exc
            if not isinstance(message, dict) or not isinstance(message.get("event"), str):
                raise ChannelError(f"not a message: {line[:80]!r}")
            messages.append(message)
        return messages

    def close(self) -> None:
        self.closed = True
        self.sock.close()
