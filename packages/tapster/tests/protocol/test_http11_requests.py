"""Request parsing by the sans-I/O HTTP/1.1 core: every valid input is fed whole, byte by byte, and
with a pipelined request trailing it (STYLE.md #12), and must give the same events each way."""

from __future__ import annotations

import pytest
from tapster.errors import LocalProtocolError, RemoteProtocolError
from tapster.protocol import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    H2Preface,
    H11Connection,
    H11Limits,
    Request,
    Sentinel,
    State,
)

Event = Request | Data | EndOfMessage | ConnectionClosed | H2Preface

MODES = ("whole", "bytewise", "trailing")
# A complete pipelined request: in "trailing" mode it follows the input and must be left untouched.
TRAILING = b"GET /next HTTP/1.1\r\nHost: next.example\r\n\r\n"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pull(conn: H11Connection) -> list[Event]:
    """Events until the connection needs data or pauses."""
    events: list[Event] = []
    while True:
        event = conn.next_event()
        if isinstance(event, Sentinel):
            return events
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return events


def merge_data(events: list[Event]) -> list[Event]:
    """Adjacent Data events joined: how a body is split into Data depends on how it arrived."""
    merged: list[Event] = []
    for event in events:
        if isinstance(event, Data) and merged and isinstance(merged[-1], Data):
            merged[-1] = Data(merged[-1].data + event.data)
        else:
            merged.append(event)
    return merged


def feed(data: bytes, mode: str, limits: H11Limits | None = None) -> tuple[list[Event], H11Connection]:
    conn = H11Connection(limits)
    events: list[Event] = []
    if mode == "bytewise":
        for i in range(len(data)):
            conn.receive_data(data[i : i + 1])
            events += pull(conn)
    elif mode == "trailing":
        conn.receive_data(data + TRAILING)
        events = pull(conn)
        assert conn.buffered == len(TRAILING), "the pipelined request must stay buffered"
        assert conn.next_event() is PAUSED
    else:
        conn.receive_data(data)
        events = pull(conn)
    return merge_data(events), conn


def parse(data: bytes, mode: str) -> tuple[Request, bytes]:
    """A complete request: its head and its whole body. Checks the events' order on the way."""
    events, conn = feed(data, mode)
    assert events, "no request parsed"
    request = events[0]
    assert isinstance(request, Request)
    body = b""
    if request.has_body:
        assert isinstance(events[-1], EndOfMessage), events
        for event in events[1:-1]:
            assert isinstance(event, Data)
            body += event.data
    else:
        assert events == [request]  # no body: the request alone, then PAUSED
    assert conn.client_state is State.DONE
    assert conn.next_event() is PAUSED
    return request, body


def feed_into(conn: H11Connection, data: bytes, mode: str) -> None:
    for piece in [data[i : i + 1] for i in range(len(data))] if mode == "bytewise" else [data]:
        conn.receive_data(piece)
        pull(conn)


def reject(data: bytes, mode: str, limits: H11Limits | None = None) -> RemoteProtocolError:
    """Feeding `data` (no trailing mode: an error is final) raises RemoteProtocolError."""
    conn = H11Connection(limits)
    with pytest.raises(RemoteProtocolError) as info:
        feed_into(conn, data, mode)
    assert conn.client_state is State.ERROR
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    return info.value


def get(target: bytes = b"/", *fields: bytes, version: bytes = b"1.1", method: bytes = b"GET") -> bytes:
    lines = [method + b" " + target + b" HTTP/" + version, *fields]
    return b"\r\n".join(lines) + b"\r\n\r\n"


HOST = b"Host: example.com"


# ----------------------------------------------------------------- request line and target forms


def test_origin_form(mode: str) -> None:
    request, body = parse(get(b"/a/b%20c?x=1&y=2", HOST), mode)
    assert request == Request(
        method=b"GET",
        target=b"/a/b%20c?x=1&y=2",
        path=b"/a/b%20c",
        query=b"x=1&y=2",
        http_version=b"1.1",
        headers=[(b"host", b"example.com")],
        keep_alive=True,
        expect_continue=False,
        has_body=False,
    )
    assert body == b""


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        (b"/", b"/", b""),
        (b"/p?", b"/p", b""),
        (b"/p?a?b=c/d", b"/p", b"a?b=c/d"),
        (b"/?q", b"/", b"q"),
        (b"//double//slash", b"//double//slash", b""),
        (b"/%3F?x", b"/%3F", b"x"),
    ],
)
def test_query_split(mode: str, target: bytes, path: bytes, query: bytes) -> None:
    request, _ = parse(get(target, HOST), mode)
    assert (request.target, request.path, request.query) == (target, path, query)


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        (b"http://example.com/p?q=1", b"/p", b"q=1"),
        (b"https://example.com:8443/a/b", b"/a/b", b""),
        (b"http://example.com", b"/", b""),
        (b"HTTP://example.com?x", b"/", b"x"),
        (b"http://[::1]:8000/v6", b"/v6", b""),
    ],
)
def test_absolute_form(mode: str, target: bytes, path: bytes, query: bytes) -> None:
    request, _ = parse(get(target, HOST), mode)
    assert (request.target, request.path, request.query) == (target, path, query)


def test_asterisk_form_with_options(mode: str) -> None:
    request, _ = parse(get(b"*", HOST, method=b"OPTIONS"), mode)
    assert (request.method, request.target, request.path, request.query) == (b"OPTIONS", b"*", b"*", b"")


def test_asterisk_form_needs_options(mode: str) -> None:
    assert reject(get(b"*", HOST, method=b"DELETE"), mode).status_hint == 400


def test_connect_is_not_implemented(mode: str) -> None:
    assert reject(get(b"example.com:443", HOST, method=b"CONNECT"), mode).status_hint == 501


@pytest.mark.parametrize("method", [b"PATCH", b"M-SEARCH", b"get", b"X!#$%&'*+-.^_`|~1"])
def test_any_token_is_a_method(mode: str, method: bytes) -> None:
    request, _ = parse(get(b"/", HOST, method=method), mode)
    assert request.method == method  # methods are case-sensitive: passed on as sent


def test_http10_without_host_closes(mode: str) -> None:
    request, _ = parse(get(b"/old", version=b"1.0"), mode)
    assert request.http_version == b"1.0"
    assert request.headers == []
    assert request.keep_alive is False


@pytest.mark.parametrize("value", [b"keep-alive", b"Keep-Alive", b"foo, keep-alive"])
def test_http10_keep_alive(mode: str, value: bytes) -> None:
    request, _ = parse(get(b"/", b"Connection: " + value, version=b"1.0"), mode)
    assert request.keep_alive is True


@pytest.mark.parametrize(
    "fields",
    [
        (b"Connection: keep-alive, close",),
        (b"Connection: close",),
        # RFC 9112 §9.6: "close" wins wherever it appears.
        (b"Connection: close", b"Connection: keep-alive"),
        (b"Connection: keep-alive", b"Connection: close"),
    ],
)
def test_http10_close_wins(mode: str, fields: tuple[bytes, ...]) -> None:
    request, _ = parse(get(b"/", *fields, version=b"1.0"), mode)
    assert request.keep_alive is False


@pytest.mark.parametrize(
    ("fields", "keep_alive"),
    [
        ((), True),
        ((b"Connection: keep-alive",), True),
        ((b"Connection: close",), False),
        ((b"Connection: Upgrade, CLOSE",), False),
        ((b"Connection: upgrade", b"Connection: close"), False),
        ((b"Connection: closed",), True),  # a different token, not "close"
    ],
)
def test_http11_keep_alive(mode: str, fields: tuple[bytes, ...], keep_alive: bool) -> None:
    request, _ = parse(get(b"/", HOST, *fields), mode)
    assert request.keep_alive is keep_alive


def test_higher_minor_version_is_served_as_http11(mode: str) -> None:
    # RFC 9110 §2.5: process as the highest minor version we implement.
    request, _ = parse(get(b"/", HOST, version=b"1.7"), mode)
    assert request.http_version == b"1.1"
    assert request.keep_alive is True


def test_leading_empty_lines_are_ignored(mode: str) -> None:
    request, _ = parse(b"\r\n\r\n\r\n" + get(b"/x", HOST), mode)
    assert request.target == b"/x"


def test_leading_empty_lines_then_eof_is_a_clean_close() -> None:
    conn = H11Connection()
    conn.receive_data(b"\r\n\r\n")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), ConnectionClosed)


@pytest.mark.parametrize("prefix", [b"\n", b"\r\n\n", b"\r\r\n", b"\r\n\r\r\n", b"\rG"])
def test_only_crlf_may_precede_the_request_line(mode: str, prefix: bytes) -> None:
    assert reject(prefix + get(b"/", HOST), mode).status_hint == 400


# ----------------------------------------------------------------- header fields


def test_header_names_lower_cased_values_kept(mode: str) -> None:
    request, _ = parse(get(b"/", b"HoSt: Example.COM", b"X-CusTom-Header: MiXeD Case", b"ACCEPT: */*"), mode)
    assert request.headers == [
        (b"host", b"Example.COM"),
        (b"x-custom-header", b"MiXeD Case"),
        (b"accept", b"*/*"),
    ]


def test_repeated_fields_kept_in_order(mode: str) -> None:
    request, _ = parse(get(b"/", HOST, b"Cookie: a=1", b"X-A: x", b"Cookie: b=2"), mode)
    assert request.headers[1:] == [(b"cookie", b"a=1"), (b"x-a", b"x"), (b"cookie", b"b=2")]


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (b"X-A:value", b"value"),
        (b"X-A:   spaced   ", b"spaced"),
        (b"X-A:\t\ttabbed\t", b"tabbed"),
        (b"X-A: \t inner  space\tand tab \t", b"inner  space\tand tab"),
        (b"X-A:", b""),
        (b"X-A:    ", b""),
    ],
)
def test_ows_is_stripped(mode: str, line: bytes, value: bytes) -> None:
    request, _ = parse(get(b"/", HOST, line), mode)
    assert request.headers[1] == (b"x-a", value)


def test_obs_text_in_values_is_kept(mode: str) -> None:
    value = b'caf\xc3\xa9 \x80\xff "quoted" (comment) ~!@#$%^&*'
    request, _ = parse(get(b"/", HOST, b"X-Text: " + value), mode)
    assert request.headers[1] == (b"x-text", value)


@pytest.mark.parametrize(
    "host", [b"", b"example.com:8080", b"[::1]", b"[::1]:80", b"a.b-c_d~e", b"127.0.0.1:"]
)
def test_valid_hosts(mode: str, host: bytes) -> None:
    request, _ = parse(get(b"/", b"Host: " + host), mode)
    assert request.headers == [(b"host", host)]


@pytest.mark.parametrize(
    "line",
    [b"X-A: a\x00b", b"X-A\x00: b", b"X A: b", b"X-A : b", b"X-A: a\rb", b"Bad\xff: v", b" X-A: b", b": v"],
)
def test_invalid_field_lines(mode: str, line: bytes) -> None:
    assert reject(get(b"/", HOST, line), mode).status_hint == 400


# ----------------------------------------------------------------- Content-Length bodies


def test_content_length_body(mode: str) -> None:
    request, body = parse(get(b"/up", HOST, b"Content-Length: 11", method=b"POST") + b"hello world", mode)
    assert request.has_body is True
    assert body == b"hello world"


@pytest.mark.parametrize("length", [b"0", b"000"])
def test_zero_content_length_has_no_body(mode: str, length: bytes) -> None:
    request, body = parse(get(b"/", HOST, b"Content-Length: " + length, method=b"POST"), mode)
    assert request.has_body is False
    assert body == b""


def test_content_length_with_leading_zeros(mode: str) -> None:
    _, body = parse(get(b"/", HOST, b"Content-Length: 007", method=b"PUT") + b"1234567", mode)
    assert body == b"1234567"


def test_content_length_body_arrives_in_pieces() -> None:
    conn = H11Connection()
    conn.receive_data(get(b"/", HOST, b"Content-Length: 6", method=b"POST") + b"ab")
    events = pull(conn)
    assert [type(e) for e in events] == [Request, Data]
    assert events[1] == Data(b"ab")
    assert conn.client_state is State.BODY
    conn.receive_data(b"cd")
    assert pull(conn) == [Data(b"cd")]
    conn.receive_data(b"efGET")  # the body ends after "ef"; the rest waits for the next cycle
    assert pull(conn) == [Data(b"ef"), EndOfMessage()]
    assert conn.buffered == 3


def test_eof_in_content_length_body() -> None:
    conn = H11Connection()
    conn.receive_data(get(b"/", HOST, b"Content-Length: 10", method=b"POST") + b"short")
    assert [type(e) for e in pull(conn)] == [Request, Data]
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.status_hint == 400
    assert conn.client_state is State.ERROR


# ----------------------------------------------------------------- chunked bodies


def chunked(body: bytes, te: bytes = b"chunked") -> bytes:
    return get(b"/", HOST, b"Transfer-Encoding: " + te, method=b"POST") + body


def test_chunked_body(mode: str) -> None:
    request, body = parse(chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), mode)
    assert request.has_body is True
    assert body == b"hello world"


@pytest.mark.parametrize("te", [b"chunked", b"Chunked", b"CHUNKED", b"  chunked\t"])
def test_chunked_is_case_insensitive(mode: str, te: bytes) -> None:
    _, body = parse(chunked(b"1\r\nx\r\n0\r\n\r\n", te), mode)
    assert body == b"x"


def test_chunk_sizes_are_hex_any_case_with_leading_zeros(mode: str) -> None:
    data = b"a" * 10 + b"b" * 26
    _, body = parse(chunked(b"A\r\n" + data[:10] + b"\r\n001a\r\n" + data[10:] + b"\r\n0000\r\n\r\n"), mode)
    assert body == data


def test_empty_chunked_body(mode: str) -> None:
    request, body = parse(chunked(b"0\r\n\r\n"), mode)
    assert request.has_body is True
    assert body == b""


@pytest.mark.parametrize(
    "ext",
    [b";a", b";a=b", b";a=b;c", b' ; name = "quoted \\" value"', b';q="\xc3\xa9";t=x', b"\t;a\t=\tb"],
)
def test_chunk_extensions_are_accepted_and_ignored(mode: str, ext: bytes) -> None:
    _, body = parse(chunked(b"3" + ext + b"\r\nabc\r\n0" + ext + b"\r\n\r\n"), mode)
    assert body == b"abc"


def test_trailers_are_parsed_and_dropped(mode: str) -> None:
    request, body = parse(chunked(b"3\r\nabc\r\n0\r\nX-Checksum: 123\r\nX-Other:  v \r\n\r\n"), mode)
    assert body == b"abc"
    assert [name for name, _ in request.headers] == [b"host", b"transfer-encoding"]


@pytest.mark.parametrize(
    "trailer",
    [b"X-T: a\r\n b\r\n\r\n", b"X-T: a\x00\r\n\r\n", b"X T: a\r\n\r\n", b"X-T: a\nY: b\r\n\r\n"],
)
def test_invalid_trailers(mode: str, trailer: bytes) -> None:
    assert reject(chunked(b"0\r\n" + trailer), mode).status_hint == 400


def test_chunk_size_of_16_hex_digits_is_read() -> None:
    conn = H11Connection()
    conn.receive_data(chunked(b"ffffffffffffffff\r\nsome data"))
    events = pull(conn)
    assert [type(e) for e in events] == [Request, Data]
    assert conn.client_state is State.BODY


def test_chunk_extensions_limit_is_summed_over_the_body() -> None:
    limits = H11Limits(max_chunk_extensions=20)
    ok = chunked(b"1;aaaaaaaaa\r\nx\r\n1;bbbbbbbbb\r\nx\r\n0\r\n\r\n")  # 2 x 10 bytes: at the limit
    events, _ = feed(ok, "whole", limits)
    assert events[-1] == EndOfMessage()
    over = chunked(b"1;aaaaaaaaa\r\nx\r\n1;bbbbbbbbbb\r\nx\r\n0\r\n\r\n")  # 21 bytes
    for mode in ("whole", "bytewise"):
        assert reject(over, mode, limits).status_hint == 400


@pytest.mark.parametrize(
    "body",
    [
        b"5\r\nhel",  # in the data
        b"5\r\nhello",  # before the CRLF after the data
        b"5\r\nhello\r",  # half of that CRLF
        b"5\r\nhello\r\n",  # before the next size line
        b"5\r\nhello\r\n0",  # in the last chunk's line
        b"0\r\n",  # before the trailer section
        b"0\r\nX-T: v\r\n",  # in the trailer section
    ],
)
def test_eof_in_chunked_body(mode: str, body: bytes) -> None:
    conn = H11Connection()
    feed_into(conn, chunked(body), mode)
    assert conn.next_event() is NEED_DATA  # still in the body
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        pull(conn)
    assert conn.client_state is State.ERROR


# ----------------------------------------------------------------- Expect: 100-continue


@pytest.mark.parametrize("value", [b"100-continue", b"100-Continue"])
def test_expect_continue(mode: str, value: bytes) -> None:
    data = get(b"/", HOST, b"Expect: " + value, b"Content-Length: 2", method=b"PUT") + b"hi"
    request, body = parse(data, mode)
    assert request.expect_continue is True
    assert body == b"hi"


def test_continue_is_sent_only_before_the_response() -> None:
    conn = H11Connection()
    conn.receive_data(get(b"/", HOST, b"Expect: 100-continue", b"Content-Length: 2", method=b"PUT"))
    request = conn.next_event()
    assert isinstance(request, Request)
    assert request.expect_continue is True
    assert conn.next_event() is NEED_DATA  # the body waits for the client to see 100 Continue
    assert conn.informational_continue() == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.response_head(413, [], body=b"")
    with pytest.raises(LocalProtocolError):
        conn.informational_continue()


def test_expect_is_ignored_on_http10(mode: str) -> None:
    # RFC 9110 §10.1.1: "A server that receives a 100-continue expectation in an HTTP/1.0 request
    # MUST ignore that expectation."
    request, _ = parse(get(b"/", b"Expect: 100-continue", b"X: y", version=b"1.0"), mode)
    assert request.expect_continue is False
    request, _ = parse(get(b"/", b"Expect: anything", version=b"1.0"), mode)
    assert request.expect_continue is False


def test_unknown_expectation_is_417(mode: str) -> None:
    assert reject(get(b"/", HOST, b"Expect: 200-ok"), mode).status_hint == 417


# ----------------------------------------------------------------- pipelining and cycles


def answer(conn: H11Connection) -> None:
    conn.response_head(200, [], body=b"ok")


def test_pipelined_requests_wait_for_start_next_cycle(mode: str) -> None:
    first = get(b"/1", HOST, b"Content-Length: 3", method=b"POST") + b"abc"
    second = get(b"/2", HOST)
    third = chunked(b"1\r\nz\r\n0\r\n\r\n")
    events, conn = feed(first + second + third, "bytewise" if mode == "bytewise" else "whole")
    # Only the first request: the rest stays buffered while it is answered.
    assert [type(e) for e in events] == [Request, Data, EndOfMessage]
    assert conn.buffered == len(second) + len(third)
    assert conn.next_event() is PAUSED
    conn.receive_data(b"more")
    assert conn.next_event() is PAUSED
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()  # not answered yet
    answer(conn)
    conn.start_next_cycle()
    assert (conn.client_state, conn.server_state) == (State.IDLE, State.IDLE)
    events = pull(conn)
    assert len(events) == 1
    assert isinstance(events[0], Request)
    assert events[0].target == b"/2"
    answer(conn)
    conn.start_next_cycle()
    events = merge_data(pull(conn))
    assert events[1:] == [Data(b"z"), EndOfMessage()]
    answer(conn)
    conn.start_next_cycle()
    assert conn.buffered == 4
    assert pull(conn) == []  # "more": an incomplete head


def test_no_reuse_after_connection_close() -> None:
    conn = H11Connection()
    conn.receive_data(get(b"/", HOST, b"Connection: close") + get(b"/2", HOST))
    assert isinstance(conn.next_event(), Request)
    assert conn.next_event() is PAUSED
    answer(conn)
    assert conn.keep_alive is False
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_response_before_the_body_is_read_ends_the_connection() -> None:
    conn = H11Connection()
    conn.receive_data(get(b"/", HOST, b"Content-Length: 100", method=b"POST") + b"partial")
    assert [type(e) for e in pull(conn)] == [Request, Data]
    answer(conn)
    assert conn.client_state is State.BODY
    assert conn.keep_alive is False
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


# ----------------------------------------------------------------- EOF


def test_eof_when_idle_is_a_clean_close() -> None:
    conn = H11Connection()
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    assert conn.client_state is State.CLOSED
    assert conn.next_event() == ConnectionClosed()


def test_eof_after_a_request_is_a_clean_close_once_answered() -> None:
    conn = H11Connection()
    conn.receive_data(get(b"/", HOST))
    assert isinstance(conn.next_event(), Request)
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    assert conn.client_state is State.CLOSED
    answer(conn)  # the response is still owed and may be sent
    assert conn.keep_alive is False


@pytest.mark.parametrize("partial", [b"G", b"GET / HTTP/1.1", b"GET / HTTP/1.1\r\nHost: a\r\n", b"\r\nGET"])
def test_eof_in_a_head_is_an_error(partial: bytes) -> None:
    conn = H11Connection()
    conn.receive_data(partial)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.status_hint == 400
    assert conn.client_state is State.ERROR


def test_eof_with_a_partial_pipelined_request() -> None:
    conn = H11Connection()
    conn.receive_data(get(b"/", HOST) + b"GET /2 HT")
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), Request)
    assert conn.next_event() is PAUSED  # the partial request is only looked at in its own cycle
    answer(conn)
    conn.start_next_cycle()
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_data_after_eof_is_an_error() -> None:
    conn = H11Connection()
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(b"GET")
    assert conn.client_state is State.ERROR


# ----------------------------------------------------------------- limits


def limited_head(size: int) -> bytes:
    """A request head of exactly `size` bytes before its final CRLFCRLF."""
    base = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: "
    assert size >= len(base)
    return base + b"p" * (size - len(base)) + b"\r\n\r\n"


@pytest.mark.parametrize("feed_mode", ["whole", "bytewise"])
def test_head_size_limit_is_exact(feed_mode: str) -> None:
    limits = H11Limits(max_head_size=100)
    events, _ = feed(limited_head(100), feed_mode, limits)
    assert isinstance(events[0], Request)
    assert reject(limited_head(101), feed_mode, limits).status_hint == 431


@pytest.mark.parametrize("feed_mode", ["whole", "bytewise"])
def test_long_request_line_is_414(feed_mode: str) -> None:
    limits = H11Limits(max_head_size=100)
    assert reject(get(b"/" + b"a" * 100, HOST), feed_mode, limits).status_hint == 414


@pytest.mark.parametrize("feed_mode", ["whole", "bytewise"])
def test_header_count_limit_is_exact(feed_mode: str) -> None:
    limits = H11Limits(max_headers=3)
    events, _ = feed(get(b"/", HOST, b"A: 1", b"B: 2"), feed_mode, limits)
    assert isinstance(events[0], Request)
    assert reject(get(b"/", HOST, b"A: 1", b"B: 2", b"C: 3"), feed_mode, limits).status_hint == 431


def test_trailer_limits() -> None:
    limits = H11Limits(max_headers=2, max_head_size=200)
    events, _ = feed(chunked(b"0\r\nA: 1\r\nB: 2\r\n\r\n"), "whole", limits)
    assert events[-1] == EndOfMessage()
    for feed_mode in ("whole", "bytewise"):
        many = chunked(b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
        assert reject(many, feed_mode, limits).status_hint == 431
        large = chunked(b"0\r\nA: " + b"x" * 300 + b"\r\n\r\n")
        assert reject(large, feed_mode, limits).status_hint == 431


def test_errors_are_final() -> None:
    conn = H11Connection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n")
    for _ in range(2):
        with pytest.raises(RemoteProtocolError):
            conn.next_event()
    assert conn.client_state is State.ERROR


def test_valid_hosts_are_remembered_within_bounds(mode: str) -> None:
    from tapster.protocol import http11

    long_host = b"h" * 65 + b".example"
    for number in range(300):  # more distinct hosts than are kept
        parse(get(b"/", b"Host: host%d.example" % number), mode)
    parse(get(b"/", b"Host: " + long_host), mode)
    assert len(http11._VALID_HOSTS) <= 256
    assert long_host not in http11._VALID_HOSTS  # only short values are kept
    # Remembered or not, a bad Host is refused every time.
    for _ in range(2):
        parse(get(b"/", b"Host: host1.example"), mode)
        assert reject(get(b"/", b"Host: host1.example/evil"), mode).status_hint == 400


# ----------------------------------------------------------------------------- HTTP/2 prior knowledge

_H2_OPENING = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + SETTINGS


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
def test_the_http2_preface_hands_every_byte_over(mode: str) -> None:
    conn = H11Connection()
    pieces = (
        [_H2_OPENING[i : i + 1] for i in range(len(_H2_OPENING))] if mode == "bytewise" else [_H2_OPENING]
    )
    fed = b""
    found: list[H2Preface] = []
    for piece in pieces:
        fed += piece
        conn.receive_data(piece)
        event = conn.next_event()
        if isinstance(event, H2Preface):
            found.append(event)
            break
        assert event is NEED_DATA
    assert len(found) == 1
    assert found[0].data == fed  # every byte received so far, preface included
    assert fed.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert conn.client_state is State.CLOSED  # HTTP/1.1 is over on this connection


def test_the_http2_preface_after_a_request_is_not_http2() -> None:
    conn = H11Connection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert isinstance(conn.next_event(), Request)
    conn.response_head(200, [], b"", b"")
    assert conn.reuse()
    conn.receive_data(_H2_OPENING)
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.status_hint == 505


def test_a_broken_preface_is_a_505() -> None:
    conn = H11Connection()
    conn.receive_data(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.status_hint == 505


def test_the_http2_preface_is_a_505_when_http2_is_off() -> None:
    conn = H11Connection(h2_preface=False)
    conn.receive_data(_H2_OPENING)
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.status_hint == 505
