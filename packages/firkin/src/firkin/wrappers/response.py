"""The response: werkzeug's sans-I/O response, with a body that is bytes or an (async) iterable."""

from __future__ import annotations

import functools
import inspect
import io
import json as _json
import os
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Generator, Iterable
from typing import IO, TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import HTTP_STATUS_CODES, parse_etags, parse_range_header, remove_entity_headers
from werkzeug.sansio.http import is_resource_modified
from werkzeug.sansio.response import Response as SansIOResponse
from werkzeug.utils import get_content_type

from firkin._sync import iterate_in_thread
from firkin.globals import _cv_app

from .request import awaitable_class

if TYPE_CHECKING:
    from .request import Request

__all__ = ["FILE_CHUNK_SIZE", "DataBody", "FileBody", "IOBody", "IterableBody", "Response", "ResponseBody"]

# bytes that can be awaited (giving themselves): `response.data` in Flask's form and Quart's.
_awaitable_bytes: type[bytes] = awaitable_class(bytes)

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


@functools.lru_cache(maxsize=32)
def default_content_type(mimetype: str) -> str:
    return get_content_type(mimetype, "utf-8")


# The names of_data's ASGI pairs carry, as werkzeug's Headers spell them.
_NAMES = {b"content-type": "Content-Type", b"content-length": "Content-Length"}


@functools.lru_cache(maxsize=32)
def _latin1(text: str) -> bytes:
    return text.encode("latin-1")


@functools.lru_cache(maxsize=128)
def _lower_name(name: str) -> bytes:
    """A header name as the server sends it (lower case; UnicodeEncodeError if not latin-1)."""
    return name.lower().encode("latin-1")


@functools.lru_cache(maxsize=64)
def _status_line(code: int) -> str:
    """werkzeug's status for an int code: "404 NOT FOUND", "299 UNKNOWN"."""
    reason = HTTP_STATUS_CODES.get(code)
    return f"{code} {reason.upper() if reason is not None else 'UNKNOWN'}"


class Response(SansIOResponse):
    """The response a view returns (or that `make_response` builds). Its body is sent by the ASGI
    layer; in tests read it with `await response.get_data()` / `await response.get_json()`."""

    default_mimetype: str | None = "text/html"
    automatically_set_content_length = True

    def __init__(
        self,
        response: str | bytes | bytearray | Iterable[Any] | AsyncIterable[Any] | ResponseBody | None = None,
        status: int | str | None = None,
        headers: Headers | dict[str, str] | list[tuple[str, str]] | None = None,
        mimetype: str | None = None,
        content_type: str | None = None,
    ) -> None:
        if not headers and self._init_directly(response, status, mimetype, content_type):
            return
        if content_type is None and mimetype is None and not headers and self.default_mimetype is not None:
            # The common case: werkzeug would look "content-type" up in the empty headers first,
            # which costs a raised and caught KeyError on every response.
            content_type = default_content_type(self.default_mimetype)
        super().__init__(status=status, headers=headers, mimetype=mimetype, content_type=content_type)
        self.response: ResponseBody
        if response is None:
            self.set_data(b"")
        elif isinstance(response, str | bytes | bytearray):
            self.set_data(response)
        elif isinstance(response, ResponseBody):
            self.response = response
        else:
            self.response = IterableBody(response)

    def _init_directly(
        self, response: object, status: int | str | None, mimetype: str | None, content_type: str | None
    ) -> bool:
        """What werkzeug's __init__ makes of a str or bytes body without headers, made directly
        (headers as pairs for the server until read, as of_data's); False for anything else."""
        if type(response) is str:
            data = response.encode()
        elif type(response) is bytes:
            data = response
        else:
            return False
        code = self.default_status if status is None else status
        if type(code) is not int or not self.automatically_set_content_length:
            return False
        if content_type is None:
            if mimetype is not None:
                content_type = get_content_type(mimetype, "utf-8")
            elif self.default_mimetype is not None:
                content_type = default_content_type(self.default_mimetype)
            else:
                return False
        if "\n" in content_type or "\r" in content_type:
            return False  # werkzeug refuses it, with its own message
        try:
            raw = _latin1(content_type)
        except UnicodeEncodeError:
            return False
        pairs = [(b"content-type", raw), (b"content-length", b"%d" % len(data))]
        self._set_direct(data, code, pairs, ["Content-Type", "Content-Length"])
        return True

    def _set_direct(
        self, data: bytes, code: int, pairs: list[tuple[bytes, bytes]], names: list[str] | None
    ) -> None:
        """Fill a response built without werkzeug's __init__: the headers as the server wants them
        (`pairs`; werkzeug's Headers only if someone reads them, spelled as `names`, or as _NAMES
        when None), the status and the body."""
        self._headers = None
        self._asgi_headers = pairs
        self._header_names = names
        self._status = _status_line(code)
        self._status_code = code
        self.response = DataBody(data)

    @classmethod
    def of_data(cls, data: bytes, content_type: str) -> Response:
        """A 200 response with this body and Content-Type: what `Response(data, content_type=...)`
        gives, built directly (the hot path, for views that return str, bytes, dict or list).
        A subclass with its own __init__ goes through it."""
        if (
            cls.__init__ is not Response.__init__
            or cls.default_status != 200
            or not cls.automatically_set_content_length
        ):
            return cls(data, content_type=content_type)
        response = cls.__new__(cls)
        pairs = [(b"content-type", _latin1(content_type)), (b"content-length", b"%d" % len(data))]
        response._set_direct(data, 200, pairs, None)
        return response

    @classmethod
    def of_parts(
        cls, data: bytes, status: int, content_type: str | None, headers: list[tuple[str, str]]
    ) -> Response | None:
        """What `Response(data, status, headers)` gives, built directly when it can be (headers of
        str names and values, no Content-Length among them; `content_type` is the Content-Type among
        `headers`, or None for the default): the path of `return body, status, headers`. None when
        it cannot be: the caller then builds it the usual way, errors and all."""
        if (
            cls.__init__ is not Response.__init__
            or not cls.automatically_set_content_length
            or cls.default_mimetype is None
            or type(status) is not int
        ):
            return None
        pairs: list[tuple[bytes, bytes]] = []
        for name, value in headers:
            if type(name) is not str or type(value) is not str or "\n" in value or "\r" in value:
                return None  # werkzeug refuses it, with its own message
            try:
                pairs.append((_lower_name(name), value.encode("latin-1")))
            except UnicodeEncodeError:
                return None
        names = [name for name, _ in headers]
        if content_type is None:
            content_type = default_content_type(cls.default_mimetype)
            pairs.append((b"content-type", _latin1(content_type)))
            names.append("Content-Type")
        pairs.append((b"content-length", b"%d" % len(data)))
        names.append("Content-Length")
        response = cls.__new__(cls)
        response._set_direct(data, status, pairs, names)
        return response

    def _add_header(self, name: str, value: str) -> bool:
        """Add a header to a response built by of_parts, its headers still unread; False when it
        cannot be done that way (then `headers` is the way)."""
        pairs = self._asgi_headers
        names = self._header_names
        if pairs is None or names is None or self._headers is not None or "\n" in value or "\r" in value:
            return False
        try:
            pairs.append((_lower_name(name), value.encode("latin-1")))
        except UnicodeEncodeError:
            return False
        names.append(name)
        return True

    def __await__(self) -> Generator[Any, None, Response]:
        """Awaiting a response gives the response itself: `app.make_response()` returns a response,
        so sync code (a Flask extension's after_request hook) can use it, and Quart's
        `await app.make_response(...)` keeps working."""
        return self
        yield  # a generator that never suspends

    # Built lazily by of_data and of_parts: the ASGI header pairs until `headers` is first read (then
    # None), and the names as given (None: of_data's, spelled as in _NAMES).
    _headers: Headers | None
    _asgi_headers: list[tuple[bytes, bytes]] | None = None
    _header_names: list[str] | None = None

    @property
    def headers(self) -> Headers:
        """The response headers (werkzeug's Headers)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers.__new__(Headers)  # what Headers() does, without the call
            pairs = self._asgi_headers
            assert pairs is not None
            names = self._header_names
            if names is None:
                headers._list = [(_NAMES[name], value.decode("latin-1")) for name, value in pairs]
            else:
                headers._list = [
                    (name, value.decode("latin-1")) for name, (_, value) in zip(names, pairs, strict=True)
                ]
            self._asgi_headers = self._header_names = None
        return headers

    @headers.setter
    def headers(self, value: Headers) -> None:
        self._headers = value
        self._asgi_headers = None

    def asgi_headers(self) -> list[tuple[bytes, bytes]] | None:
        """The headers as ASGI pairs when they were never read as Headers (of_data), else None."""
        return self._asgi_headers if self._headers is None else None

    @property
    def max_cookie_size(self) -> int:  # type: ignore[override]
        ctx = _cv_app.get(None)
        if ctx is not None:
            size: int = ctx.app.config["MAX_COOKIE_SIZE"]
            return size
        return super().max_cookie_size

    @property
    def is_streamed(self) -> bool:
        return not isinstance(self.response, DataBody)

    def set_data(self, value: str | bytes | bytearray) -> None:
        data = value.encode() if isinstance(value, str) else bytes(value)
        self.response = DataBody(data)
        if self.automatically_set_content_length:
            self.headers["Content-Length"] = str(len(data))

    async def get_data(self, as_text: bool = False) -> Any:
        """The whole body; a streamed body is read to the end (and kept)."""
        if not isinstance(self.response, DataBody):
            chunks = [chunk async for chunk in self.response]
            self.response = DataBody(b"".join(chunks))
        data = self.response.data
        return data.decode() if as_text else data

    async def get_json(self, force: bool = False, silent: bool = False) -> Any:
        if not (force or self.is_json):
            if silent:
                return None
            raise ValueError(f"the response is not JSON (mimetype {self.mimetype!r}); pass force=True")
        data = await self.get_data()
        try:
            ctx = _cv_app.get(None)
            return ctx.app.json.loads(data) if ctx is not None else _json.loads(data)
        except ValueError:
            if silent:
                return None
            raise

    async def make_conditional(
        self,
        request: Request,
        accept_ranges: bool | str = False,
        complete_length: int | None = None,
    ) -> Response:
        """Answer a conditional or range GET/HEAD from this response (changed in place, returned).

        With the ETag and Last-Modified headers set: `If-None-Match` / `If-Modified-Since` that
        match give 304 (412 when `If-Match` was sent too), with no body. With `accept_ranges`
        (`Accept-Ranges` gets "bytes", or the string given) and the full length of the body
        (`complete_length`, or the length of a body known in full), a single `Range: bytes=...`
        gives 206 with that part and its `Content-Range`; `If-Range` that no longer matches gives
        the whole body. A range that cannot be satisfied, or a malformed one, raises
        RequestedRangeNotSatisfiable (416, with `Content-Range: bytes */length`). Several ranges,
        or units other than bytes, are ignored (200, the whole body): RFC 9110 §14.2 allows it.
        """
        if request.method not in ("GET", "HEAD"):
            return self
        partial = await self._process_range(request, accept_ranges, complete_length)
        if not partial and not is_resource_modified(
            http_if_none_match=request.headers.get("If-None-Match"),
            http_if_modified_since=request.headers.get("If-Modified-Since"),
            http_if_match=request.headers.get("If-Match"),
            etag=self.headers.get("ETag"),
            last_modified=self.headers.get("Last-Modified"),
        ):
            await self.response.aclose()
            if parse_etags(request.headers.get("If-Match")):
                self.status_code = 412
                self.set_data(b"")
            else:
                # RFC 9110 §15.4.5: a 304 has no content; it keeps the validators and the caching
                # headers, but not the headers that describe the content.
                self.status_code = 304
                self.response = DataBody(b"")
                remove_entity_headers(self.headers)
        return self

    async def _process_range(
        self, request: Request, accept_ranges: bool | str, complete_length: int | None
    ) -> bool:
        """Turn this response into a 206 for the request's Range, if it has one that applies."""
        if not accept_ranges:
            return False
        self.headers["Accept-Ranges"] = "bytes" if accept_ranges is True else accept_ranges
        body = self.response
        if complete_length is None and isinstance(body, DataBody):
            complete_length = len(body.data)
        header = request.headers.get("Range")
        if header is None or not complete_length or not isinstance(body, DataBody | _ChunkedFileBody):
            return False
        # RFC 9110 §13.1.5: a Range sent with an If-Range that no longer matches asks for it all.
        if "If-Range" in request.headers and is_resource_modified(
            http_range=header,
            http_if_range=request.headers.get("If-Range"),
            etag=self.headers.get("ETag"),
            last_modified=self.headers.get("Last-Modified"),
            ignore_if_range=False,
        ):
            return False
        parsed = parse_range_header(header)
        if parsed is None:
            await body.aclose()
            raise RequestedRangeNotSatisfiable(length=complete_length)
        if parsed.units != "bytes" or len(parsed.ranges) != 1:
            return False
        span = parsed.range_for_length(complete_length)
        content_range = parsed.to_content_range_header(complete_length)
        if span is None or content_range is None:
            await body.aclose()
            raise RequestedRangeNotSatisfiable(length=complete_length)
        begin, end = span
        if isinstance(body, DataBody):
            self.response = DataBody(body.data[begin:end])
        else:
            body.set_range(begin, end)
        self.status_code = 206
        self.headers["Content-Range"] = content_range
        self.headers["Content-Length"] = str(end - begin)
        return True

    # Flask's synchronous accessors, for bodies that are known in full.

    @property
    def data(self) -> bytes:
        """The body (Flask's `response.data`). It can be awaited too, giving the same bytes, so
        Quart's `await response.data` works."""
        if not isinstance(self.response, DataBody):
            raise RuntimeError("this response is streamed: use `await response.get_data()`")
        return _awaitable_bytes(self.response.data)

    @data.setter
    def data(self, value: str | bytes) -> None:
        self.set_data(value)

    @property
    def text(self) -> str:
        return self.data.decode()

    @property
    def json(self) -> Any:
        ctx = _cv_app.get(None)
        return ctx.app.json.loads(self.data) if ctx is not None else _json.loads(self.data)
