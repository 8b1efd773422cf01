"""Response bodies: bytes, an (async) iterable, a file or a file-like object, each read a chunk at a
time (the server asks for the next one only when the client has taken the last)."""

from __future__ import annotations

import inspect
import io
import os
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from typing import IO, Any

import anyio
import anyio.to_thread

from firkin._sync import iterate_in_thread

__all__ = ["FILE_CHUNK_SIZE", "DataBody", "FileBody", "IOBody", "IterableBody", "ResponseBody"]

#: How much of a file is read, held and sent at a time, so a large file never sits in memory.
#: Precedents: Starlette's FileResponse reads 64 KiB; werkzeug's wrap_file and Quart 8 KiB.
FILE_CHUNK_SIZE = 64 * 1024  # bytes


class ResponseBody:
    """What a response sends: iterate it with `async for chunk in body`."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the body holds (an open file, a generator) if it was not sent in full."""


class DataBody(ResponseBody):
    """A body known in full."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        if self.data:
            yield self.data


def _to_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode()
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise TypeError(f"a response body yields str or bytes, not {type(chunk).__name__}")


class IterableBody(ResponseBody):
    """A streamed body from a sync or async iterable (a generator) of str or bytes."""

    def __init__(self, iterable: Iterable[Any] | AsyncIterable[Any]) -> None:
        self.iterable = iterable
        self._iterator: AsyncGenerator[bytes, None] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._iterator = self._iterate()
        return self._iterator

    async def _iterate(self) -> AsyncGenerator[bytes, None]:
        iterable = self.iterable
        # A sync generator may block: it is advanced in a worker thread.
        source = iterable if isinstance(iterable, AsyncIterable) else iterate_in_thread(iterable)
        iterator = source.__aiter__()
        try:
            async for chunk in iterator:
                yield _to_bytes(chunk)
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()

    async def aclose(self) -> None:
        # Close our own generator too: left unfinished, trio reports it when it is collected.
        if self._iterator is not None:
            await self._iterator.aclose()
        close = getattr(self.iterable, "aclose", None)
        if close is not None:
            await close()
            return
        close = getattr(self.iterable, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result


class _ChunkedFileBody(ResponseBody):
    """What FileBody and IOBody share: bytes `begin` up to `end` (exclusive; None: to the end of
    the file), read `chunk_size` bytes at a time. The file is opened at the first chunk, so a
    response that is never sent (HEAD, 304) never reads it, and closed after the last chunk, or by
    `aclose()` when the send stops early. A body is sent once."""

    def __init__(self, begin: int | None, end: int | None, chunk_size: int) -> None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, not {chunk_size}")
        self.begin = begin
        self.end = end
        self.chunk_size = chunk_size
        self._position = 0
        self._started = False
        self._done = False

    def set_range(self, begin: int, end: int) -> None:
        """Send only bytes `begin` up to `end` (exclusive), as a 206 answer does."""
        if self._started:
            raise RuntimeError("the range of a file body cannot change once it is being sent")
        if not 0 <= begin <= end:
            raise ValueError(f"invalid byte range {begin}-{end}")
        self.begin = begin
        self.end = end

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        if not self._started:
            self._started = True
            # Shielded: a cancellation while the worker thread opens the file must not lose the
            # open file (it would only be closed by the garbage collector, with a ResourceWarning).
            with anyio.CancelScope(shield=True):
                self._position = await self._open(self.begin)
        size = self.chunk_size if self.end is None else min(self.chunk_size, self.end - self._position)
        chunk = await self._read(size) if size > 0 else b""
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        self._position += len(chunk)
        if self.end is not None and self._position >= self.end:
            await self.aclose()  # the last chunk: release the file now, not when the sender asks
        return chunk

    async def aclose(self) -> None:
        self._done = True
        with anyio.CancelScope(shield=True):  # a cancelled send must still close the file
            await self._close()

    async def _open(self, begin: int | None) -> int:
        """Open the file, seek to `begin` if given; return the position reads start at."""
        raise NotImplementedError

    async def _read(self, size: int) -> bytes:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError


class FileBody(_ChunkedFileBody):
    """A file on disk, streamed with anyio (reads run in a worker thread, never on the loop)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        begin: int = 0,
        end: int | None = None,
        chunk_size: int = FILE_CHUNK_SIZE,
    ) -> None:
        super().__init__(begin, end, chunk_size)
        self.path = path
        self._file: anyio.AsyncFile[bytes] | None = None

    async def _open(self, begin: int | None) -> int:
        self._file = await anyio.open_file(self.path, "rb")
        if begin:
            return await self._file.seek(begin)
        return 0

    async def _read(self, size: int) -> bytes:
        assert self._file is not None
        return await self._file.read(size)

    async def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            await file.aclose()


class IOBody(_ChunkedFileBody):
    """A binary file object (an open file, a BytesIO), read from where it stands unless a range is
    set (ranges are absolute offsets). It is closed once sent, as werkzeug's `wrap_file` does. A
    BytesIO is read in place; any other file object in a worker thread."""

    def __init__(
        self,
        file: IO[bytes],
        *,
        begin: int | None = None,
        end: int | None = None,
        chunk_size: int = FILE_CHUNK_SIZE,
    ) -> None:
        if isinstance(file, io.TextIOBase):
            raise ValueError("files must be opened in binary mode ('rb'), or be a BytesIO")
        if begin is None and end is not None:
            raise ValueError("an end offset needs a begin offset")
        super().__init__(begin, end, chunk_size)
        self.file = file
        self._in_memory = isinstance(file, io.BytesIO)

    async def _call(self, func: Any, *args: Any) -> Any:
        if self._in_memory:
            return func(*args)
        return await anyio.to_thread.run_sync(func, *args)

    async def _open(self, begin: int | None) -> int:
        if begin is not None:
            position: int = await self._call(self.file.seek, begin)
            return position
        return 0

    async def _read(self, size: int) -> bytes:
        data: bytes = await self._call(self.file.read, size)
        return data

    async def _close(self) -> None:
        if not self.file.closed:
            await self._call(self.file.close)
