"""The request: werkzeug's sans-I/O request, with an async body read from ASGI `receive`."""

from __future__ import annotations

import functools
import io
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, NoReturn, Self, TypeVar
from urllib.parse import unquote

from werkzeug.datastructures import CombinedMultiDict, FileStorage, Headers, MultiDict
from werkzeug.exceptions import BadRequest, ClientDisconnected, RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header
from werkzeug.sansio.utils import get_host

from firkin._fastpaths.forms import multidict_of
from firkin._sync import in_event_loop, run_sync, wait_for
from firkin.globals import _cv_app

from .base import BaseRequestWebsocket, Routed
from .formparser import parse_multipart

if TYPE_CHECKING:
    from firkin.typing import ASGIReceive, ASGIScope, ASGISend

__all__ = ["BaseRequestWebsocket", "Body", "Request", "Routed", "Unread", "awaitable_class"]

T = TypeVar("T")


class Body:
    """The request body as it arrives: `async for chunk in request.body`, bounded by a maximum.

    The maximum (MAX_CONTENT_LENGTH, or the request's own `max_content_length`) is enforced on the
    bytes received, so a body sent without Content-Length (chunked) cannot exceed it either: 413.
    """

    # Until set: what a body that was never read has (no stores for the requests without one).
    _data: bytes | None = None
    _consumed = False
    _received = 0

    def __init__(self, receive: ASGIReceive | None, data: bytes | None = None) -> None:
        self._receive = receive
        if data is not None:
            self._data = data
        self._done = receive is None

    #: The request this body belongs to (a weak reference, set when the request first hands the
    #: body out): its max_content_length bounds the body.
    owner: Callable[[], Request | None] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    def _start(self) -> int | None:
        """Mark the body as being read (it can be read once); the size limit that applies."""
        if self._consumed:
            raise RuntimeError(
                "the request body was already read; use `await request.get_data()` to cache it"
            )
        self._consumed = True
        owner = self.owner() if self.owner is not None else None
        limit = owner.max_content_length if owner is not None else None
        if self._data is not None:
            self._check(len(self._data), limit)
        return limit

    async def _next_chunk(self, limit: int | None) -> bytes | None:
        """The next non-empty piece of the body from the server; None at its end."""
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
                return chunk
        return None

    async def _chunks(self) -> AsyncGenerator[bytes, None]:
        limit = self._start()
        if self._data is not None:
            if self._data:
                yield self._data
            return
        while (chunk := await self._next_chunk(limit)) is not None:
            yield chunk

    @property
    def in_memory(self) -> bool:
        """Whether the whole body is here already (a test request's), so reading it never waits."""
        return self._data is not None and not self._consumed

    @staticmethod
    def _check(size: int, limit: int | None) -> None:
        if limit is not None and size > limit:
            raise RequestEntityTooLarge()

    async def read(self) -> bytes:
        """The whole body (without an async generator in between: most bodies are one piece)."""
        limit = self._start()
        if self._data is not None:
            return self._data
        chunks = []
        while (chunk := await self._next_chunk(limit)) is not None:
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# Copied from the request onto a pushed one: what content negotiation depends on (Quart's list).
_PUSH_HEADERS = ("accept", "accept-encoding", "accept-language", "cache-control", "user-agent")

# Each Content-Type value parsed once (bounded): the same few values come again and again, and
# parse_options_header is a regular-expression walk. Its params dict is copied for each request.
_parse_content_type_value = functools.lru_cache(maxsize=256)(parse_options_header)

_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"))


def parse_urlencoded(text: str) -> dict[str, list[str]]:
    """The fields of an urlencoded form, each name's values in order: what werkzeug's MultiDict of
    `parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")` holds (tests/test_request.py
    compares the two), built in one pass, each name and value unquoted only if it has an escape."""
    fields: dict[str, list[str]] = {}
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = _unquote(name)
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            value = _unquote(value)
        values = fields.get(name)
        if values is None:
            fields[name] = [value]
        else:
            values.append(value)
    return fields


# urllib's table of escapes (unquote_to_bytes's): both cases of each hex digit.
_HEXDIGITS = "0123456789ABCDEFabcdef"
_ESCAPES = {(a + b).encode(): bytes.fromhex(a + b) for a in _HEXDIGITS for b in _HEXDIGITS}


def _unquote(text: str) -> str:
    """`urllib.parse.unquote(text, errors="werkzeug.url_quote")`. For ASCII text, which is what
    browsers send, that is the escapes replaced by their bytes and the whole decoded as UTF-8 once:
    done here with urllib's table, at about half urllib's cost (its general code splits the text
    into ASCII and non-ASCII runs with a regular expression first)."""
    if not text.isascii():
        return unquote(text, errors="werkzeug.url_quote")
    parts = text.encode("ascii").split(b"%")
    decoded = [parts[0]]
    for part in parts[1:]:
        escaped = _ESCAPES.get(part[:2])
        if escaped is None:
            decoded += (b"%", part)
        else:
            decoded += (escaped, part[2:])
    return b"".join(decoded).decode("utf-8", "werkzeug.url_quote")


def scope_location(
    scope: ASGIScope,
) -> tuple[tuple[str, int | None] | None, str, str, str | None]:
    """(server, root_path, path, client host) of an ASGI scope, the path split from the root path as
    `split_root_path` does. (Requests and websocket handshakes read them this way.)"""
    root_path, path = split_root_path(scope.get("root_path", ""), scope["path"])
    server = scope.get("server")
    client = scope.get("client")
    return ((server[0], server[1]) if server else None), root_path, path, (client[0] if client else None)


def split_root_path(root_path: str, path: str) -> tuple[str, str]:
    """(root_path, path) as werkzeug wants them from an ASGI scope, whose `path` includes
    `root_path`. The prefix is removed at a segment boundary only (`/bobcat` is not under `/bob`);
    the root itself is the app's `/`. A path that is not under `root_path` (from a server that does
    not prefix it) is routed as it is, as Starlette does (Quart answers 404)."""
    if root_path:
        root_path = root_path.rstrip("/")
        if path == root_path:
            path = "/"
        elif path.startswith(root_path) and path[len(root_path)] == "/":
            path = path[len(root_path) :]
    return root_path, path


class Request(BaseRequestWebsocket):
    """The incoming request. Data that needs the body is awaited: `await request.get_json()`,
    `await request.form`, `await request.files`, `await request.values`, `await request.get_data()`."""

    #: The connection's ASGI `send`, set by the ASGI layer when the server offers HTTP/2 server push
    #: or early hints (`http.response.push`, `http.response.early_hint`); None: `send_push_promise`
    #: and `send_early_hints` do nothing.
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
        # What werkzeug's __init__ does (a fast path of firkin._fastpaths' list, checked against werkzeug
        # in tests/test_werkzeug_internals.py), except that `headers` may be None: then they are built from
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
        self._body = body
        self.http_version = http_version
        self.scope = scope if scope is not None else {}
        # (The per-request limits and caches start as the class attributes below.)

    @classmethod
    def from_scope(cls, scope: ASGIScope, body: Body) -> Self:
        """The request of an ASGI `http` scope. What `__init__` does, read straight from the scope
        (tests/test_request.py checks that both give the same request); a subclass with its own
        `__init__` has it called."""
        if cls.__init__ is _REQUEST_INIT:
            try:  # (what a server gives: every key; subscripts, not .get() calls)
                method, scheme, server, client = (
                    scope["method"],
                    scope["scheme"],
                    scope["server"],
                    scope["client"],
                )
                root_path, path = scope["root_path"], scope["path"]
                query_string, http_version = scope["query_string"], scope["http_version"]
                raw_headers = scope["headers"]
            except KeyError:
                pass  # optional keys left out: the general way, below
            else:
                if root_path:
                    root_path, path = split_root_path(root_path, path)
                if server is not None and type(server) is not tuple:
                    server = (server[0], server[1])  # (a list, from some servers)
                self = cls.__new__(cls)
                self.method = method if method in _METHODS else method.upper()
                self.scheme = scheme
                self.server = server
                self.root_path = root_path
                self.path = path if path[:1] == "/" and path[1:2] != "/" else "/" + path.lstrip("/")
                self.query_string = query_string
                self._headers = None
                self._raw_headers = raw_headers
                self.remote_addr = client[0] if client else None
                self._body = body
                self.http_version = http_version
                self.scope = scope if type(scope) is dict else dict(scope)
                return self
        server, root_path, path, remote_addr = scope_location(scope)
        return cls(
            scope["method"],
            scope.get("scheme", "http"),
            server,
            root_path,
            path,
            scope.get("query_string", b""),
            None,
            remote_addr,
            body,
            http_version=scope.get("http_version", "1.1"),
            scope=scope if type(scope) is dict else dict(scope),
            raw_headers=scope["headers"],
        )

    @property
    def body(self) -> Body:
        """The body as it arrives: `async for chunk in request.body` (bounded by max_content_length)."""
        body = self._body
        if body.owner is None:
            # Tied to the request when first used (its max_content_length bounds the body), and
            # through a weak reference: a reference back to the request would make Request and Body
            # a cycle, which only the cycle collector frees.
            body.owner = weakref.ref(self)
        return body

    @body.setter
    def body(self, value: Body) -> None:
        self._body = value

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
        return self._header(b"host")

    def _header(self, name: bytes) -> str | None:
        """The first value of a header (`name` lowercase), without building all the headers."""
        if self._headers is not None:
            return self._headers.get(name.decode("latin-1"))
        for key, value in self._raw_headers:
            if key == name:
                return value.decode("latin-1")
        return None

    def _parse_content_type(self) -> None:
        # werkzeug's, without building the headers, each value's parse remembered.
        if "_parsed_content_type" not in self.__dict__:
            mimetype, params = _parse_content_type_value(self._header(b"content-type") or "")
            self._parsed_content_type = (mimetype, dict(params))  # the params: the caller's to change

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
    #
    # In async code the body is awaited; in sync code (the worker threads where firkin runs sync
    # views, hooks and handlers, and so a Flask extension's hooks) the same calls return the data,
    # Flask's API: the body is read on the event loop while the thread waits, with the same limits.
    # `form`, `files` and `values` are dicts that can be awaited, so once the body is read they also
    # serve sync code running in the event loop (a Flask-WTF form built in an `async def` view).

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False) -> Any:
        """The whole body (bytes, or str with `as_text`), read once and cached: awaited in async code
        (`await request.get_data()`), returned directly in sync code (a worker thread)."""
        if in_event_loop():
            return self._get_data(cache, as_text, parse_form_data)
        return self._read_now(self._get_data, cache, as_text, parse_form_data, what="request.get_data()")

    def _read_now(self, read: Callable[..., Coroutine[Any, Any, T]], *args: Any, what: str) -> T:
        """`read(*args)` for sync code outside the event loop: at once when the body is here already
        (cached, or a test request's), else on the event loop while this worker thread waits."""
        if self._cached_data is not None or self.body.in_memory:
            return run_sync(read(*args), what)
        return wait_for(read, *args, what=what)

    async def _get_data(self, cache: bool, as_text: bool, parse_form_data: bool) -> Any:
        if parse_form_data:
            await self._load_form_data()
        if self._cached_data is None:
            self._refuse_if_declared_too_large()
            data = await self.body.read()
            if cache:
                self._cached_data = data
        else:
            data = self._cached_data
        return data.decode() if as_text else data

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        """The body parsed as JSON. Without `force`, only for a JSON content type (else 415).
        Malformed JSON is a 400 that says so, or None with `silent=True`. Awaited in async code
        (`await request.get_json()`), returned directly in sync code (a worker thread)."""
        if in_event_loop():
            return self._get_json(force, silent, cache)
        return self._read_now(self._get_json, force, silent, cache, what="request.get_json()")

    async def _get_json(self, force: bool, silent: bool, cache: bool) -> Any:
        if cache and self._cached_json[silent] is not Ellipsis:
            return self._cached_json[silent]
        if not (force or self.is_json):
            if silent:
                return None
            raise UnsupportedMediaType(
                "Did not attempt to load JSON data because the request Content-Type was not"
                " 'application/json'."
            )
        data = await self._get_data(cache, False, False)
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
    def json(self) -> Any:
        """`get_json()`: `await request.json` in async code, `request.json` in sync code."""
        return self.get_json()

    @property
    def data(self) -> Any:
        """The whole body as bytes, `get_data()` with its defaults: `await request.data` (Quart's) in
        async code, `request.data` in sync code."""
        return self.get_data()

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

    async def send_early_hints(self, *links: str) -> None:
        """Send `103 Early Hints` (RFC 8297) with these Link values before the response, so the
        browser can start fetching what the page needs, e.g.
        ``await request.send_early_hints("</static/app.css>; rel=preload; as=style")``. Does nothing
        unless the ASGI server offers the `http.response.early_hint` extension (tapster does over HTTP/2), or
        once the response has started."""
        if self.push_send is None or "http.response.early_hint" not in (self.scope.get("extensions") or {}):
            return
        encoded = []
        for link in links:
            if not isinstance(link, str) or any(c in link for c in "\r\n\x00"):
                raise ValueError(f"an early hint is one Link value (a str without CR, LF or NUL): {link!r}")
            encoded.append(link.encode("latin-1"))
        await self.push_send({"type": "http.response.early_hint", "links": encoded})

    def _form_loaded(self) -> bool:
        """Whether `form` and `files` are there, made now when that needs no body (a request that
        does not carry a form)."""
        if self._form is not None:
            return True
        if self.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
            cls = awaitable_class(self.parameter_storage_class)
            self._form, self._files = cls(), cls()
            return True
        return False

    async def _load_form_data(self) -> None:
        if self._form is not None:
            return
        mimetype = self.mimetype  # (once: a property chain through werkzeug's content type parse)
        if mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
            self._form_loaded()  # no body to read for it: empty
            return
        if (
            mimetype == "multipart/form-data"
            and self.form_data_parser_class is FormDataParser
            and self._cached_data is None
        ):
            await self._load_multipart()
            return
        data = await self._get_data(True, False, False)
        if mimetype == "application/x-www-form-urlencoded" and self.form_data_parser_class is FormDataParser:
            # What FormDataParser does with an urlencoded body (silent, as firkin makes it: a body
            # that is not UTF-8 is an empty form), without building the parser and a stream.
            cls = awaitable_class(self.parameter_storage_class)
            try:
                fields = parse_urlencoded(data.decode())
            except ValueError:
                fields = {}
            self._form, self._files = multidict_of(cls, fields), cls()
            return
        parser = self.form_data_parser_class(
            max_form_memory_size=self.max_form_memory_size,
            max_content_length=self.max_content_length,
            max_form_parts=self.max_form_parts,
            cls=awaitable_class(self.parameter_storage_class),
        )
        _, form, files = parser.parse(
            io.BytesIO(data), self.mimetype, self.content_length, self.mimetype_params
        )
        self._form, self._files = form, files

    def _refuse_if_declared_too_large(self) -> None:
        """413 when the Content-Length is over the limit: said so up front, no need to read it."""
        limit = self.max_content_length
        if limit is not None and self.content_length is not None and self.content_length > limit:
            raise RequestEntityTooLarge()

    async def _load_multipart(self) -> None:
        """A multipart body parsed as it arrives (firkin.wrappers.formparser), never held whole.
        As in werkzeug, a body that is not a well-formed form (no boundary, cut short) is an empty
        form, and `get_data()` after it gives b"" (the body went into the form)."""
        cls = awaitable_class(self.parameter_storage_class)
        self._refuse_if_declared_too_large()
        boundary = self.mimetype_params.get("boundary", "")
        try:
            if not boundary:
                raise ValueError("Missing boundary")
            async with aclosing(self.body._chunks()) as chunks:
                self._form, self._files = await parse_multipart(
                    chunks,
                    boundary.encode("latin-1"),
                    max_form_memory_size=self.max_form_memory_size,
                    max_form_parts=self.max_form_parts,
                    cls=cls,
                )
        except (ValueError, UnicodeEncodeError):
            self._form, self._files = cls(), cls()
        self._cached_data = b""

    def _form_part(self, name: str) -> Any:
        """`form` or `files`, loading the body first if needed: in a worker thread by waiting for
        the event loop, in the event loop by being awaited."""
        if not self._form_loaded():
            if in_event_loop():
                return Unread(self._awaited_form_part, name)
            self._read_now(self._load_form_data, what=f"request.{name}")
        return self._form if name == "form" else self._files

    async def _awaited_form_part(self, name: str) -> Any:
        await self._load_form_data()
        return self._form if name == "form" else self._files

    def close(self) -> None:
        """Close the uploaded files' streams (called when the request context ends)."""
        if self._files is not None:
            for upload in self._files.values():
                upload.close()

    @property
    def form(self) -> Any:
        """The form fields (a MultiDict): `await request.form` in async code, `request.form` in
        sync code (and in the event loop once the body is read: the dict can also be awaited)."""
        return self._form_part("form")

    @property
    def files(self) -> Any:
        """The uploaded files (a MultiDict of FileStorage), read as `form` is."""
        return self._form_part("files")

    @property
    def values(self) -> Any:
        """`args` and `form` combined (for GET, only `args`, as in Flask), read as `form` is."""
        if self.method == "GET":
            return awaitable_class(CombinedMultiDict)([self.args])
        form = self.form
        if isinstance(form, Unread):
            return Unread(self._awaited_values, "values")
        return awaitable_class(CombinedMultiDict)([self.args, form])

    async def _awaited_values(self, name: str) -> Any:
        return awaitable_class(CombinedMultiDict)([self.args, await self._awaited_form_part("form")])


def _await_self(self: Any) -> Generator[Any, None, Any]:
    return self
    yield  # a generator that never suspends


@functools.cache
def awaitable_class(cls: type[T]) -> type[T]:
    """`cls` with an `__await__` that gives the object itself: the form's dicts are used as they are
    in sync code and awaited in async code (`await request.form`). One subclass per class."""
    return type(cls.__name__, (cls,), {"__await__": _await_self, "__module__": cls.__module__})


class Unread:
    """What `request.form` / `files` / `values` give in the event loop before the body is read: an
    awaitable (`await request.form`). Used without `await` (by sync code running in the event
    loop), it says what to do instead of failing somewhere obscure."""

    __slots__ = ("_load", "_name")

    def __init__(self, load: Callable[[str], Awaitable[Any]], name: str) -> None:
        self._load = load
        self._name = name

    def __await__(self) -> Generator[Any, None, Any]:
        return self._load(self._name).__await__()

    def _unread(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError(
            f"request.{self._name} was used without `await` before the request body was read, in "
            f"the event loop, where synchronous code cannot wait for it. Read it first in your "
            f"`async def` view (`await request.{self._name}`), then call the code that uses it; or "
            f"make the view a plain `def` (firkin runs it in a worker thread, where "
            f"request.{self._name} is read as in Flask)."
        )

    __getattr__ = __getitem__ = __iter__ = __len__ = __bool__ = __contains__ = _unread


_REQUEST_INIT = Request.__init__
