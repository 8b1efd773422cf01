"""The request: werkzeug's sans-I/O request, with an async body read from ASGI `receive`."""

from __future__ import annotations

import io
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import CombinedMultiDict, FileStorage, Headers, MultiDict
from werkzeug.exceptions import BadRequest, ClientDisconnected, RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.formparser import FormDataParser
from werkzeug.sansio.request import Request as SansIORequest
from werkzeug.sansio.utils import get_host

from firkin.globals import _cv_app

if TYPE_CHECKING:
    from werkzeug.routing import Rule

    from firkin.typing import ASGIReceive, ASGISend

__all__ = ["Body", "Request", "Routed"]


class Body:
    """The request body as it arrives: `async for chunk in request.body`, bounded by a maximum.

    The maximum (MAX_CONTENT_LENGTH, or the request's own `max_content_length`) is enforced on the
    bytes received, so a body sent without Content-Length (chunked) cannot exceed it either: 413.
    """

    def __init__(self, receive: ASGIReceive | None, data: bytes | None = None) -> None:
        self._receive = receive
        self._data = data
        self._done = receive is None
        self._consumed = False
        #: The request this body belongs to (weakly): its max_content_length bounds the body.
        self.owner: Callable[[], Request | None] = _no_owner
        self._received = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self._consumed:
            raise RuntimeError(
                "the request body was already read; use `await request.get_data()` to cache it"
            )
        self._consumed = True
        owner = self.owner()
        limit = owner.max_content_length if owner is not None else None
        if self._data is not None:
            self._check(len(self._data), limit)
            if self._data:
                yield self._data
            return
        assert self._receive is not None
        while not self._done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._done = True
                raise ClientDisconnected()
            chunk: bytes = message.get("body", b"")
            self._done = not message.get("more_body", False)
            if chunk:
                self._received += len(chunk)
                self._check(self._received, limit)
                yield chunk

    @staticmethod
    def _check(size: int, limit: int | None) -> None:
        if limit is not None and size > limit:
            raise RequestEntityTooLarge()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self])


def _no_owner() -> Request | None:
    return None


# Copied from the request onto a pushed one: what content negotiation depends on (Quart's list).
_PUSH_HEADERS = ("accept", "accept-encoding", "accept-language", "cache-control", "user-agent")

_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"))


class Routed:
    """What matching the URL map sets on a request or a websocket handshake, and what follows from it."""

    url_rule: Rule | None = None
    view_args: dict[str, Any] | None = None
    routing_exception: Exception | None = None

    @property
    def endpoint(self) -> str | None:
        return self.url_rule.endpoint if self.url_rule is not None else None

    @property
    def blueprint(self) -> str | None:
        endpoint = self.endpoint
        if endpoint is not None and "." in endpoint:
            return endpoint.rpartition(".")[0]
        return None

    @property
    def blueprints(self) -> list[str]:
        """The registered names of the current blueprint and its parents, innermost first."""
        name = self.blueprint
        if name is None:
            return []
        parts = name.split(".")
        return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


class Request(Routed, SansIORequest):
    """The incoming request. Data that needs the body is awaited: `await request.get_json()`,
    `await request.form`, `await request.files`, `await request.values`, `await request.get_data()`."""

    #: The connection's ASGI `send`, set by the ASGI layer when the server offers HTTP/2 server push
    #: (the `http.response.push` extension); None: `send_push_promise` does nothing.
    push_send: ASGISend | None = None

    form_data_parser_class = FormDataParser

    # Defaults, replaced per instance when set: no work for a request that never uses them.
    _max_content_length: int | None = None
    _max_form_memory_size: int | None = None
    _max_form_parts: int | None = None
    _cached_data: bytes | None = None
    _cached_json: tuple[Any, Any] = (Ellipsis, Ellipsis)
    _form: MultiDict[str, str] | None = None
    _files: MultiDict[str, FileStorage] | None = None

    def __init__(
        self,
        method: str,
        scheme: str,
        server: tuple[str, int | None] | None,
        root_path: str,
        path: str,
        query_string: bytes,
        headers: Headers | None,
        remote_addr: str | None,
        body: Body,
        *,
        http_version: str = "1.1",
        scope: dict[str, Any] | None = None,
        raw_headers: Iterable[tuple[bytes, bytes]] = (),
        send_push_promise: Callable[[str, Headers], Awaitable[None]] | None = None,
    ) -> None:
        # What werkzeug's __init__ does, except that `headers` may be None: then they are built from
        # the ASGI `raw_headers` when first read. Most requests only ever look at the Host.
        self.method = method if method in _METHODS else method.upper()
        self.scheme = scheme
        self.server = server
        self.root_path = root_path.rstrip("/") if root_path else ""
        self.path = path if path[:1] == "/" and path[1:2] != "/" else "/" + path.lstrip("/")
        self.query_string = query_string
        self._headers = headers
        self._raw_headers = raw_headers
        self.remote_addr = remote_addr
        self.body = body
        self.http_version = http_version
        self.scope = scope if scope is not None else {}
        # (The per-request limits and caches start as the class attributes below.)
        # Through a weak reference: a reference back to the request would make Request and Body a
        # cycle, which only the cycle collector frees (measured: it was most of the garbage of a
        # request, and the collector's pauses show under load).
        body.owner = weakref.ref(self)

    # ----------------------------------------------------------------- headers

    @property
    def headers(self) -> Headers:
        """The request headers (built from the ASGI scope the first time they are read)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers(
                [(name.decode("latin-1"), value.decode("latin-1")) for name, value in self._raw_headers]
            )
        return headers

    @headers.setter
    def headers(self, value: Headers) -> None:
        self._headers = value

    @property
    def host(self) -> str:
        """The host the request was made to (port included unless it is the scheme's default),
        checked against TRUSTED_HOSTS; werkzeug's rules, without building all the headers."""
        return get_host(self.scheme, self.host_header, self.server, self.trusted_hosts)

    def has_header(self, name: bytes) -> bool:
        """Whether the request carries this header (`name` lowercase, as in the ASGI scope)."""
        if self._headers is not None:
            return name.decode("latin-1") in self._headers
        for key, _ in self._raw_headers:  # noqa: SIM110 - a plain loop: any() over a generator costs twice this
            if key == name:
                return True
        return False

    @property
    def host_header(self) -> str | None:
        """The raw Host header, or None."""
        if self._headers is not None:
            return self._headers.get("host")
        for name, value in self._raw_headers:
            if name == b"host":
                return value.decode("latin-1")
        return None

    # ----------------------------------------------------------------- limits

    @property
    def max_content_length(self) -> int | None:
        """The most body bytes this request may carry (413 beyond): per request, else MAX_CONTENT_LENGTH."""
        if self._max_content_length is not None:
            return self._max_content_length
        ctx = _cv_app.get(None)
        return ctx.app.config["MAX_CONTENT_LENGTH"] if ctx is not None else None

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    @property
    def max_form_memory_size(self) -> int | None:
        if self._max_form_memory_size is not None:
            return self._max_form_memory_size
        ctx = _cv_app.get(None)
        return ctx.app.config["MAX_FORM_MEMORY_SIZE"] if ctx is not None else None

    @max_form_memory_size.setter
    def max_form_memory_size(self, value: int | None) -> None:
        self._max_form_memory_size = value

    @property
    def max_form_parts(self) -> int | None:
        if self._max_form_parts is not None:
            return self._max_form_parts
        ctx = _cv_app.get(None)
        return ctx.app.config["MAX_FORM_PARTS"] if ctx is not None else None

    @max_form_parts.setter
    def max_form_parts(self, value: int | None) -> None:
        self._max_form_parts = value

    # ----------------------------------------------------------------- the body

    async def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False) -> Any:
        """The whole body (bytes, or str with `as_text`), read once and cached."""
        if parse_form_data:
            await self._load_form_data()
        if self._cached_data is None:
            limit = self.max_content_length
            if limit is not None and self.content_length is not None and self.content_length > limit:
                raise RequestEntityTooLarge()  # said so up front: no need to read it first
            data = await self.body.read()
            if cache:
                self._cached_data = data
        else:
            data = self._cached_data
        return data.decode() if as_text else data

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        """The body parsed as JSON. Without `force`, only for a JSON content type (else 415).
        Malformed JSON is a 400 that says so, or None with `silent=True`."""
        if cache and self._cached_json[silent] is not Ellipsis:
            return self._cached_json[silent]
        if not (force or self.is_json):
            if silent:
                return None
            raise UnsupportedMediaType(
                "Did not attempt to load JSON data because the request Content-Type was not"
                " 'application/json'."
            )
        data = await self.get_data(cache=cache)
        ctx = _cv_app.get(None)
        try:
            if ctx is not None:
                result = ctx.app.json.loads(data)
            else:
                import json

                result = json.loads(data)
        except ValueError as exc:
            if silent:
                result = None
                if cache:
                    self._cached_json = (self._cached_json[0], None)
                return result
            raise self.on_json_loading_failed(exc) from exc
        if cache:
            self._cached_json = (result, result)
        return result

    def on_json_loading_failed(self, exc: ValueError | None) -> BadRequest:
        """The error raised for a body that is not valid JSON (override to customise it)."""
        return BadRequest(f"Failed to decode JSON object: {exc}")

    @property
    async def json(self) -> Any:
        return await self.get_json()

    @property
    async def data(self) -> bytes:
        """The whole body as bytes (Quart's `await request.data`; `get_data()` with its defaults)."""
        data: bytes = await self.get_data()
        return data

    async def send_push_promise(self, path: str) -> None:
        """Push `path` to the client with this response (HTTP/2 server push, RFC 9113 §8.4), when
        the ASGI server offers the `http.response.push` extension; else do nothing."""
        if self.push_send is None or "http.response.push" not in (self.scope.get("extensions") or {}):
            return
        # The promised request carries the headers that select the representation (RFC 9113 §8.4.1).
        headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name in _PUSH_HEADERS
            for value in self.headers.getlist(name)
        ]
        await self.push_send({"type": "http.response.push", "path": path, "headers": headers})

    async def _load_form_data(self) -> None:
        if self._form is not None:
            return
        content_length = self.content_length
        if self.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
            self._form = self.parameter_storage_class()
            self._files = self.parameter_storage_class()
            return
        data = await self.get_data()
        parser = self.form_data_parser_class(
            max_form_memory_size=self.max_form_memory_size,
            max_content_length=self.max_content_length,
            max_form_parts=self.max_form_parts,
            cls=self.parameter_storage_class,
        )
        _, form, files = parser.parse(io.BytesIO(data), self.mimetype, content_length, self.mimetype_params)
        self._form, self._files = form, files

    def close(self) -> None:
        """Close the uploaded files' streams (called when the request context ends)."""
        if self._files is not None:
            for upload in self._files.values():
                upload.close()

    @property
    async def form(self) -> MultiDict[str, str]:
        await self._load_form_data()
        assert self._form is not None
        return self._form

    @property
    async def files(self) -> MultiDict[str, FileStorage]:
        await self._load_form_data()
        assert self._files is not None
        return self._files

    @property
    async def values(self) -> CombinedMultiDict[str, str]:
        """`args` and `form` combined (for GET, only `args`, as in Flask)."""
        sources: list[MultiDict[str, str]] = [self.args]
        if self.method != "GET":
            sources.append(await self.form)
        return CombinedMultiDict(sources)
