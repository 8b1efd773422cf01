"""What an HTTP/2 request and response may hold (RFC 9113 §8): requests validated into the
version-neutral `Request` head, response headers checked and lowercased for HPACK."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

from tapster.errors import LocalProtocolError, RemoteProtocolError

from . import _rules as R
from .events import Request

__all__ = ["MalformedRequest", "checked_fields", "parse_h2c_upgrade", "parse_request", "response_headers"]


class MalformedRequest(Exception):
    """A malformed request (RFC 9113 §8.1.1): a stream error."""


# RFC 9113 §8.2.2: connection-specific fields are malformed in HTTP/2.
_CONNECTION_SPECIFIC = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade")
)
_PSEUDO = frozenset((b":method", b":scheme", b":path", b":authority", b":protocol"))
# Request-target characters (RFC 9112 §3.2, as REQUEST_LINE_RE takes them): visible ASCII but "#".
_PATH_RE = re.compile(rb"[\x21\x22\x24-\x7e]+")
_CHECKED_NAMES: set[bytes] = set()  # request header names found valid (bounded like http11's)
# Short request header values found valid: clients send the same user-agent, accept, ... on every
# request. Bounded in count and in the length of a value kept, like http11's memories.
_CHECKED_VALUES: set[bytes] = set()
_CHECKED_RESPONSE_VALUES: set[bytes] = set()  # the same for the app's response values (no CTLs)
# Response header names HTTP/2 must not carry (RFC 9113 §8.2.2), dropped from what the app sends.
_HOP_BY_HOP = _CONNECTION_SPECIFIC | {b"te"}


def _check_name(name: bytes) -> None:
    if name in _CHECKED_NAMES:
        return
    if R.TOKEN_RE.fullmatch(name) is None or name.lower() != name:
        raise MalformedRequest(f"invalid header name {name!r} (HTTP/2 names are lowercase tokens)")
    if len(_CHECKED_NAMES) < R.MEMO_ENTRIES:
        _CHECKED_NAMES.add(name)


def _check_value(name: bytes, value: bytes) -> None:
    # RFC 9113 §8.2.1: no NUL, CR or LF, no leading or trailing whitespace; like HTTP/1.1, we also
    # refuse the other control characters (RFC 9110 §5.5 field-vchar).
    if value in _CHECKED_VALUES:
        return
    if R.BAD_VALUE_RE.search(value) is not None:
        raise MalformedRequest(f"invalid value for header {name!r}")
    if value[:1] in (b" ", b"\t") or value[-1:] in (b" ", b"\t"):
        raise MalformedRequest(f"whitespace around the value of header {name!r}")
    if (
        len(value) <= R.MEMO_VALUE_LENGTH
        and len(_CHECKED_VALUES) < R.MEMO_ENTRIES
        and name not in R.SENSITIVE_NAMES
    ):
        _CHECKED_VALUES.add(value)


def parse_request(
    headers: Iterable[tuple[bytes, bytes]], end_stream: bool, connect_protocol: bool
) -> tuple[Request, int | None, bytes | None, bool]:
    """The request of a HEADERS frame, its Content-Length, the :protocol of an extended CONNECT
    (RFC 8441) and whether the client accepts trailers; raises MalformedRequest."""
    pseudo: dict[bytes, bytes] = {}
    regular: list[tuple[bytes, bytes]] = []
    cookies: list[bytes] = []
    host: bytes | None = None
    length: int | None = None
    expect_continue = te_trailers = False
    for name, value in headers:
        if name[:1] == b":":
            # RFC 9113 §8.3: pseudo-headers first, each once, only the defined ones.
            if regular:
                raise MalformedRequest(f"pseudo-header {name!r} after a regular header")
            if name not in _PSEUDO or (name == b":protocol" and not connect_protocol):
                raise MalformedRequest(f"unknown pseudo-header {name!r}")
            if name in pseudo:
                raise MalformedRequest(f"repeated {name.decode()}")
            pseudo[name] = value
            continue
        _check_name(name)
        _check_value(name, value)
        if name in _CONNECTION_SPECIFIC:
            raise MalformedRequest(f"connection-specific header {name!r} in an HTTP/2 request")
        if name == b"te":
            if value != b"trailers":
                raise MalformedRequest('"te" other than "trailers" in an HTTP/2 request')
            te_trailers = True
        elif name == b"content-length":
            if R.CONTENT_LENGTH_RE.fullmatch(value) is None or (length is not None and int(value) != length):
                raise MalformedRequest("invalid or conflicting content-length")
            length = int(value)
        elif name == b"host":
            if host is not None:
                raise MalformedRequest("more than one host header")
            host = value
        elif name == b"expect" and value.lower() == b"100-continue":
            expect_continue = True
        elif name == b"cookie":
            cookies.append(value)
            continue
        regular.append((name, value))

    if cookies:
        # RFC 9113 §8.2.3: split cookie fields are joined with "; " for an HTTP/1.1-style reader.
        regular.append((b"cookie", cookies[0] if len(cookies) == 1 else b"; ".join(cookies)))
    method = pseudo.get(b":method")
    scheme = pseudo.get(b":scheme")
    path = pseudo.get(b":path")
    authority = pseudo.get(b":authority")
    protocol = pseudo.get(b":protocol")
    if method is None or not method or R.TOKEN_RE.fullmatch(method) is None:
        raise MalformedRequest("missing or invalid :method")
    if method == b"CONNECT" and protocol is None:
        # RFC 9113 §8.5: only :method and :authority. Well formed, but we are no proxy (501).
        if scheme is not None or path is not None or authority is None:
            raise MalformedRequest("CONNECT takes :authority and no :scheme or :path")
        path = b"/"
    else:
        if protocol is not None and method != b"CONNECT":
            raise MalformedRequest(":protocol without CONNECT (RFC 8441 §4)")
        if scheme is None or path is None:
            raise MalformedRequest("missing :scheme or :path")
        if not path:
            raise MalformedRequest("empty :path")
        if _PATH_RE.fullmatch(path) is None:
            raise MalformedRequest("invalid characters in :path")
        if path[:1] != b"/" and not (path == b"*" and method == b"OPTIONS"):
            raise MalformedRequest(":path must start with '/' (or be '*' for OPTIONS)")
        if protocol is not None and authority is None:
            raise MalformedRequest("extended CONNECT without :authority")
    if authority is not None:
        if R.HOST_RE.fullmatch(authority) is None or b"@" in authority:
            raise MalformedRequest("invalid :authority")
        if host is None:
            regular.append((b"host", authority))  # what ASGI apps read the host from
        elif host != authority:
            raise MalformedRequest("host and :authority differ (RFC 9113 §8.3.1)")
    elif host is not None and R.HOST_RE.fullmatch(host) is None:
        raise MalformedRequest("invalid host header")
    if end_stream and length:
        raise MalformedRequest("content-length without a body")
    target = path
    raw_path, _, query = path.partition(b"?")
    request = Request(
        method,
        target,
        raw_path,
        query,
        b"2",
        regular,
        True,
        expect_continue,
        not end_stream,
    )
    return request, length, protocol, te_trailers


def response_headers(
    status: int, headers: Iterable[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The HEADERS of a response: `:status`, the app's headers lowercased and checked (no response
    splitting; connection-specific ones dropped, RFC 9113 §8.2.2), then the server's `extra`."""
    if type(status) is not int or not 100 <= status <= 599:
        raise LocalProtocolError(f"invalid response status {status!r}: must be an int in 100..599")
    out = [(b":status", b"%d" % status)]
    checked_fields(headers, out)
    out += extra
    return out


def checked_fields(
    headers: Iterable[tuple[bytes, bytes]], out: list[tuple[bytes, bytes]] | None = None
) -> list[tuple[bytes, bytes]]:
    """The app's header (or trailer) fields, lowercased and checked, appended to `out`."""
    out = [] if out is None else out
    try:
        for name, value in headers:
            lname = name.lower()
            if lname not in _CHECKED_NAMES and R.TOKEN_RE.fullmatch(name) is None:
                raise LocalProtocolError(f"invalid response header name {name!r}")
            if value not in _CHECKED_RESPONSE_VALUES:
                if R.BAD_VALUE_RE.search(value) is not None:
                    raise LocalProtocolError(
                        f"invalid value for response header {name!r}: CR, LF, NUL and control "
                        "characters are not allowed (response splitting)"
                    )
                if (
                    len(value) <= R.MEMO_VALUE_LENGTH
                    and len(_CHECKED_RESPONSE_VALUES) < R.MEMO_ENTRIES
                    and lname not in R.SENSITIVE_NAMES
                ):
                    _CHECKED_RESPONSE_VALUES.add(value)
            if lname in _HOP_BY_HOP:
                continue
            out.append((lname, value))
    except (TypeError, ValueError):
        raise LocalProtocolError(
            f"response headers must be an iterable of (bytes, bytes) pairs, got {headers!r}"
        ) from None
    return out


# Fields of an h2c upgrade request that mean nothing once it is answered over HTTP/2.
_UPGRADE_FIELDS = _CONNECTION_SPECIFIC | {b"http2-settings", b"te"}


def parse_h2c_upgrade(request: Request) -> tuple[Request, bytes] | None:
    """An HTTP/1.1 request asking to continue in HTTP/2 (RFC 7540 §3.2: "Upgrade: h2c", one
    HTTP2-Settings, both named in Connection): the same request as HTTP/2 sees it (stream 1), and the
    HTTP2-Settings value; None when it is no such request (or lacks the one HTTP2-Settings it
    needs). Raises RemoteProtocolError (400) for an HTTP2-Settings that is not base64url of whole
    settings."""
    upgrade = False
    connection: list[bytes] = []
    settings: list[bytes] = []
    for name, value in request.headers:
        if name == b"upgrade":
            upgrade = upgrade or b"h2c" in [t.strip(b" \t").lower() for t in value.split(b",")]
        elif name == b"connection":
            connection.extend(t.strip(b" \t").lower() for t in value.split(b","))
        elif name == b"http2-settings":
            settings.append(value)
    if not upgrade or b"upgrade" not in connection or b"http2-settings" not in connection:
        return None
    if len(settings) != 1:
        return None  # RFC 7540 §3.2.1: "MUST NOT upgrade" then; it stays an HTTP/1.1 request
    value = settings[0].strip(b" \t")
    if R.BASE64URL_RE.fullmatch(value) is None:
        raise RemoteProtocolError("HTTP2-Settings is not base64url")
    payload = base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4))
    if len(payload) % 6:
        raise RemoteProtocolError("HTTP2-Settings does not hold whole settings (6 octets each)")
    headers = [(n, v) for n, v in request.headers if n not in _UPGRADE_FIELDS]
    h2_request = Request(
        request.method,
        request.target,
        request.path,
        request.query,
        b"2",
        headers,
        True,
        request.expect_continue,
        request.has_body,
    )
    return h2_request, value
