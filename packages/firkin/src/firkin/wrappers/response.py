"""The response: werkzeug's sans-I/O response, with a body that is bytes or an (async) iterable."""

from __future__ import annotations

import json as _json
from collections.abc import AsyncIterable, Generator, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_etags, parse_range_header, remove_entity_headers
from werkzeug.sansio.http import is_resource_modified
from werkzeug.sansio.response import Response as SansIOResponse

from firkin._fastpaths.responses import DirectResponse, default_content_type
from firkin._sync import also_sync, in_event_loop, wait_for
from firkin.globals import _cv_app

from .body import FILE_CHUNK_SIZE, DataBody, FileBody, IOBody, IterableBody, ResponseBody, _ChunkedFileBody
from .request import awaitable_class

if TYPE_CHECKING:
    from .request import Request

__all__ = ["FILE_CHUNK_SIZE", "DataBody", "FileBody", "IOBody", "IterableBody", "Response", "ResponseBody"]

# bytes that can be awaited (giving themselves): `response.data` in Flask's form and Quart's.
_awaitable_bytes: type[bytes] = awaitable_class(bytes)


class Response(DirectResponse, SansIOResponse):
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

    _direct_init = __init__  # (see DirectResponse.of_data)

    def __await__(self) -> Generator[Any, None, Response]:
        """Awaiting a response gives the response itself: `app.make_response()` returns a response,
        so sync code (a Flask extension's after_request hook) can use it, and Quart's
        `await app.make_response(...)` keeps working."""
        return self
        yield  # a generator that never suspends

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

    def get_data(self, as_text: bool = False) -> Any:
        """The whole body (bytes, or str with `as_text`): `await response.get_data()` in async code
        (Quart's), `response.get_data()` in sync code (Flask's: an extension's after_request hook,
        in its worker thread). A streamed body is read to the end and kept; for sync code, on the
        event loop."""
        if in_event_loop():
            return self._read_all(as_text)
        if isinstance(self.response, DataBody):
            data = self.response.data
            return data.decode() if as_text else data
        return wait_for(self._read_all, as_text, what="response.get_data() of a streamed response")

    async def _read_all(self, as_text: bool) -> Any:
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

    @also_sync
    async def make_conditional(
        self,
        request: Request,
        accept_ranges: bool | str = False,
        complete_length: int | None = None,
    ) -> Response:
        """Answer a conditional or range GET/HEAD from this response (changed in place, returned):
        `await response.make_conditional(request)` in async code (Quart's form); in sync code
        (Flask's form: an extension's after_request hook, in a worker thread) it is done there and
        then, on the event loop, and the response is returned.

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
