"""Access-log lines: Gunicorn-like atoms (`%(h)s`, `%(r)s`, `%({user-agent}i)s` ...) or one JSON object.

A line is logged as ``access_log.info(format, AccessEntry(...))``: the entry is a lazy mapping, so an
atom is computed only when a handler formats the record (never when the level or a filter drops
it), and only the atoms the format names. Everything taken from the request is escaped: a request
can never forge a log line (the class of Uvicorn's CVE-2020-7694).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from urllib.parse import unquote

from .protocol import Request

__all__ = ["ATOMS", "DEFAULT_FORMAT", "AccessEntry", "check_format", "escape_for_log", "resolve_format"]

#: The line tapster has always written: `127.0.0.1:50312 - "GET /users/1 HTTP/1.1" 200 27`.
DEFAULT_FORMAT = '%(c)s - "%(r)s" %(s)s %(B)s'

Address = tuple[str, int] | None


def escape_for_log(text: str) -> str:
    # Log injection (Uvicorn CVE-2020-7694): never write control characters from the request.
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


class AccessEntry(Mapping[str, object]):
    """One finished exchange, as the access-log atoms see it (a lazy mapping: see the module doc)."""

    __slots__ = ("client", "duration", "request", "response_headers", "sent", "status", "when")

    def __init__(
        self,
        request: Request,
        client: Address,
        status: int,
        response_headers: Iterable[tuple[bytes, bytes]],
        sent: int,
        duration: float,
    ) -> None:
        self.request = request
        self.client = client  # scope["client"] as the app saw it (a proxy-headers middleware may set it)
        self.status = status
        self.response_headers = response_headers
        self.sent = sent  # bytes of response body
        self.duration = duration  # seconds from the request head to the end of the response
        self.when = time.time()

    def __getitem__(self, key: str) -> object:
        if len(key) > 3 and key[0] == "{" and key[-2] == "}":
            name = key[1:-2].lower().encode("latin-1")
            where = key[-1]
            if where == "i":
                return _header(self.request.headers, name)
            if where == "o":
                return _header(self.response_headers, name)
            if where == "e":
                return escape_for_log(os.environ.get(key[1:-2], "-"))
        atom = _ATOMS.get(key)
        if atom is None:
            raise KeyError(key)
        return atom(self)

    def __iter__(self) -> Iterator[str]:
        return iter(_ATOMS)

    def __len__(self) -> int:
        return len(_ATOMS)

    def as_dict(self) -> dict[str, object]:
        """The fields of the JSON access-log format."""
        request = self.request
        client = self.client
        return {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.when)) + f".{self._millis():03d}Z",
            "client": f"{client[0]}:{client[1]}" if client else None,
            "method": request.method.decode("ascii"),
            "path": unquote(request.path.decode("ascii")),
            "query": request.query.decode("ascii"),
            "protocol": _protocol(request),
            "status": self.status,
            "bytes": self.sent,
            "duration": round(self.duration, 6),
            "referer": _header_value(request.headers, b"referer"),
            "user_agent": _header_value(request.headers, b"user-agent"),
        }

    def _millis(self) -> int:
        return int(self.when * 1000) % 1000


def _protocol(request: Request) -> str:
    return "HTTP/" + request.http_version.decode("ascii")


def _header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str:
    value = _header_value(headers, name)
    return "-" if value is None else escape_for_log(value)


def _request_line(entry: AccessEntry) -> str:
    request = entry.request
    target = escape_for_log(unquote(request.target.decode("ascii")))
    return f"{request.method.decode('ascii')} {target} {_protocol(request)}"


def _clf_time(entry: AccessEntry) -> str:
    return time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(entry.when))


def _client(entry: AccessEntry) -> str:
    client = entry.client
    return f"{client[0]}:{client[1]}" if client else "-"


_ATOMS: dict[str, Callable[[AccessEntry], object]] = {
    "h": lambda e: e.client[0] if e.client else "-",
    "c": _client,
    "l": lambda e: "-",
    "u": lambda e: "-",
    "t": _clf_time,
    "r": _request_line,
    "m": lambda e: e.request.method.decode("ascii"),
    "U": lambda e: escape_for_log(unquote(e.request.path.decode("ascii"))),
    "q": lambda e: e.request.query.decode("ascii"),
    "H": lambda e: _protocol(e.request),
    "s": lambda e: e.status,
    "B": lambda e: e.sent,
    "b": lambda e: e.sent or "-",
    "f": lambda e: _header(e.request.headers, b"referer"),
    "a": lambda e: _header(e.request.headers, b"user-agent"),
    "T": lambda e: int(e.duration),
    "M": lambda e: int(e.duration * 1000),
    "D": lambda e: int(e.duration * 1_000_000),
    "L": lambda e: f"{e.duration:.6f}",
    "p": lambda e: f"<{os.getpid()}>",
    # json.dumps escapes control characters itself (\u001b), so the line cannot be forged either.
    "json": lambda e: json.dumps(e.as_dict(), separators=(",", ":")),
}

#: The atoms and what they stand for (docs/running.md#access-log-format lists the same).
ATOMS = {
    "h": "client address",
    "c": "client address:port",
    "l": "'-'",
    "u": "'-' (no user name)",
    "t": "time of the log line, [03/Dec/2026:12:04:26 +0000]",
    "r": "request line, GET /path?q=1 HTTP/1.1 (target percent-decoded)",
    "m": "request method",
    "U": "path, without the query string",
    "q": "query string",
    "H": "protocol, HTTP/1.1 or HTTP/2",
    "s": "status",
    "B": "bytes of response body",
    "b": "bytes of response body, '-' for none",
    "f": "Referer",
    "a": "User-Agent",
    "T": "duration, whole seconds",
    "M": "duration, milliseconds",
    "D": "duration, microseconds",
    "L": "duration, decimal seconds",
    "p": "process id, <1234>",
    "json": "the entry as one JSON object (what --access-log-format json writes)",
    "{name}i": "request header `name`",
    "{name}o": "response header `name`",
    "{NAME}e": "environment variable `NAME`",
}


_POSITIONAL = re.compile(r"%(?!\()")


def resolve_format(access_log_format: str) -> str:
    """The %-format string for `Config.access_log_format` ("json" is the JSON object alone)."""
    return "%(json)s" if access_log_format == "json" else access_log_format


def check_format(access_log_format: str) -> None:
    """Raise ValueError, saying why, if the format names an unknown atom or is not a %-format."""
    fmt = resolve_format(access_log_format)
    if not isinstance(fmt, str):
        raise ValueError("must be a string")
    if _POSITIONAL.search(fmt.replace("%%", "")):
        raise ValueError("every conversion must name an atom, as %(h)s; a bare % is written %%")
    sample = AccessEntry(
        Request(b"GET", b"/", b"/", b"", b"1.1", [], True, False, False), ("127.0.0.1", 1), 200, [], 0, 0.0
    )
    try:
        fmt % sample
    except KeyError as exc:
        raise ValueError(
            f"unknown access-log atom %({exc.args[0]})s; known: {', '.join(ATOMS)}, or 'json'"
        ) from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a %-format of atoms like %(h)s: {exc}") from None
