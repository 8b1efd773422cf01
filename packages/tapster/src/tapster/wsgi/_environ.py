"""PEP 3333 rules with no I/O in them: the environ built from an ASGI `http` scope, and the
`start_response` state (status, headers, exc_info) turned into an ASGI response head."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = ["ErrorStream", "ResponseHead", "build_environ"]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

_SERVER_PROTOCOLS = {"1.0": "HTTP/1.0", "1.1": "HTTP/1.1", "2": "HTTP/2"}
_DEFAULT_PORTS = {"http": "80", "https": "443"}

# RFC 9110 §7.6.1: connection-specific fields; PEP 3333 ("Other HTTP Features") forbids the app
# to send them. The server frames the message itself (content-length or chunked, keep-alive).
_HOP_BY_HOP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    )
)

_log = logging.getLogger("tapster.error")


def _latin1(data: bytes) -> str:
    # PEP 3333 "Unicode Issues": environ strings are bytes carried in a str, one code point a byte.
    return data.decode("latin-1")


def build_environ(scope: Mapping[str, Any], *, multiprocess: bool = False) -> dict[str, Any]:
    """The CGI part of a WSGI environ (PEP 3333 "environ Variables") for an ASGI `http` scope.

    The caller adds `wsgi.input`, `wsgi.errors` and `wsgi.file_wrapper`, which are objects of its own.
    """
    root_path: str = scope.get("root_path", "")
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path is not None:
        # Tapster's raw_path is the path as received, without root_path (docs/asgi.md); PATH_INFO
        # is its percent-decoded bytes, whatever their encoding (PEP 3333: "bytes-as-latin-1").
        path_info = _latin1(unquote_to_bytes(raw_path))
    else:
        path = scope["path"]
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        path_info = _latin1(path.encode("utf-8"))
    query: bytes = scope.get("query_string", b"")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": _latin1(root_path.encode("utf-8")),
        "PATH_INFO": path_info,
        "QUERY_STRING": _latin1(query),
        "SERVER_PROTOCOL": _SERVER_PROTOCOLS.get(scope.get("http_version", "1.1"), "HTTP/1.1"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        # read() returns b"" at the end of the body, chunked or not (the convention Gunicorn,
        # mod_wsgi and werkzeug share): apps may read a body without a Content-Length.
        "wsgi.input_terminated": True,
    }
    if raw_path is not None:
        # The target as sent (Gunicorn's name): for apps that need the undecoded path.
        environ["RAW_URI"] = _latin1(raw_path + b"?" + query if query else raw_path)
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = _latin1(raw_value)
        if name == "content-type":
            key = "CONTENT_TYPE"
        elif name == "content-length":
            key = "CONTENT_LENGTH"
        elif "_" in name:
            # `x_user` and `x-user` would both become HTTP_X_USER: a proxy that strips or checks
            # the one lets the other through to the app. Dropped, as Gunicorn, nginx and Apache do.
            _log.debug("WSGI: dropped request header %r (underscore in the name)", name)
            continue
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
        previous = headers.get(key)
        if previous is None:
            headers[key] = value
        elif key == "HTTP_COOKIE":
            headers[key] = previous + "; " + value  # RFC 9113 §8.2.3 / RFC 6265 §5.4: one cookie line
        else:
            headers[key] = previous + ", " + value  # RFC 9110 §5.3: a list, in order
    environ.update(headers)
    server = scope.get("server")
    if server is not None and server[1] is not None:
        environ["SERVER_NAME"], environ["SERVER_PORT"] = server[0], str(server[1])
    else:
        # A Unix socket: the Host header is the best name there is (PEP 3333 URL reconstruction).
        host = headers.get("HTTP_HOST", "localhost")
        name, sep, port = host.rpartition(":")
        if not (sep and name and port.isdigit()):
            name, port = host, _DEFAULT_PORTS.get(environ["wsgi.url_scheme"], "80")
        environ["SERVER_NAME"], environ["SERVER_PORT"] = name, port
    client = scope.get("client")
    if client is not None:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
    return environ


class ResponseHead:
    """What the app said through `start_response`, and whether it went out already.

    PEP 3333 "The start_response() Callable": a second call needs `exc_info`; with `exc_info` after
    the head was sent, the original exception is re-raised in the app; before, the new status and
    headers replace the old ones.
    """

    __slots__ = ("content_length", "headers", "sent", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.content_length: int | None = None
        self.sent = False

    def start(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | tuple[None, None, None] | None = None,
    ) -> None:
        if exc_info is not None and exc_info[1] is not None:
            if self.sent:
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            raise RuntimeError(
                "WSGI: start_response() called a second time without exc_info (PEP 3333 allows a "
                "second call only from an error handler, passing sys.exc_info())"
            )
        code = _status(status)
        self.headers, self.content_length = _headers(headers)
        self.status = code


def _status(status: object) -> int:
    # PEP 3333: "a status string like '200 OK'": three digits, a space and a reason phrase.
    if not isinstance(status, str):
        raise TypeError(f"WSGI: the status must be a str such as '200 OK', not {type(status).__name__}")
    code, space, _reason = status.partition(" ")
    if len(code) != 3 or not code.isdigit() or not space or not 100 <= int(code) <= 999:
        raise ValueError(
            f"WSGI: the status must look like '200 OK' (three digits, a space, a reason); got {status!r}"
        )
    return int(code)


def _headers(headers: Iterable[tuple[str, str]] | object) -> tuple[list[tuple[bytes, bytes]], int | None]:
    if not isinstance(headers, list):
        raise TypeError(
            f"WSGI: response headers must be a list of (name, value) tuples, not {type(headers).__name__}"
        )
    fields: list[tuple[bytes, bytes]] = []
    length: int | None = None
    for field in headers:
        if not (isinstance(field, tuple) and len(field) == 2 and all(isinstance(x, str) for x in field)):
            raise TypeError(f"WSGI: each response header must be a (str, str) tuple; got {field!r}")
        try:
            name, value = field[0].lower().encode("latin-1"), field[1].encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(
                f"WSGI: response header {field!r} is not latin-1 (PEP 3333: encode other text, "
                "e.g. RFC 8187 for filenames)"
            ) from None
        if name in _HOP_BY_HOP:
            _log.debug("WSGI: dropped the app's hop-by-hop response header %r", field[0])
            continue
        if name == b"content-length":
            if not value.strip().isdigit():
                raise ValueError(f"WSGI: Content-Length must be a non-negative integer; got {field[1]!r}")
            length = int(value)
        fields.append((name, value))
    return fields, length


class ErrorStream:
    """`wsgi.errors`: a text stream whose lines go to the `tapster.error` logger (bounded: a line
    longer than `max_line` characters is logged in pieces)."""

    __slots__ = ("_pending", "max_line")

    def __init__(self, max_line: int = 8 * 1024) -> None:
        self._pending: list[str] = []
        self.max_line = max_line

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors takes str, not {type(text).__name__}")
        pending = self._pending
        pending.append(text)
        if "\n" in text or sum(map(len, pending)) >= self.max_line:
            data = "".join(pending)
            pending.clear()
            *lines, rest = data.split("\n")
            for line in lines:
                self._emit(line)
            if len(rest) >= self.max_line:
                self._emit(rest)
            elif rest:
                pending.append(rest)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._pending:
            data = "".join(self._pending)
            self._pending.clear()
            self._emit(data)

    def _emit(self, line: str) -> None:
        for start in range(0, max(len(line), 1), self.max_line):
            _log.error("%s", line[start : start + self.max_line])
