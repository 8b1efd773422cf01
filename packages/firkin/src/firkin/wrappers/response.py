"""The response: werkzeug's sans-I/O response, with a body that is bytes or an (async) iterable."""

from __future__ import annotations

import inspect
import json as _json
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.sansio.response import Response as SansIOResponse

from firkin.globals import _cv_app

__all__ = ["DataBody", "IterableBody", "Response", "ResponseBody"]


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

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        iterable = self.iterable
        if isinstance(iterable, AsyncIterable):
            async for chunk in iterable:
                yield _to_bytes(chunk)
        else:
            for chunk in iterable:
                yield _to_bytes(chunk)

    async def aclose(self) -> None:
        close = getattr(self.iterable, "aclose", None)
        if close is not None:
            await close()
            return
        close = getattr(self.iterable, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result


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

    # Flask's synchronous accessors, for bodies that are known in full.

    @property
    def data(self) -> bytes:
        if not isinstance(self.response, DataBody):
            raise RuntimeError("this response is streamed: use `await response.get_data()`")
        return self.response.data

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
