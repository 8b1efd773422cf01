"""Response framing by the sans-I/O HTTP/1.1 core: response_head(), response_body(), error_response(),
start_next_cycle(), and validation of what the application sends."""

from __future__ import annotations

from typing import Any

import pytest
from tapster.errors import LocalProtocolError, RemoteProtocolError
from tapster.protocol import H11Connection, Request, Sentinel, State, status_line

Headers = list[tuple[bytes, bytes]]


def received(request: bytes) -> H11Connection:
    """A connection that has read `request` completely (head and body) and owes a response."""
    conn = H11Connection()
    conn.receive_data(request)
    while True:
        event = conn.next_event()
        if isinstance(event, Sentinel):
            break
    assert conn.client_state is State.DONE
    assert conn.server_state is State.IDLE
    return conn


def get(version: bytes = b"1.1", *fields: bytes, method: bytes = b"GET") -> H11Connection:
    lines = [method + b" / HTTP/" + version, *fields]
    if version == b"1.1":
        lines.insert(1, b"Host: example.com")
    return received(b"\r\n".join(lines) + b"\r\n\r\n")


def server_state(conn: H11Connection) -> State:
    """Read through a call, so mypy does not keep an earlier narrowing of the attribute."""
    return conn.server_state


def split(response: bytes) -> tuple[bytes, Headers, bytes]:
    """Status line, header fields (as sent) and whatever follows the head."""
    head, sep, rest = response.partition(b"\r\n\r\n")
    assert sep, f"no end of head in {response!r}"
    line, *fields = head.split(b"\r\n")
    headers = []
    for field in fields:
        name, colon, value = field.partition(b": ")
        assert colon, field
        headers.append((name, value))
    return line, headers, rest


def values(headers: Headers, name: bytes) -> list[bytes]:
    return [v for n, v in headers if n.lower() == name]


def dechunk(data: bytes) -> bytes:
    """Decode a complete chunked body, insisting on the exact framing."""
    body = b""
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        assert sep
        size = int(size_line, 16)
        if size == 0:
            assert data == b"\r\n", data
            return body
        assert data[size : size + 2] == b"\r\n"
        body += data[:size]
        data = data[size + 2 :]


# ----------------------------------------------------------------- whole bodies


@pytest.mark.parametrize("body", [b"hello", b"", b"x" * 100_000])
def test_whole_body_gets_content_length(body: bytes) -> None:
    conn = get()
    out = conn.response_head(200, [(b"content-type", b"text/plain")], body=body)
    line, headers, rest = split(out)
    assert line == b"HTTP/1.1 200 OK"
    assert headers == [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    assert rest == body
    assert conn.server_state is State.DONE
    assert conn.keep_alive is True


def test_extra_lines_follow_the_status_line() -> None:
    conn = get()
    out = conn.response_head(404, [(b"x-app", b"1")], extra=b"date: now\r\nserver: tapster\r\n", body=b"")
    assert out == (
        b"HTTP/1.1 404 Not Found\r\ndate: now\r\nserver: tapster\r\nx-app: 1\r\ncontent-length: 0\r\n\r\n"
    )


def test_headers_are_sent_as_given() -> None:
    conn = get()
    headers = [(b"X-Mixed-Case", b"Value"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
    _, sent, _ = split(conn.response_head(200, headers, body=b""))
    assert sent[:3] == headers


def test_app_content_length_matching_the_body_is_sent_once() -> None:
    conn = get()
    _, headers, rest = split(conn.response_head(200, [(b"Content-Length", b"5")], body=b"hello"))
    assert values(headers, b"content-length") == [b"5"]
    assert rest == b"hello"


@pytest.mark.parametrize(("length", "body"), [(b"4", b"hello"), (b"6", b"hello"), (b"0", b"x")])
def test_app_content_length_mismatch_with_whole_body(length: bytes, body: bytes) -> None:
    conn = get()
    with pytest.raises(LocalProtocolError, match="content-length"):
        conn.response_head(200, [(b"content-length", length)], body=body)
    assert conn.server_state is State.ERROR


def test_app_transfer_encoding_with_whole_body_is_chunked() -> None:
    conn = get()
    out = conn.response_head(200, [(b"Transfer-Encoding", b"chunked")], body=b"hello")
    _, headers, rest = split(out)
    assert values(headers, b"transfer-encoding") == [b"chunked"]
    assert values(headers, b"content-length") == []
    assert dechunk(rest) == b"hello"
    assert conn.server_state is State.DONE


# ----------------------------------------------------------------- streamed bodies


def test_streamed_body_is_chunked_on_http11() -> None:
    conn = get()
    _, headers, rest = split(conn.response_head(200, [], body=None))
    assert headers == [(b"transfer-encoding", b"chunked")]
    assert rest == b""
    assert conn.server_state is State.BODY
    assert conn.keep_alive is False  # not before the response is complete
    stream = conn.response_body(b"hello", True)
    assert stream == b"5\r\nhello\r\n"
    assert conn.response_body(b"", True) == b""  # an empty chunk would end the body
    stream += conn.response_body(b"x" * 20, True)
    stream += conn.response_body(b"!", False)
    assert dechunk(stream) == b"hello" + b"x" * 20 + b"!"
    assert server_state(conn) is State.DONE
    assert conn.keep_alive is True


def test_streamed_body_ended_by_an_empty_piece() -> None:
    conn = get()
    conn.response_head(200, [], body=None)
    assert conn.response_body(b"", False) == b"0\r\n\r\n"
    assert conn.server_state is State.DONE


def test_streamed_body_with_app_content_length() -> None:
    conn = get()
    _, headers, _ = split(conn.response_head(200, [(b"content-length", b"8")], body=None))
    assert headers == [(b"content-length", b"8")]
    assert conn.response_body(b"abc", True) == b"abc"
    assert conn.response_body(b"defgh", False) == b"defgh"
    assert conn.keep_alive is True


def test_streamed_body_longer_than_content_length() -> None:
    conn = get()
    conn.response_head(200, [(b"content-length", b"4")], body=None)
    conn.response_body(b"abc", True)
    with pytest.raises(LocalProtocolError, match="longer"):
        conn.response_body(b"de", True)
    assert conn.server_state is State.ERROR
    assert conn.keep_alive is False
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_streamed_body_shorter_than_content_length() -> None:
    conn = get()
    conn.response_head(200, [(b"content-length", b"4")], body=None)
    with pytest.raises(LocalProtocolError, match="1 bytes short"):
        conn.response_body(b"abc", False)
    assert conn.server_state is State.ERROR
    with pytest.raises(LocalProtocolError):
        conn.response_body(b"d", False)


# ----------------------------------------------------------------- HTTP/1.0


def test_http10_streamed_body_is_close_delimited() -> None:
    conn = get(b"1.0", b"Connection: keep-alive")
    out = conn.response_head(200, [(b"x-a", b"b")], body=None)
    line, headers, _ = split(out)
    assert line == b"HTTP/1.1 200 OK"  # RFC 9110 §2.5: our own version, also to HTTP/1.0 clients
    assert headers == [(b"x-a", b"b"), (b"connection", b"close")]
    assert conn.response_body(b"raw", True) == b"raw"
    assert conn.response_body(b"", False) == b""
    assert conn.keep_alive is False
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_http10_keep_alive_with_whole_body() -> None:
    conn = get(b"1.0", b"Connection: keep-alive")
    _, headers, rest = split(conn.response_head(200, [], body=b"hi"))
    assert headers == [(b"content-length", b"2"), (b"connection", b"keep-alive")]
    assert rest == b"hi"
    assert conn.keep_alive is True
    conn.start_next_cycle()
    assert (conn.client_state, conn.server_state) == (State.IDLE, State.IDLE)


def test_http10_keep_alive_with_app_content_length_streams() -> None:
    conn = get(b"1.0", b"Connection: keep-alive")
    _, headers, _ = split(conn.response_head(200, [(b"content-length", b"2")], body=None))
    assert headers == [(b"content-length", b"2"), (b"connection", b"keep-alive")]
    conn.response_body(b"hi", False)
    assert conn.keep_alive is True


def test_http10_default_closes() -> None:
    conn = get(b"1.0")
    _, headers, _ = split(conn.response_head(200, [], body=b"hi"))
    assert headers == [(b"content-length", b"2"), (b"connection", b"close")]
    assert conn.keep_alive is False


# ----------------------------------------------------------------- responses without a body


def test_head_with_whole_body_sends_its_length_only() -> None:
    conn = get(method=b"HEAD")
    _, headers, rest = split(conn.response_head(200, [], body=b"hello"))
    assert headers == [(b"content-length", b"5")]
    assert rest == b""
    assert conn.keep_alive is True


def test_head_with_an_empty_body_claims_no_length() -> None:
    # An app that answers HEAD with b"" (as frameworks do) says nothing about the GET's length:
    # "content-length: 0" would be false (RFC 9110 §9.3.2), so none is sent.
    conn = get(method=b"HEAD")
    _, headers, rest = split(conn.response_head(200, [], body=b""))
    assert values(headers, b"content-length") == []
    assert rest == b""
    assert conn.keep_alive is True


def test_head_streamed_sends_no_body_and_no_framing() -> None:
    conn = get(method=b"HEAD")
    _, headers, rest = split(conn.response_head(200, [(b"content-length", b"1000")], body=None))
    assert headers == [(b"content-length", b"1000")]
    assert rest == b""
    assert conn.response_body(b"x" * 10, True) == b""
    assert conn.response_body(b"y", False) == b""
    assert conn.keep_alive is True


def test_head_without_length_is_not_chunked() -> None:
    conn = get(method=b"HEAD")
    _, headers, _ = split(conn.response_head(200, [], body=None))
    assert values(headers, b"transfer-encoding") == []
    conn.response_body(b"", False)
    assert conn.keep_alive is True


def test_head_flag_is_reset_for_the_next_request() -> None:
    conn = received(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert split(conn.response_head(200, [], body=b"abc"))[2] == b""
    conn.start_next_cycle()
    assert isinstance(conn.next_event(), Request)
    assert split(conn.response_head(200, [], body=b"abc"))[2] == b"abc"


@pytest.mark.parametrize("body", [b"", b"ignored", None])
def test_204_has_no_body_and_no_content_length(body: bytes | None) -> None:
    conn = get()
    out = conn.response_head(204, [(b"content-length", b"7"), (b"x-a", b"b")], body=body)
    _, headers, rest = split(out)
    assert headers == [(b"x-a", b"b")]  # RFC 9110 §8.6: never Content-Length in a 204
    assert rest == b""
    if body is None:
        assert conn.response_body(b"more", False) == b""
    assert conn.keep_alive is True


@pytest.mark.parametrize("body", [b"", None])
def test_304_keeps_the_representation_length_and_sends_no_body(body: bytes | None) -> None:
    conn = get()
    _, headers, rest = split(conn.response_head(304, [(b"content-length", b"1234")], body=body))
    assert headers == [(b"content-length", b"1234")]  # RFC 9110 §8.6: the length a 200 would have
    assert rest == b""
    if body is None:
        assert conn.response_body(b"", False) == b""
    assert conn.keep_alive is True


def test_304_without_length_is_not_chunked() -> None:
    conn = get()
    _, headers, _ = split(conn.response_head(304, [(b"etag", b'"x"')], body=None))
    assert headers == [(b"etag", b'"x"')]


# ----------------------------------------------------------------- connection management


def test_client_connection_close_is_echoed() -> None:
    conn = get(b"1.1", b"Connection: close")
    _, headers, _ = split(conn.response_head(200, [], body=b""))
    assert values(headers, b"connection") == [b"close"]
    assert conn.keep_alive is False
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


@pytest.mark.parametrize("value", [b"close", b"Close", b"keep-alive, close"])
def test_app_connection_close_ends_the_connection(value: bytes) -> None:
    conn = get()
    _, headers, _ = split(conn.response_head(200, [(b"Connection", value)], body=b""))
    assert values(headers, b"connection") == [b"close"]
    assert conn.response_keep_alive is False
    assert conn.keep_alive is False


def test_app_connection_keep_alive_is_dropped() -> None:
    conn = get()
    _, headers, _ = split(conn.response_head(200, [(b"connection", b"keep-alive")], body=b""))
    assert values(headers, b"connection") == []
    assert conn.keep_alive is True


def test_start_next_cycle_needs_a_complete_response() -> None:
    conn = get()
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()
    conn.response_head(200, [], body=None)
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()
    conn.response_body(b"", False)
    conn.start_next_cycle()
    assert conn.server_state is State.IDLE


# ----------------------------------------------------------------- sequencing errors


def test_second_response_head_is_refused() -> None:
    conn = get()
    conn.response_head(200, [], body=b"")
    with pytest.raises(LocalProtocolError, match="already started"):
        conn.response_head(200, [], body=b"")


def test_response_body_needs_an_open_body() -> None:
    conn = get()
    with pytest.raises(LocalProtocolError):
        conn.response_body(b"x", False)
    conn.response_head(200, [], body=b"done")
    with pytest.raises(LocalProtocolError):
        conn.response_body(b"x", False)


@pytest.mark.parametrize("status", [100, 101, 199, 600, 0, -200, True, 200.0, "200"])
def test_invalid_status(status: Any) -> None:
    conn = get()
    with pytest.raises(LocalProtocolError, match="status"):
        conn.response_head(status, [], body=b"")
    assert conn.server_state is State.ERROR


def test_status_line() -> None:
    assert status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert status_line(418) == b"HTTP/1.1 418 I'm a Teapot\r\n"
    assert status_line(599) == b"HTTP/1.1 599 \r\n"  # reason-phrase may be empty (RFC 9112 §4)
    for bad in (99, 600):
        with pytest.raises(LocalProtocolError):
            status_line(bad)


# ----------------------------------------------------------------- header validation


@pytest.mark.parametrize(
    "value",
    [b"a\r\nSet-Cookie: x=1", b"a\nb", b"a\rb", b"a\x00b", b"\x01", b"a\x1fb", b"a\x7fb", b"\x0b"],
)
def test_control_characters_in_values_are_refused(value: bytes) -> None:
    conn = get()
    with pytest.raises(LocalProtocolError) as info:
        conn.response_head(200, [(b"x-ok", b"fine"), (b"X-Evil", value)], body=b"")
    assert "X-Evil" in str(info.value)
    assert conn.server_state is State.ERROR
    assert conn.keep_alive is False


@pytest.mark.parametrize("name", [b"", b"X Evil", b"X-Evil:", b"X-\xc3\xa9", b"X\r\nEvil", b"(x)", b"a\x00"])
def test_invalid_names_are_refused(name: bytes) -> None:
    conn = get()
    with pytest.raises(LocalProtocolError) as info:
        conn.response_head(200, [(name, b"v")], body=b"")
    assert repr(name) in str(info.value)
    assert conn.server_state is State.ERROR


@pytest.mark.parametrize(
    "headers",
    [
        [("x-str", b"v")],
        [(b"x-str-value", "v")],
        [(b"x-int", 5)],
        [(b"x-bytearray", bytearray(b"v"))],  # ASGI says byte strings, as for names
        [(b"x-none", None)],
        [(b"x-three", b"v", b"w")],
        [(b"x-one",)],
        [b"x-flat"],
        None,
    ],
)
def test_headers_that_are_not_bytes_pairs_are_refused(headers: Any) -> None:
    conn = get()
    with pytest.raises(LocalProtocolError) as info:
        conn.response_head(200, headers, body=b"")
    if headers:
        assert "x-" in str(info.value)  # names the offending header
    assert conn.server_state is State.ERROR


def test_tab_and_obs_text_in_values_are_allowed() -> None:
    conn = get()
    value = b"a\tb caf\xc3\xa9 \xff"
    _, headers, _ = split(conn.response_head(200, [(b"x-text", value)], body=b""))
    assert headers[0] == (b"x-text", value)


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", b"5"), (b"content-length", b"5")],
        [(b"content-length", b"-1")],
        [(b"content-length", b"five")],
        [(b"content-length", b"")],
        [(b"content-length", b"+5")],
        [(b"content-length", b" 5")],
        [(b"content-length", b"5 ")],
        [(b"content-length", b"1" * 19)],  # over 18 digits
        [(b"content-length", b"5" + "\u0665".encode())],  # a digit of another script
        [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")],
        [(b"transfer-encoding", b"gzip")],
        [(b"transfer-encoding", b"gzip, chunked")],
        [(b"transfer-encoding", b"chunked"), (b"transfer-encoding", b"chunked")],
    ],
)
def test_invalid_framing_headers_are_refused(headers: Headers) -> None:
    conn = get()
    with pytest.raises(LocalProtocolError):
        conn.response_head(200, headers, body=None)
    assert conn.server_state is State.ERROR
    with pytest.raises(LocalProtocolError):
        conn.response_body(b"", False)


def test_nothing_is_reused_after_a_refused_head() -> None:
    conn = get()
    with pytest.raises(LocalProtocolError):
        conn.response_head(200, [(b"x", b"\n")], body=b"")
    with pytest.raises(LocalProtocolError):
        conn.response_head(200, [], body=b"")
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()
    assert conn.keep_alive is False


# ----------------------------------------------------------------- error responses


def test_error_response() -> None:
    conn = get()
    out = conn.error_response(400, "invalid Host header", extra=b"server: tapster\r\n")
    line, headers, body = split(out)
    assert line == b"HTTP/1.1 400 Bad Request"
    assert headers == [
        (b"server", b"tapster"),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]
    assert body == b"Bad Request: invalid Host header\n"
    assert conn.server_state is State.DONE
    assert conn.keep_alive is False
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_error_response_to_head_has_no_body() -> None:
    conn = get(method=b"HEAD")
    _, headers, body = split(conn.error_response(500, "boom"))
    assert values(headers, b"content-length") == [b"%d" % len(b"Internal Server Error: boom\n")]
    assert body == b""


def test_error_response_after_a_malformed_request() -> None:
    conn = H11Connection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    out = conn.error_response(info.value.status_hint, str(info.value))
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert conn.keep_alive is False


def test_error_response_after_a_refused_app_head() -> None:
    # Nothing was written yet: the server can still answer 500 (and close).
    conn = get()
    with pytest.raises(LocalProtocolError):
        conn.response_head(200, [(b"x", b"\r\n")], body=b"")
    assert conn.error_response(500, "bad app").startswith(b"HTTP/1.1 500 ")
    assert conn.keep_alive is False


@pytest.mark.parametrize("more", [True, False])
def test_no_error_response_once_a_head_was_sent(more: bool) -> None:
    conn = get()
    conn.response_head(200, [], body=None if more else b"")
    with pytest.raises(LocalProtocolError):
        conn.error_response(500, "too late")


def test_no_error_response_after_a_body_error() -> None:
    conn = get()
    conn.response_head(200, [(b"content-length", b"1")], body=None)
    with pytest.raises(LocalProtocolError):
        conn.response_body(b"toolong", True)
    with pytest.raises(LocalProtocolError):
        conn.error_response(500, "the head already left")


def test_checked_header_names_are_remembered_within_a_bound() -> None:
    from tapster.protocol import _responding

    for number in range(400):  # more distinct names than the cache keeps
        conn = get()
        conn.response_head(200, [(b"x-made-up-%d" % number, b"v"), (b"Content-Length", b"0")], body=b"")
    assert len(_responding._CHECKED_NAMES) <= 256
    # A remembered name keeps its special meaning; a bad name is refused every time.
    for _ in range(2):
        with pytest.raises(LocalProtocolError, match="content-length"):
            get().response_head(200, [(b"Content-Length", b"5")], body=b"")
        with pytest.raises(LocalProtocolError, match="invalid response header name"):
            get().response_head(200, [(b"bad name", b"v")], body=b"")


def test_checked_header_values_are_remembered_within_bounds() -> None:
    from tapster.protocol import _responding

    long_value = b"v" * 65
    for number in range(400):  # more distinct values than the cache keeps
        get().response_head(200, [(b"x-n", b"%d" % number), (b"x-long", long_value)], body=b"")
    assert len(_responding._CHECKED_VALUES) <= 256
    assert long_value not in _responding._CHECKED_VALUES  # only short values are kept
    # A bad value is refused every time, also after good ones were remembered.
    for _ in range(2):
        get().response_head(200, [(b"x-ok", b"text/plain")], body=b"")
        with pytest.raises(LocalProtocolError, match="response splitting"):
            get().response_head(200, [(b"x-ok", b"text/plain\r\nx-evil: 1")], body=b"")


def test_secret_header_values_are_never_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    from tapster.protocol import _responding

    monkeypatch.setattr(_responding, "_CHECKED_VALUES", set())  # (other tests may have filled it)
    conn = H11Connection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.next_event()
    conn.response_head(200, [(b"set-cookie", b"session=abc"), (b"x-plain", b"remember-me")], b"", b"")
    assert b"session=abc" not in _responding._CHECKED_VALUES
    assert b"remember-me" in _responding._CHECKED_VALUES


def _fresh_head(status: int, headers: list[Any], body: bytes | None = b"", *, head: bool = False) -> bytes:
    conn = get(method=b"HEAD") if head else get()
    return conn.response_head(status, headers, b"", body)


def test_a_header_list_seen_before_gives_the_same_head_as_checked_anew(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whole header lists are remembered once checked: every head made from the memo is byte for
    byte what checking the list anew gives, for each status and framing that reads the list."""
    from tapster.protocol import _responding

    cases: list[tuple[int, list[Any], bytes | None, bool]] = [
        (200, [(b"content-type", b"text/plain"), (b"content-length", b"2")], b"ok", False),
        (204, [(b"content-type", b"text/plain"), (b"content-length", b"2")], b"", False),
        (200, [(b"content-type", b"text/plain"), (b"content-length", b"2")], None, False),
        (200, [(b"x-a", b"1"), (b"Connection", b"close")], b"", False),
        (200, [(b"x-a", b"1"), (b"transfer-encoding", b"chunked")], None, False),
        (200, [(b"x-a", b"1")], b"body", True),
        (304, [(b"etag", b'"v"')], b"", False),
    ]
    for status, headers, body, head in cases:
        monkeypatch.setattr(_responding, "_CHECKED_HEADS", {})
        checked = _fresh_head(status, headers, body, head=head)
        assert _responding._CHECKED_HEADS  # remembered
        for _ in range(2):
            assert _fresh_head(status, list(headers), body, head=head) == checked
        monkeypatch.setattr(_responding, "_CHECKED_HEADS", {})
        assert _fresh_head(status, list(headers), body, head=head) == checked
    # A list remembered from a 200 is not taken for a 204 (which never carries a content-length).
    listed = [(b"content-type", b"text/plain"), (b"content-length", b"0")]
    monkeypatch.setattr(_responding, "_CHECKED_HEADS", {})
    no_content = _fresh_head(204, list(listed))
    monkeypatch.setattr(_responding, "_CHECKED_HEADS", {})
    _fresh_head(200, list(listed))
    assert _fresh_head(204, list(listed)) == no_content
    assert b"content-length" not in no_content
    # The framing it remembers still applies: a wrong length is refused from the memo too.
    for _ in range(2):
        with pytest.raises(LocalProtocolError, match="content-length says 2"):
            _fresh_head(200, [(b"content-type", b"text/plain"), (b"content-length", b"2")], b"toolong")


def test_header_lists_with_bad_secret_or_long_values_are_never_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tapster.protocol import _responding

    monkeypatch.setattr(_responding, "_CHECKED_HEADS", {})
    for _ in range(2):
        with pytest.raises(LocalProtocolError, match="response splitting"):
            _fresh_head(200, [(b"x-ok", b"a\r\nx-evil: 1")])
        with pytest.raises(LocalProtocolError, match="pairs"):
            _fresh_head(200, [(b"x-a", b"1", b"2")])
        with pytest.raises(LocalProtocolError, match="both content-length and transfer-encoding"):
            _fresh_head(200, [(b"content-length", b"1"), (b"transfer-encoding", b"chunked")], None)
    _fresh_head(200, [(b"set-cookie", b"s=1"), (b"x-a", b"1")])
    _fresh_head(200, [(b"x-long", b"v" * 65)])
    _fresh_head(200, [[b"x-list", b"pair"]])  # a pair that is a list: checked, not remembered
    _fresh_head(200, [(b"x-a", b"%d" % n) for n in range(9)])  # more pairs than a remembered list has
    assert _responding._CHECKED_HEADS == {}


def test_remembered_header_lists_are_bounded() -> None:
    from tapster.protocol import _responding

    for number in range(600):
        _fresh_head(200, [(b"x-n", b"%d" % number)])
    assert 0 < len(_responding._CHECKED_HEADS) <= 256
