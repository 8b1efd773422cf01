"""The responding side of an HTTP/1.1 connection: response heads and bodies as bytes, and the
connection's reuse. `H11Connection` (http11.py), the receiving side, inherits it."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from tapster.errors import LocalProtocolError

from . import _rules as R
from ._states import _BODY, _CLOSED, _DONE, _ERROR, _IDLE, _SERVER, State, _move

__all__ = ["Responding", "status_line"]


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
# Response headers whose lowercase names mean something to the framing or the connection.
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))
# Short response header values already checked (no control characters): content types and the
# like repeat on every response. Bounded in count and in the length of a value kept.
_CHECKED_VALUES: set[bytes] = set()
# Whole header lists already checked, as apps send the same few again and again: by (204 or not, the
# pairs) the lines they make, their content-length, whether they asked for chunked framing and for
# the connection's close. Only lists of at most _MEMO_PAIRS pairs whose every value the value memo
# may keep (short, not a cookie or a credential). Bounded: cleared when full.
_CHECKED_HEADS: dict[tuple[Any, ...], tuple[bytes, int | None, bool, bool]] = {}
_MEMO_PAIRS = 8


def status_line(code: int) -> bytes:
    """The precomputed status line for `code` (100..599)."""
    line = _STATUS_LINES.get(code)
    if line is None:
        raise LocalProtocolError(f"invalid status code {code!r}: must be an int in 100..599")
    return line


class Responding:
    """Response heads and bodies. The slots are the state the receiving side shares (it is set up
    in `H11Connection.__init__`)."""

    __slots__ = (
        "_buf",
        "_discard_body",
        "_fresh",
        "_head_request",
        "_head_written",
        "_http10",
        "_response_chunked",
        "_response_remaining",
        "client_state",
        "response_keep_alive",
        "server_state",
    )
    _buf: bytes
    _discard_body: bool
    _fresh: bool
    _head_request: bool
    _head_written: bool
    _http10: bool
    _response_chunked: bool
    _response_remaining: int | None
    client_state: State
    #: Whether the connection may carry another request after this response.
    response_keep_alive: bool
    server_state: State

    # ----------------------------------------------------------------- sending

    def informational_continue(self) -> bytes:
        """The `100 Continue` interim response (RFC 9110 §10.1.1), sent before the body is read."""
        if self.server_state is not _IDLE:
            raise LocalProtocolError("100 Continue after the response started")
        return b"HTTP/1.1 100 Continue\r\n\r\n"

    def response_head(
        self,
        status: int,
        headers: Iterable[tuple[bytes, bytes]],
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
            head_key: tuple[Any, ...] | None = None
            memo = None
            close = False
            if type(headers) is list and len(headers) <= _MEMO_PAIRS:
                try:
                    head_key = (status == 204, *headers)
                    memo = _CHECKED_HEADS.get(head_key)
                except TypeError:  # pairs that are not hashable (lists): checked one by one, below
                    head_key = None
            if memo is not None:
                block, length, chunked, close = memo
                parts.append(block)
                if close:
                    keep_alive = False
                headers = ()
            names = _CHECKED_NAMES
            checked = _CHECKED_VALUES
            try:
                for name, value in headers:
                    lname = names.get(name)
                    if lname is None:
                        if R.TOKEN_RE.fullmatch(name) is None:
                            raise LocalProtocolError(f"invalid response header name {name!r}")
                        lname = name.lower()
                        if len(names) < R.MEMO_ENTRIES:  # bounded: apps may make up names per response
                            names[name] = lname
                    if lname in R.SENSITIVE_NAMES:
                        head_key = None  # a cookie or a credential: its list is not kept
                    if value not in checked:
                        if R.BAD_VALUE_RE.search(value) is not None:
                            raise LocalProtocolError(
                                f"invalid value for response header {name!r}: CR, LF, NUL and control "
                                "characters are not allowed (response splitting)"
                            )
                        if len(value) <= R.MEMO_VALUE_LENGTH and lname not in R.SENSITIVE_NAMES:
                            if len(checked) < R.MEMO_ENTRIES:
                                checked.add(value)
                        else:
                            head_key = None  # a value not to keep: nor its list
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
                            close = True
                        continue
                    parts += (name, b": ", value, b"\r\n")
            except (TypeError, ValueError):  # not bytes, or not pairs: (b"a", b"b", b"c") unpacks badly
                raise LocalProtocolError(
                    f"response headers must be an iterable of (bytes, bytes) pairs, got {headers!r}"
                ) from None
            if chunked and length is not None:
                raise LocalProtocolError("response has both content-length and transfer-encoding")
            if memo is None and head_key is not None:
                if len(_CHECKED_HEADS) >= R.MEMO_ENTRIES:
                    _CHECKED_HEADS.clear()
                _CHECKED_HEADS[head_key] = (b"".join(parts[2:]), length, chunked, close)

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
        self._fresh = False
        self._head_request = False
        self._head_written = False
