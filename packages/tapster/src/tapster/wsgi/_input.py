"""`wsgi.input`: a blocking reader of the request body, fed one ASGI `http.request` message at a time.

It pulls the next message only when the app asks for bytes it does not hold, and holds at most the
rest of one message: the body waits in the server's own bounded buffer (`max_body_buffer`), and
when that is full the server stops reading the socket. An app that reads slowly slows the client
down; memory does not grow with the body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

__all__ = ["WSGIInput"]


class WSGIInput:
    """PEP 3333 "Input and Error Streams": read(size), readline(size), readlines(hint), iteration.

    `pull()` blocks until the next piece of the body and returns b"" at its end.
    """

    __slots__ = ("_at", "_chunk", "_eof", "_pull")

    def __init__(self, pull: Callable[[], bytes]) -> None:
        self._pull = pull
        self._chunk = b""  # the rest of the last message pulled, from offset _at
        self._at = 0
        self._eof = False

    @property
    def buffered(self) -> int:
        """Bytes pulled from the server and not yet read by the app."""
        return len(self._chunk) - self._at

    def _fill(self) -> bool:
        """Pull until something is buffered; False at the end of the body."""
        while self._at >= len(self._chunk):
            if self._eof:
                return False
            chunk = self._pull()
            if not chunk:
                self._eof = True
                return False
            self._chunk, self._at = chunk, 0
        return True

    def _take(self, size: int) -> bytes:
        at = self._at
        if at == 0 and size >= len(self._chunk):
            data, self._chunk = self._chunk, b""  # the whole message, no copy
            return data
        data = self._chunk[at : at + size]
        self._at = at + len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while self._fill():
                parts.append(self._take(len(self._chunk)))
            return b"".join(parts)
        parts = []
        wanted = size
        # Return what is there once something is: a short read is allowed (PEP 3333 follows
        # io.RawIOBase), but read(n) returning less than n before the end surprises code that
        # parses fixed-size records, so keep pulling until n bytes or the end.
        while wanted > 0 and self._fill():
            data = self._take(wanted)
            parts.append(data)
            wanted -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        limit = None if size is None or size < 0 else size
        parts = []
        taken = 0
        while (limit is None or taken < limit) and self._fill():
            chunk, at = self._chunk, self._at
            end = chunk.find(b"\n", at)
            stop = len(chunk) if end < 0 else end + 1
            if limit is not None:
                stop = min(stop, at + limit - taken)
            data = self._take(stop - at)
            parts.append(data)
            taken += len(data)
            if data.endswith(b"\n"):
                break
        return b"".join(parts)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line
