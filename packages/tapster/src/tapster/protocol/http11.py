"""A sans-I/O HTTP/1.1 server connection (RFC 9112): bytes in, events out; responses in, bytes out.

No sockets, no event loop, no clock. The driver feeds `receive_data()`, pulls `next_event()` until
`NEED_DATA` or `PAUSED`, and asks `response_head()` / `response_body()` for the bytes to write.
Any error raised from here moves the connection to ERROR: a broken connection is never reused.
"""

from __future__ import annotations

from typing import NoReturn

from tapster.errors import RemoteProtocolError

from . import _rules as R
from ._responding import Responding, status_line
from ._rules import H11Limits
from ._states import _BODY, _CLIENT, _CLOSED, _DONE, _ERROR, _IDLE, State, _move
from .events import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    H2Preface,
    Request,
    Sentinel,
)

__all__ = ["H11Connection", "H11Limits", "State", "status_line"]

Event = Request | Data | EndOfMessage | ConnectionClosed | H2Preface | Sentinel

# Host header values found valid: clients send the same few. Bounded in count and length (the
# values are client input; once full, new ones are checked every time and not kept).
_VALID_HOSTS: set[bytes] = set()


_INTERESTING = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade")
)
# Body readers' modes.
_LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS = range(5)
_MAX_CHUNK_LINE = 1024  # bytes of a chunk-size line beyond its extensions (16 hex digits fit easily)


class H11Connection(Responding):
    """One HTTP/1.1 server connection. Not thread-safe; one instance per TCP connection."""

    __slots__ = (  # and Responding's
        "_body_mode",
        "_chunk_ext_total",
        "_eof",
        "_h2_preface",
        "_remaining",
        "_request_keep_alive",
        "limits",
    )

    def __init__(self, limits: H11Limits | None = None, *, h2_preface: bool = True) -> None:
        """`h2_preface`: recognise the HTTP/2 preface on a fresh connection (H2Preface); when off it
        is a request line like any other, answered 505."""
        self.limits = limits if limits is not None else H11Limits()
        self._h2_preface = h2_preface
        self.client_state = _IDLE
        self.server_state = _IDLE
        self._buf = b""
        self._eof = False
        self._fresh = True  # no request yet: the HTTP/2 preface is still possible
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
            if head == b"PRI * HTTP/2.0" and self._fresh and self._h2_preface:
                # RFC 9113 §3.3: HTTP/2 with prior knowledge, once the whole preface is here.
                rest = self._buf
                if rest[:6] == b"SM\r\n\r\n":
                    self._buf = b""
                    self.client_state = self.server_state = _CLOSED  # HTTP/1.1 is over
                    return H2Preface(b"PRI * HTTP/2.0\r\n\r\n" + rest)
                if len(rest) < 6 and b"SM\r\n\r\n".startswith(rest) and not self._eof:
                    self._buf = buf  # the rest of the preface is still on its way
                    return NEED_DATA
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
                    if len(value) <= R.MEMO_VALUE_LENGTH and len(_VALID_HOSTS) < R.MEMO_ENTRIES:
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
