"""A sans-I/O HTTP/1.1 server connection (RFC 9112): bytes in, events out; responses in, bytes out.

No sockets, no event loop, no clock. The driver feeds `receive_data()`, pulls `next_event()` until
`NEED_DATA` or `PAUSED`, and asks `response_head()` / `response_body()` for the bytes to write.
Any error raised from here moves the connection to ERROR: a broken connection is never reused.
"""

from __future__ import annotations

import enum
from http import HTTPStatus
from typing import NoReturn

from tapster.errors import LocalProtocolError, RemoteProtocolError

from . import _rules as R
from ._rules import H11Limits
from .events import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Request,
    Sentinel,
)

__all__ = ["H11Connection", "H11Limits", "State", "status_line"]

Event = Request | Data | EndOfMessage | ConnectionClosed | Sentinel


class State(enum.Enum):
    IDLE = "IDLE"  # waiting for a request head / not yet answering
    BODY = "BODY"  # request body being read / response body being written
    DONE = "DONE"  # this side of the exchange is complete
    CLOSED = "CLOSED"  # the peer closed (client side) or we must close after this exchange
    ERROR = "ERROR"

    # Members are singletons: identity hashing keeps the transition-table lookups in C
    # (Enum's own __hash__ is a Python function, measurable on every request).
    __hash__ = object.__hash__


# Reading a member through the Enum class costs a metaclass lookup, about four times a plain
# attribute, and the protocol does it a dozen times per request: these are the same singletons.
_IDLE, _BODY, _DONE, _CLOSED, _ERROR = State.IDLE, State.BODY, State.DONE, State.CLOSED, State.ERROR


# Which events move each side, and where (h11's _state.py habit: transitions are data).
_CLIENT: dict[State, dict[str, State]] = {
    _IDLE: {"request": _BODY, "request_no_body": _DONE, "closed": _CLOSED},
    _BODY: {"end": _DONE},
    _DONE: {"closed": _CLOSED, "next_cycle": _IDLE},
}
_SERVER: dict[State, dict[str, State]] = {
    _IDLE: {"head": _BODY, "head_final": _DONE},
    _BODY: {"end": _DONE},
    _DONE: {"next_cycle": _IDLE},
}


def _move(table: dict[State, dict[str, State]], state: State, what: str) -> State:
    try:
        return table[state][what]
    except KeyError:
        raise LocalProtocolError(f"{what!r} is not allowed in state {state.name}") from None


def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase.encode("ascii")
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (code, phrase)


# RFC 9110 §2.5: a server sends its own highest version (HTTP/1.1) even to HTTP/1.0 clients.
_STATUS_LINES: dict[int, bytes] = {code: _status_line(code) for code in range(100, 600)}

# Response header names already checked (a token), with their lowercase form: apps send the same few.
_CHECKED_NAMES: dict[bytes, bytes] = {}
# Host header values found valid: clients send the same few. Bounded in count and length (the
# values are client input; once full, new ones are checked every time and not kept).
_VALID_HOSTS: set[bytes] = set()
# Response headers whose lowercase names mean something to the framing or the connection.
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))
# Short response header values already checked (no control characters): content types and the
# like repeat on every response. Bounded in count and in the length of a value kept.
_CHECKED_VALUES: set[bytes] = set()


def status_line(code: int) -> bytes:
    """The precomputed status line for `code` (100..599)."""
    line = _STATUS_LINES.get(code)
    if line is None:
        raise LocalProtocolError(f"invalid status code {code!r}: must be an int in 100..599")
    return line


_INTERESTING = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade")
)
# Body readers' modes.
_LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS = range(5)
_MAX_CHUNK_LINE = 1024  # bytes of a chunk-size line beyond its extensions (16 hex digits fit easily)


class H11Connection:
    """One HTTP/1.1 server connection. Not thread-safe; one instance per TCP connection."""

    __slots__ = (
        "_body_mode",
        "_buf",
        "_chunk_ext_total",
        "_discard_body",
        "_eof",
        "_head_request",
        "_head_written",
        "_http10",
        "_remaining",
        "_request_keep_alive",
        "_response_chunked",
        "_response_remaining",
        "client_state",
        "limits",
        "response_keep_alive",
        "server_state",
    )

    def __init__(self, limits: H11Limits | None = None) -> None:
        self.limits = limits if limits is not None else H11Limits()
        self.client_state = _IDLE
        self.server_state = _IDLE
        self._buf = b""
        self._eof = False
        self._body_mode = _LENGTH
        self._remaining = 0
        self._chunk_ext_total = 0
        self._request_keep_alive = True
        self._head_request = False
        self._http10 = False
        self._response_chunked = False
        self._response_remaining: int | None = None
        self._discard_body = False
        self._head_written = False
        #: Whether the connection may carry another request after this response.
        self.response_keep_alive = True

    # ----------------------------------------------------------------- receiving

    @property
    def peer_eof(self) -> bool:
        """The peer closed its sending side (``receive_data(b"")`` was called)."""
        return self._eof

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events."""
        return len(self._buf)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed its side (EOF)."""
        if data:
            if self._eof:
                self.client_state = _ERROR  # like every error raised from here
                raise RemoteProtocolError("data received after end of stream")
            self._buf = self._buf + data if self._buf else data
        else:
            self._eof = True

    def next_event(self) -> Event:
        """The next event, or NEED_DATA / PAUSED. Raises RemoteProtocolError on a malformed request."""
        state = self.client_state
        try:
            if state is _BODY:
                return self._next_body_event()
            if state is _IDLE:
                return self._next_request()
            if state is _DONE:
                if self._eof and not self._buf:
                    # The peer closed (or half-closed) its side: a response may still be owed and
                    # sent; the connection is not reused after it (RFC 9112 §9.6).
                    self.client_state = _CLOSED
                    return CONNECTION_CLOSED
                return PAUSED
            if state is _CLOSED:
                return CONNECTION_CLOSED
            raise RemoteProtocolError("connection is in the ERROR state and cannot be reused")
        except RemoteProtocolError:
            self.client_state = _ERROR
            raise

    def _next_request(self) -> Event:
        buf = self._buf
        if buf[:1] == b"\r":
            # RFC 9112 §2.2: ignore empty lines received before the request-line (robustness).
            stripped = buf.lstrip(b"\r\n")
            prefix = buf[: len(buf) - len(stripped)]
            if not stripped and prefix[-1:] == b"\r":
                prefix = prefix[:-1]  # may be the first half of a CRLF still to arrive
            # RFC 9112 §2.2: only empty lines (CRLF) are ignored; "a recipient of such a bare CR MUST
            # consider that element to be invalid", and a bare LF is no line ending for a strict server.
            if prefix.replace(b"\r\n", b""):
                raise RemoteProtocolError("bare CR or LF before the request line")
            if stripped or buf[-1:] == b"\n":
                buf = self._buf = stripped
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return self._incomplete_head(buf)
        limits = self.limits
        if end > limits.max_head_size:
            self._raise_too_large(buf[:end])
        head = buf[:end]
        self._buf = buf[end + 4 :]

        match = R.HEAD_RE.fullmatch(head)
        if match is None:
            self._diagnose_head(head)
        method, target, major, minor, fields = match.groups()
        if major != b"1":
            raise RemoteProtocolError("only HTTP/1.0 and HTTP/1.1 are served on this port", 505)
        # RFC 9110 §2.5: "A recipient that receives a message with a major version number that it
        # implements and a minor version number higher than what it implements SHOULD process the
        # message as if it were in the highest minor version within that major version".
        version = b"1.1" if minor != b"0" else b"1.0"

        if fields:
            pairs = R.FIELD_RE.findall(fields)
            if len(pairs) > limits.max_headers:
                raise RemoteProtocolError(f"more than {limits.max_headers} header fields", 431)
            headers = [(name.lower(), value.strip(b" \t")) for name, value in pairs]
        else:
            headers = []

        # Request target forms, RFC 9112 §3.2. CONNECT first: RFC 9110 §9.3.6 gives it "a special form
        # of request target, unique to this method" (authority-form), so "CONNECT /" is no origin-form.
        if method == b"CONNECT":
            raise RemoteProtocolError("CONNECT is not supported: this server is not a proxy", 501)
        if target[:1] == b"/":
            path, _, query = target.partition(b"?")
        elif target == b"*":
            if method != b"OPTIONS":
                raise RemoteProtocolError("asterisk-form target is only allowed with OPTIONS")
            path, query = b"*", b""
        else:
            absolute = R.ABSOLUTE_FORM_RE.fullmatch(target)
            if absolute is None or absolute.group(1).lower() not in (b"http", b"https"):
                raise RemoteProtocolError("invalid request target")
            path = absolute.group(3) or b"/"
            query = absolute.group(4) or b""
            authority = absolute.group(2)
            if R.HOST_RE.fullmatch(authority) is None:
                raise RemoteProtocolError("invalid authority in the request target")
            request = self._request_semantics(method, target, path, query, version, headers)
            # RFC 9112 §3.2.2: with an absolute-form target the server MUST ignore the Host header
            # and use the target's authority: the app sees that authority as the host.
            request.headers[:] = [(n, authority if n == b"host" else v) for n, v in request.headers]
            if not any(n == b"host" for n, _ in request.headers):
                request.headers.append((b"host", authority))
            return request

        return self._request_semantics(method, target, path, query, version, headers)

    @staticmethod
    def _diagnose_head(head: bytes) -> NoReturn:
        """Raise the precise error for a head HEAD_RE rejected (slow path, errors only)."""
        line, crlf, rest = head.partition(b"\r\n")
        fields = crlf + rest
        if R.REQUEST_LINE_RE.fullmatch(line) is None:
            if b"\n" in line or b"\r" in line:
                raise RemoteProtocolError("bare CR or LF in the request line")
            raise RemoteProtocolError(R.diagnose_request_line(line))
        raise RemoteProtocolError(R.diagnose_fields(fields))

    def _request_semantics(
        self,
        method: bytes,
        target: bytes,
        path: bytes,
        query: bytes,
        version: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> Request:
        http11 = version == b"1.1"
        hosts = 0
        length: bytes | None = None
        codings: list[bytes] | None = None
        keep_alive = http11
        close = False
        expect_continue = False
        upgrade = False
        for name, value in headers:
            if name not in _INTERESTING:
                continue
            if name == b"host":
                hosts += 1
                if value not in _VALID_HOSTS:
                    if R.HOST_RE.fullmatch(value) is None:
                        raise RemoteProtocolError("invalid Host header")
                    if len(value) <= 64 and len(_VALID_HOSTS) < 256:
                        _VALID_HOSTS.add(value)
            elif name == b"content-length":
                if length is not None:
                    raise RemoteProtocolError("more than one Content-Length header")
                if R.CONTENT_LENGTH_RE.fullmatch(value) is None:
                    raise RemoteProtocolError("Content-Length must be 1 to 18 decimal digits")
                length = value
            elif name == b"transfer-encoding":
                if codings is None:
                    codings = []
                codings.extend(c.strip(b" \t").lower() for c in value.split(b","))
            elif name == b"connection":
                tokens = [t.strip(b" \t").lower() for t in value.split(b",")]
                if b"close" in tokens:
                    close = True
                elif not http11 and b"keep-alive" in tokens:
                    keep_alive = True
            elif name == b"upgrade":
                upgrade = True  # the driver looks closer (tapster.protocol.websocket) only then
            elif http11:  # expect; RFC 9110 §10.1.1: ignore it on HTTP/1.0
                if value.lower() != b"100-continue":
                    raise RemoteProtocolError("unsupported expectation", 417)
                expect_continue = True
        if close:
            # RFC 9112 §9.6: "close" ends the connection, even with keep-alive in another field line.
            keep_alive = False
        if hosts > 1:
            raise RemoteProtocolError("more than one Host header")
        if hosts == 0 and http11:
            raise RemoteProtocolError("HTTP/1.1 request without a Host header")

        # Message body framing, RFC 9112 §6.
        if codings is not None:
            if not http11:
                raise RemoteProtocolError("Transfer-Encoding is not allowed in an HTTP/1.0 request")
            if length is not None:
                raise RemoteProtocolError("both Content-Length and Transfer-Encoding (request smuggling)")
            if codings[-1] != b"chunked":
                raise RemoteProtocolError("Transfer-Encoding must end with chunked")
            if codings.count(b"chunked") > 1:
                raise RemoteProtocolError("chunked applied more than once")
            if len(codings) > 1:
                raise RemoteProtocolError("transfer codings other than chunked are not implemented", 501)
            self._body_mode = _CHUNK_SIZE
            self._chunk_ext_total = 0
            has_body = True
        elif length is not None and length.lstrip(b"0"):
            self._body_mode = _LENGTH
            self._remaining = int(length)
            has_body = True
        else:
            has_body = False

        self._request_keep_alive = keep_alive
        self.response_keep_alive = keep_alive
        self._head_request = method == b"HEAD"
        self._http10 = not http11
        self.client_state = _BODY if has_body else _DONE
        return Request(
            method, target, path, query, version, headers, keep_alive, expect_continue, has_body, upgrade
        )

    def _incomplete_head(self, buf: bytes) -> Event:
        limits = self.limits
        if len(buf) > limits.max_head_size + 3:
            self._raise_too_large(buf)
        # A bare LF can never end a head we accept: reject now rather than wait for the timeout.
        if buf.count(b"\n") != buf.count(b"\r\n"):
            raise RemoteProtocolError("bare LF in the request head (lines must end with CRLF)")
        if self._eof:
            if buf:
                raise RemoteProtocolError("connection closed in the middle of a request head")
            self.client_state = _CLOSED
            return CONNECTION_CLOSED
        return NEED_DATA

    def _raise_too_large(self, head: bytes) -> None:
        line_end = head.find(b"\r\n")
        if line_end < 0 or line_end > self.limits.max_head_size:
            raise RemoteProtocolError("request line too long", 414)
        raise RemoteProtocolError(f"request head larger than {self.limits.max_head_size} bytes", 431)

    def _next_body_event(self) -> Event:
        if self._body_mode == _LENGTH:
            remaining = self._remaining
            if remaining == 0:
                return self._end_of_body()
            buf = self._buf
            if not buf:
                if self._eof:
                    raise RemoteProtocolError("connection closed before the request body was complete")
                return NEED_DATA
            if len(buf) <= remaining:
                self._buf = b""
                data = buf
            else:
                data = buf[:remaining]
                self._buf = buf[remaining:]
            self._remaining = remaining - len(data)
            return Data(data)
        return self._next_chunked_event()

    def _next_chunked_event(self) -> Event:
        while True:
            mode = self._body_mode
            buf = self._buf
            if mode == _CHUNK_DATA:
                if not buf:
                    break
                take = self._remaining
                if len(buf) <= take:
                    self._buf = b""
                    data = buf
                else:
                    data = buf[:take]
                    self._buf = buf[take:]
                self._remaining -= len(data)
                if self._remaining == 0:
                    self._body_mode = _CHUNK_CRLF
                return Data(data)
            if mode == _CHUNK_CRLF:
                if len(buf) < 2:
                    if buf and buf != b"\r":
                        raise RemoteProtocolError("chunk data not followed by CRLF")
                    break
                if buf[:2] != b"\r\n":
                    raise RemoteProtocolError("chunk data not followed by CRLF")
                self._buf = buf[2:]
                self._body_mode = _CHUNK_SIZE
                continue
            if mode == _CHUNK_SIZE:
                end = buf.find(b"\r\n")
                if end < 0:
                    if b"\n" in buf:
                        raise RemoteProtocolError("bare LF in a chunk-size line")
                    self._check_chunk_line(len(buf))
                    break
                self._check_chunk_line(end)
                match = R.CHUNK_LINE_RE.fullmatch(buf, 0, end)
                if match is None:
                    raise RemoteProtocolError("invalid chunk-size line")
                size_hex, ext = match.groups()
                self._chunk_ext_total += len(ext)
                if self._chunk_ext_total > self.limits.max_chunk_extensions:
                    raise RemoteProtocolError("chunk extensions too large")
                self._buf = buf[end + 2 :]
                size = int(size_hex, 16)
                if size:
                    self._remaining = size
                    self._body_mode = _CHUNK_DATA
                else:
                    self._body_mode = _TRAILERS
                continue
            # _TRAILERS: trailer-section CRLF (RFC 9112 §7.1.2); parsed for validity, then dropped.
            if buf[:2] == b"\r\n":
                self._buf = buf[2:]
                return self._end_of_body()
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self.limits.max_head_size:
                    raise RemoteProtocolError("trailer section too large", 431)
                if buf.count(b"\n") != buf.count(b"\r\n"):
                    raise RemoteProtocolError("bare LF in the trailer section")
                break
            if end > self.limits.max_head_size:
                raise RemoteProtocolError("trailer section too large", 431)
            block = b"\r\n" + buf[:end]
            if R.FIELDS_RE.fullmatch(block) is None:
                raise RemoteProtocolError("trailer: " + R.diagnose_fields(block))
            if block.count(b"\r\n") > self.limits.max_headers:
                raise RemoteProtocolError(f"more than {self.limits.max_headers} trailer fields", 431)
            self._buf = buf[end + 4 :]
            return self._end_of_body()
        if self._eof:
            raise RemoteProtocolError("connection closed before the chunked body was complete")
        return NEED_DATA

    def _check_chunk_line(self, length: int) -> None:
        if length > _MAX_CHUNK_LINE + self.limits.max_chunk_extensions:
            raise RemoteProtocolError("chunk-size line too long")

    def _end_of_body(self) -> EndOfMessage:
        self.client_state = _move(_CLIENT, self.client_state, "end")
        return END_OF_MESSAGE

    # ----------------------------------------------------------------- sending

    def informational_continue(self) -> bytes:
        """The `100 Continue` interim response (RFC 9110 §10.1.1), sent before the body is read."""
        if self.server_state is not _IDLE:
            raise LocalProtocolError("100 Continue after the response started")
        return b"HTTP/1.1 100 Continue\r\n\r\n"

    def response_head(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...],
        extra: bytes = b"",
        body: bytes | None = None,
    ) -> bytes:
        """Bytes of a response head. `extra` is pre-formatted header lines the server adds (Date, Server).

        With `body` (the whole body, known now) the head carries its Content-Length and the body is
        appended, so a small response is a single write; with ``body=None`` more is to come and the
        framing is chunked (or close-delimited for HTTP/1.0) unless the app set Content-Length.
        """
        try:
            if self.server_state is not _IDLE:
                raise LocalProtocolError("a response was already started on this request")
            if type(status) is not int or not 200 <= status <= 599:
                raise LocalProtocolError(f"invalid response status {status!r}: must be an int in 200..599")
            parts = [_STATUS_LINES[status], extra]
            length: int | None = None
            chunked = False
            # A response that leaves while the request body is still arriving ends the connection:
            # say so (RFC 9112 §9.6) rather than close without warning.
            keep_alive = self.response_keep_alive and self.client_state is not _BODY
            names = _CHECKED_NAMES
            checked = _CHECKED_VALUES
            try:
                for name, value in headers:
                    lname = names.get(name)
                    if lname is None:
                        if R.TOKEN_RE.fullmatch(name) is None:
                            raise LocalProtocolError(f"invalid response header name {name!r}")
                        lname = name.lower()
                        if len(names) < 256:  # bounded: apps may make up names per response
                            names[name] = lname
                    if value not in checked:
                        if R.BAD_VALUE_RE.search(value) is not None:
                            raise LocalProtocolError(
                                f"invalid value for response header {name!r}: CR, LF, NUL and control "
                                "characters are not allowed (response splitting)"
                            )
                        if len(value) <= 64 and len(checked) < 256:
                            checked.add(value)
                    if lname not in _FRAMING:
                        pass  # most headers: copied as they are
                    elif lname == b"content-length":
                        # CONTENT_LENGTH_RE's rule (1 to 18 ASCII digits) without a regex call.
                        if length is not None or not (value.isdigit() and len(value) <= 18):
                            raise LocalProtocolError(f"invalid or repeated content-length header {value!r}")
                        length = int(value)
                        if status == 204:
                            continue  # RFC 9110 §8.6: never in a 204
                    elif lname == b"transfer-encoding":
                        if value.strip(b" \t").lower() != b"chunked" or chunked:
                            raise LocalProtocolError(
                                f"unsupported transfer-encoding {value!r} (only chunked)"
                            )
                        chunked = True
                        continue  # added below, once, if the framing really is chunked
                    elif lname == b"connection":
                        # Hop-by-hop: connection management is ours; honour the app's "close" only.
                        if b"close" in value.lower():
                            keep_alive = False
                        continue
                    parts += (name, b": ", value, b"\r\n")
            except (TypeError, ValueError):  # not bytes, or not pairs: (b"a", b"b", b"c") unpacks badly
                raise LocalProtocolError(
                    f"response headers must be an iterable of (bytes, bytes) pairs, got {headers!r}"
                ) from None
            if chunked and length is not None:
                raise LocalProtocolError("response has both content-length and transfer-encoding")

            no_body = self._head_request or status == 204 or status == 304
            self._discard_body = no_body
            self._response_chunked = False
            self._response_remaining = None
            if no_body:
                if length is None and body and self._head_request:
                    # The app sent the GET body to a HEAD: its length is the GET's (RFC 9110 §9.3.2).
                    # An empty body says nothing about it, so no Content-Length then (not a false 0).
                    parts.append(b"content-length: %d\r\n" % len(body))
                body = b"" if body is not None else None
            elif length is not None:
                self._response_remaining = length
                if body is not None and len(body) != length:
                    raise LocalProtocolError(
                        f"response body is {len(body)} bytes but content-length says {length}"
                    )
            elif body is not None and not chunked:
                parts.append(b"content-length: %d\r\n" % len(body))
            elif self._http10:
                keep_alive = False  # RFC 9112 §6.3: the body ends when the connection closes
            else:
                self._response_chunked = True
                parts.append(b"transfer-encoding: chunked\r\n")

            if not keep_alive:
                parts.append(b"connection: close\r\n")
            elif self._http10:
                parts.append(b"connection: keep-alive\r\n")
            self.response_keep_alive = keep_alive
            parts.append(b"\r\n")
            self._head_written = True

            # From IDLE (checked above), as _SERVER says: "head" to BODY, "head_final" to DONE.
            if body is None:
                self.server_state = _BODY
                return b"".join(parts)
            self.server_state = _DONE
            if self._response_chunked:
                parts.append(b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n")
            elif body:
                parts.append(body)
            return b"".join(parts)
        except LocalProtocolError:
            self.server_state = _ERROR
            raise

    def response_body(self, data: bytes, more: bool) -> bytes:
        """Bytes for a piece of the response body; ``more=False`` ends the response."""
        if self.server_state is not _BODY:
            raise LocalProtocolError(f"response body sent in state {self.server_state.name}")
        out = data
        if self._response_chunked:
            if data:
                out = b"%x\r\n%b\r\n" % (len(data), data)
            if not more:
                out += b"0\r\n\r\n"
        elif self._discard_body:
            out = b""
        elif self._response_remaining is not None:
            remaining = self._response_remaining - len(data)
            if remaining < 0 or (not more and remaining):
                self.server_state = _ERROR
                raise LocalProtocolError(
                    "response body longer than its content-length"
                    if remaining < 0
                    else f"response ended {remaining} bytes short of its content-length"
                )
            self._response_remaining = remaining
        if not more:
            self.server_state = _move(_SERVER, self.server_state, "end")
        return out

    def error_response(self, status: int, message: str, extra: bytes = b"") -> bytes:
        """A complete plain-text error response that closes the connection (only before a response)."""
        # Allowed until a response head has left: also after the app's head was rejected (ERROR).
        if self._head_written or self.server_state not in (_IDLE, _ERROR):
            raise LocalProtocolError("cannot send an error response: a response was already started")
        body = f"{HTTPStatus(status).phrase}: {message}\n".encode()
        self.response_keep_alive = False
        self.server_state = _DONE
        return b"".join(
            (
                _STATUS_LINES[status],
                extra,
                b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
                b"" if self._head_request else body,
            )
        )

    @property
    def keep_alive(self) -> bool:
        """Whether the exchange just completed leaves the connection reusable."""
        return self.response_keep_alive and self.client_state is _DONE and self.server_state is _DONE

    def start_next_cycle(self) -> None:
        """Reset for the next request on a kept-alive connection (pipelined bytes stay buffered)."""
        if not self.keep_alive:
            raise LocalProtocolError("the connection cannot be reused after this exchange")
        self._next_cycle()

    def reuse(self) -> bool:
        """Start the next cycle if the exchange just completed allows it; say whether it did."""
        if not (
            self.response_keep_alive and self.client_state is _DONE and self.server_state is _DONE
        ):  # not keep_alive (a property: a call more on every request)
            return False
        self._next_cycle()
        return True

    def switch_protocols(self) -> bytes:
        """The request was answered with 101 (RFC 9110 §15.2.2): HTTP/1.1 is over on this connection.
        Returns the bytes received after the request head, which belong to the new protocol."""
        if self.client_state is not _DONE or self.server_state is not _IDLE:
            raise LocalProtocolError("only a complete request without a response can switch protocols")
        data, self._buf = self._buf, b""
        self.client_state = self.server_state = _CLOSED
        self.response_keep_alive = False
        return data

    def _next_cycle(self) -> None:
        # Both sides are DONE (keep_alive), and "next_cycle" takes DONE to IDLE in both tables.
        self.client_state = self.server_state = _IDLE
        self._head_request = False
        self._head_written = False
