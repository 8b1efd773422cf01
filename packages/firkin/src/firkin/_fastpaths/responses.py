"""Responses built without werkzeug's `__init__`: what `Response(data)`, `Response.of_data(...)` and
`Response.of_parts(...)` (the paths of views that return str, bytes, dict, list or `body, status,
headers`) give, made directly. Their headers stay the ASGI pairs the server sends until someone reads
`response.headers`; then werkzeug's `Headers` is filled through its `_list`. The status goes in
werkzeug's `_status` / `_status_code`. Checked against werkzeug in tests/test_werkzeug_internals.py."""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Self, cast

from werkzeug.datastructures import Headers
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.utils import get_content_type

from firkin.wrappers.body import DataBody

__all__ = ["DirectResponse", "asgi_header_pairs", "default_content_type"]


@functools.lru_cache(maxsize=32)
def default_content_type(mimetype: str) -> str:
    return get_content_type(mimetype, "utf-8")


# The names of_data's ASGI pairs carry, as werkzeug's Headers spell them.
NAMES = {b"content-type": "Content-Type", b"content-length": "Content-Length"}


@functools.lru_cache(maxsize=32)
def latin1(text: str) -> bytes:
    return text.encode("latin-1")


@functools.lru_cache(maxsize=128)
def lower_name(name: str) -> bytes:
    """A header name as the server sends it (lower case; UnicodeEncodeError if not latin-1)."""
    return name.lower().encode("latin-1")


@functools.lru_cache(maxsize=64)
def status_line(code: int) -> str:
    """werkzeug's status for an int code: "404 NOT FOUND", "299 UNKNOWN"."""
    reason = HTTP_STATUS_CODES.get(code)
    return f"{code} {reason.upper() if reason is not None else 'UNKNOWN'}"


class DirectResponse:
    """The direct builders of firkin's Response (a mixin before werkzeug's sans-I/O response)."""

    # The __init__ that these builders stand in for: a subclass with its own goes through it.
    _direct_init: ClassVar[Any]
    default_status: int
    default_mimetype: str | None
    automatically_set_content_length: bool
    response: Any
    _status: str
    _status_code: int

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
            raw = latin1(content_type)
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
        self._status = status_line(code)
        self._status_code = code
        self.response = DataBody(data)

    @classmethod
    def of_data(cls, data: bytes, content_type: str) -> Self:
        """A 200 response with this body and Content-Type: what `Response(data, content_type=...)`
        gives, built directly (the hot path, for views that return str, bytes, dict or list).
        A subclass with its own __init__ goes through it."""
        if (
            cls.__init__ is not cls._direct_init
            or cls.default_status != 200
            or not cls.automatically_set_content_length
        ):
            made: Self = cast(Any, cls)(data, content_type=content_type)
            return made
        response = cls.__new__(cls)
        # (response._set_direct(...), written out)
        response._headers = None
        response._asgi_headers = [
            (b"content-type", latin1(content_type)),
            (b"content-length", b"%d" % len(data)),
        ]
        response._header_names = None
        response._status = "200 OK"
        response._status_code = 200
        response.response = DataBody(data)
        return response

    @classmethod
    def of_parts(
        cls, data: bytes, status: int, content_type: str | None, headers: list[tuple[str, str]]
    ) -> Self | None:
        """What `Response(data, status, headers)` gives, built directly when it can be (headers of
        str names and values, no Content-Length among them; `content_type` is the Content-Type among
        `headers`, or None for the default): the path of `return body, status, headers`. None when
        it cannot be: the caller then builds it the usual way, errors and all."""
        if (
            cls.__init__ is not cls._direct_init
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
                pairs.append((lower_name(name), value.encode("latin-1")))
            except UnicodeEncodeError:
                return None
        names = [name for name, _ in headers]
        if content_type is None:
            content_type = default_content_type(cls.default_mimetype)
            pairs.append((b"content-type", latin1(content_type)))
            names.append("Content-Type")
        pairs.append((b"content-length", b"%d" % len(data)))
        names.append("Content-Length")
        response = cls.__new__(cls)
        response._set_direct(data, status, pairs, names)
        return response

    def _copy_direct(self) -> Self:
        """A new response as this one was built by of_parts or of_data (its headers unread), for
        a response that is the same every time (an error page)."""
        pairs, names, body = self._asgi_headers, self._header_names, self.response
        assert pairs is not None
        assert self._headers is None
        assert isinstance(body, DataBody)
        copy = type(self).__new__(type(self))
        copy._headers = None
        copy._asgi_headers = list(pairs)
        copy._header_names = None if names is None else list(names)
        copy._status = self._status
        copy._status_code = self._status_code
        copy.response = DataBody(body.data)
        return copy

    def _add_header(self, name: str, value: str) -> bool:
        """Add a header to a response built by of_parts, its headers still unread; False when it
        cannot be done that way (then `headers` is the way)."""
        pairs = self._asgi_headers
        names = self._header_names
        if pairs is None or names is None or self._headers is not None or "\n" in value or "\r" in value:
            return False
        try:
            pairs.append((lower_name(name), value.encode("latin-1")))
        except UnicodeEncodeError:
            return False
        names.append(name)
        return True

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
                headers._list = [(NAMES[name], value.decode("latin-1")) for name, value in pairs]
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


# Header names as ASGI wants them (lowercase bytes), for the names responses carry again and again.
_ASGI_NAMES: dict[str, bytes] = {}


def asgi_header_pairs(headers: Headers) -> list[tuple[bytes, bytes]]:
    names = _ASGI_NAMES
    result = []
    # The pairs as werkzeug's Headers holds them (items() is two generators deep).
    pairs = headers._list if type(headers) is Headers else headers.items()
    for name, value in pairs:
        raw = names.get(name)
        if raw is None:
            raw = name.lower().encode("latin-1")
            if len(names) < 512:  # bounded: apps may invent header names per response
                names[name] = raw
        result.append((raw, value.encode("latin-1")))
    return result
