"""The HTTP/2 conformance cases: a registry of (id, RFC section, description, expected outcome, function),
grouped like h2spec's groups:

* generic: things every server must accept (each frame type used correctly, each HPACK representation);
* http2: RFC 9113's error cases, frame by frame and state by state, and §8's message rules;
* hpack: RFC 7541 decoding errors (each a connection error COMPRESSION_ERROR, RFC 9113 §4.3).

Ids are `group/section/n`, e.g. `http2/6.1/2`. Each case opens its own connection(s) to the server;
the server must serve `conformance.h2._app` (GET / -> 200 "hello", POST / -> echo).

Verdicts (see `client.H2Client.expect_*`):
* connection error X: GOAWAY with code X, or the connection closed without one (as in h2spec). A GOAWAY
  with another code fails: unlike h2spec, which passes a wrong-code GOAWAY if the close follows.
* stream error X: RST_STREAM with X on that stream; a GOAWAY with X (§5.4.1: a stream error MAY be
  treated as a connection error) or a close also passes, as in h2spec.
* a response / ignored: the request is answered normally / a PING after the frame is answered.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from hpack import Encoder
from hyperframe.frame import DataFrame, GoAwayFrame, HeadersFrame, RstStreamFrame

from .client import (
    ACK,
    END_HEADERS,
    END_STREAM,
    PADDED,
    PREFACE,
    PRIORITY,
    CaseFailed,
    CaseSkipped,
    ConnectionClosed,
    ErrorCode,
    FrameType,
    H2Client,
    ReadTimeout,
    Setting,
    Target,
    code_name,
    describe,
    encode_fields,
    hpack_int,
    hpack_string,
    indexed,
    literal,
    literal_indexed_name,
    raw_frame,
    table_size_update,
)

__all__ = ["CASES", "Case", "Result", "run_cases", "select"]

CaseFunc = Callable[[Target], None]


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    group: str
    section: str
    description: str
    expected: str
    func: CaseFunc


@dataclass(frozen=True, slots=True)
class Result:
    id: str
    section: str
    passed: bool
    detail: str
    description: str = ""
    #: A skipped case (the server lacks what it needs) counts as passed.
    skipped: bool = False


CASES: list[Case] = []


def case(
    group: str, section: str, description: str, expected: str, *, rfc: int | None = None
) -> Callable[[CaseFunc], CaseFunc]:
    """Registers a case. The RFC is 9113, or 7541 in the hpack group, unless `rfc` says otherwise; the
    id then names it (generic/rfc7541-6.1/1), so the same section number of two RFCs never collides."""
    default = 7541 if group == "hpack" else 9113
    rfc = rfc or default
    prefix = f"{group}/{section}" if rfc == default else f"{group}/rfc{rfc}-{section}"

    def register(func: CaseFunc) -> CaseFunc:
        number = sum(1 for c in CASES if c.id.startswith(prefix + "/")) + 1
        CASES.append(Case(f"{prefix}/{number}", group, f"RFC {rfc} §{section}", description, expected, func))
        return func

    return register


# ---- shorthands ----------------------------------------------------------------------------------

P = ErrorCode.PROTOCOL_ERROR
FRAME_SIZE = ErrorCode.FRAME_SIZE_ERROR
FLOW = ErrorCode.FLOW_CONTROL_ERROR
CLOSED = ErrorCode.STREAM_CLOSED
COMPRESSION = ErrorCode.COMPRESSION_ERROR
REFUSED = ErrorCode.REFUSED_STREAM
T = FrameType


def conn_error(*codes: ErrorCode) -> str:
    return f"connection error {' or '.join(c.name for c in codes)}"


def stream_error(*codes: ErrorCode) -> str:
    return f"stream error {' or '.join(c.name for c in codes)}"


RESPONSE = "a normal response"
IGNORED = "ignored: the connection stays usable"
ACKED = "SETTINGS ACK, connection stays usable"


def _ok(c: H2Client, stream_id: int = 1, body: bytes = b"hello") -> None:
    """A 200 response on `stream_id` whose content is `body`."""
    response = c.expect_response(stream_id)
    if response.status != 200 or response.body != body:
        raise CaseFailed(f"expected 200 {body[:20]!r}; got {response.status} {response.body[:20]!r}")


def _open_post(c: H2Client, stream_id: int = 1) -> None:
    """Opens a POST stream and leaves it open: the app waits for the body, the stream stays "open"."""
    c.headers(stream_id, c.request_fields("POST"), end_stream=False)


def _half_closed_remote(t: Target) -> H2Client:
    """Stream 1 "half-closed (remote)" on the server: a complete GET, while our stream window is 0 so
    the response's DATA cannot be sent and the stream cannot close."""
    c = t.connect({Setting.INITIAL_WINDOW_SIZE: 0})
    c.request(1)
    return c


def _closed_normally(t: Target) -> H2Client:
    """Stream 1 "closed": request and response both ended with END_STREAM."""
    c = t.connect()
    c.request(1)
    c.expect_response(1)
    return c


def _reset_by_us(t: Target) -> H2Client:
    """Stream 1 "closed" by our RST_STREAM: opened (POST headers), then reset."""
    c = t.connect()
    _open_post(c)
    c.rst_stream(1, ErrorCode.CANCEL)
    return c


Fields = list[tuple[str | bytes, str | bytes]]


def _request(t: Target, *extra: tuple[str | bytes, str | bytes], method: str = "GET") -> Fields:
    """A valid request's fields (the four pseudo-headers), then `extra`."""
    scheme = "https" if t.tls else "http"
    return [(":method", method), (":scheme", scheme), (":path", "/"), (":authority", t.authority), *extra]


def _pseudo(t: Target) -> bytes:
    """The field block of `_request(t)`, the start of the blocks the HPACK cases build."""
    return encode_fields(_request(t))


def _malformed(t: Target, fields: Fields, body: bytes | None = None) -> None:
    """A request RFC 9113 §8.1.1 calls malformed: stream error PROTOCOL_ERROR."""
    c = t.connect()
    c.headers(1, fields, end_stream=body is None)
    if body is not None:
        c.data(1, body)
    c.expect_rst_stream(1, P)


def _read_until(c: H2Client, done: Callable[[], bool]) -> None:
    """Reads frames until `done()`; an error frame, a close or the deadline fails."""
    try:
        for frame in c.frames():
            if isinstance(frame, RstStreamFrame | GoAwayFrame):
                raise CaseFailed(f"unexpected {describe(frame)}")
            if done():
                return
    except ConnectionClosed:
        raise CaseFailed("the connection closed") from None
    except ReadTimeout:
        raise CaseFailed(f"waited {c.timeout:g}s in vain") from None


def _response_or_rst(c: H2Client, stream_id: int, *codes: ErrorCode) -> None:
    """Either a normal response or a stream error with `codes` (for rules RFC 9113 dropped)."""
    try:
        for frame in c.frames():
            if isinstance(frame, RstStreamFrame | GoAwayFrame):
                if frame.error_code in codes:
                    return
                raise CaseFailed(f"expected a response or {stream_error(*codes)}; got {describe(frame)}")
            if isinstance(frame, HeadersFrame | DataFrame) and "END_STREAM" in frame.flags:
                return
    except ConnectionClosed:
        return
    except ReadTimeout:
        raise CaseFailed(f"expected a response or {stream_error(*codes)}; got neither") from None


# ==== generic: what every server must accept ======================================================


@case("generic", "3.4", "Sends the client connection preface and a GET", RESPONSE)
def generic_preface(t: Target) -> None:
    c = t.connect()
    c.request(1)
    _ok(c)


@case("generic", "5.1", "Sends a PRIORITY frame on an idle stream, then opens that stream", RESPONSE)
def generic_priority_idle(t: Target) -> None:
    c = t.connect()
    c.priority(1, depends_on=0, weight=200)
    c.expect_alive()
    c.request(1)
    _ok(c)


@case("generic", "5.1", "Sends a WINDOW_UPDATE frame on a half-closed (remote) stream", "the response flows")
def generic_window_update_half_closed(t: Target) -> None:
    c = _half_closed_remote(t)
    c.window_update(1, 5)
    _ok(c)


@case("generic", "5.1", "Sends a PRIORITY frame on a half-closed (remote) stream", RESPONSE)
def generic_priority_half_closed(t: Target) -> None:
    c = _half_closed_remote(t)
    c.priority(1, weight=100)
    c.window_update(1, 5)
    _ok(c)


@case(
    "generic",
    "5.1",
    "Sends a RST_STREAM frame on a half-closed (remote) stream",
    IGNORED + ", no RST_STREAM back",
)
def generic_rst_half_closed(t: Target) -> None:
    c = _half_closed_remote(t)
    c.rst_stream(1, ErrorCode.CANCEL)
    c.expect_alive()


@case("generic", "5.1", "Sends a PRIORITY frame on a closed stream", IGNORED)
def generic_priority_closed(t: Target) -> None:
    c = _closed_normally(t)
    c.priority(1, weight=10)
    c.expect_alive()


@case("generic", "6.1", "Sends a DATA frame (POST body)", "the body echoed")
def generic_data(t: Target) -> None:
    c = t.connect()
    c.request(1, "POST", body=b"abc")
    _ok(c, body=b"abc")


@case("generic", "6.1", "Sends multiple DATA frames", "the body echoed")
def generic_multiple_data(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.data(1, b"ab", end_stream=False)
    c.data(1, b"cd", end_stream=False)
    c.data(1, b"e")
    _ok(c, body=b"abcde")


@case("generic", "6.1", "Sends a DATA frame with padding", "the body echoed without the padding")
def generic_data_padding(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.data(1, b"abc", pad_length=8)
    _ok(c, body=b"abc")


@case(
    "generic",
    "6.1",
    "Sends a padded DATA frame that is all padding (Pad Length = payload length - 1)",
    RESPONSE,
)
def generic_data_all_padding(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.send_raw(T.DATA, PADDED | END_STREAM, 1, bytes([4]) + bytes(4))
    _ok(c, body=b"")


@case("generic", "6.2", "Sends a HEADERS frame", RESPONSE)
def generic_headers(t: Target) -> None:
    c = t.connect()
    c.request(1)
    _ok(c)


@case("generic", "6.2", "Sends a HEADERS frame with padding", RESPONSE)
def generic_headers_padding(t: Target) -> None:
    c = t.connect()
    c.headers(1, c.request_fields(), pad_length=16)
    _ok(c)


@case("generic", "6.2", "Sends a HEADERS frame with priority fields", RESPONSE)
def generic_headers_priority(t: Target) -> None:
    c = t.connect()
    c.headers(1, c.request_fields(), priority=(0, 255, False))
    _ok(c)


@case("generic", "6.2", "Sends a HEADERS frame with both padding and priority fields", RESPONSE)
def generic_headers_padding_priority(t: Target) -> None:
    c = t.connect()
    c.headers(1, c.request_fields(), pad_length=3, priority=(0, 16, True))
    _ok(c)


@case("generic", "6.3", "Sends a PRIORITY frame with weight 1 on an open stream", RESPONSE)
def generic_priority_weight_1(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.priority(1, weight=0)
    c.data(1, b"x")
    _ok(c, body=b"x")


@case("generic", "6.3", "Sends a PRIORITY frame with weight 256 on an open stream", RESPONSE)
def generic_priority_weight_256(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.priority(1, weight=255)
    c.data(1, b"x")
    _ok(c, body=b"x")


@case("generic", "6.3", "Sends a PRIORITY frame with a stream dependency", RESPONSE)
def generic_priority_dependency(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.priority(1, depends_on=3, weight=20)
    c.data(1, b"x")
    _ok(c, body=b"x")


@case("generic", "6.3", "Sends a PRIORITY frame with the exclusive flag", RESPONSE)
def generic_priority_exclusive(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.priority(1, depends_on=3, weight=20, exclusive=True)
    c.data(1, b"x")
    _ok(c, body=b"x")


@case(
    "generic",
    "6.3",
    "Sends a PRIORITY frame for idle stream 5, then HEADERS on stream 3",
    "a response on stream 3",
)
def generic_priority_then_lower_stream(t: Target) -> None:
    c = t.connect()
    c.priority(5, weight=10)
    c.request(3)
    _ok(c, 3)


@case("generic", "6.4", "Sends a RST_STREAM frame on an open stream", IGNORED + ", no RST_STREAM back")
def generic_rst_stream(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.rst_stream(1, ErrorCode.CANCEL)
    c.expect_alive()


@case("generic", "6.5", "Sends a SETTINGS frame with values", "SETTINGS ACK")
def generic_settings(t: Target) -> None:
    c = t.connect()
    c.settings({Setting.MAX_CONCURRENT_STREAMS: 100, Setting.HEADER_TABLE_SIZE: 4096})
    c.expect_settings_ack()


@case("generic", "6.7", "Sends a PING frame", "PING ACK with the same data")
def generic_ping(t: Target) -> None:
    c = t.connect()
    c.expect_ping_ack(c.ping(b"\x00\x01\x02\x03\x04\x05\x06\x07"))


@case("generic", "6.8", "Sends a GOAWAY frame", "the connection stays usable or closes gracefully")
def generic_goaway(t: Target) -> None:
    c = t.connect()
    with c.batch():  # one write: the server cannot close between the two
        c.goaway(0, ErrorCode.NO_ERROR)
        ping = c.ping()
    c.expect_ping_ack_or_close(ping)


@case("generic", "6.8", "Sends GOAWAY (NO_ERROR) while a request is in flight", "that request still answered")
def generic_goaway_in_flight(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    with c.batch():
        c.goaway(0, ErrorCode.NO_ERROR)
        c.data(1, b"bye")
    _ok(c, body=b"bye")


@case("generic", "6.9", "Sends a WINDOW_UPDATE frame on stream 0", IGNORED)
def generic_window_update_connection(t: Target) -> None:
    c = t.connect()
    c.window_update(0, 1024)
    c.expect_alive()


@case("generic", "6.9", "Sends a WINDOW_UPDATE frame on an open stream", RESPONSE)
def generic_window_update_stream(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.window_update(1, 1024)
    c.data(1, b"x")
    _ok(c, body=b"x")


@case("generic", "6.10", "Sends a HEADERS frame followed by a CONTINUATION frame", RESPONSE)
def generic_continuation(t: Target) -> None:
    c = t.connect()
    block = encode_fields(c.request_fields())
    c.headers(1, block[:5], end_headers=False)
    c.continuation(1, block[5:])
    _ok(c)


@case("generic", "6.10", "Sends a HEADERS frame followed by multiple CONTINUATION frames", RESPONSE)
def generic_multiple_continuation(t: Target) -> None:
    c = t.connect()
    block = encode_fields(_request(t, ("x-h2conf", "c" * 300)))
    c.headers(1, block[:50], end_headers=False)
    for start in range(50, len(block), 50):
        c.continuation(1, block[start : start + 50], end_headers=start + 50 >= len(block))
    _ok(c)


@case("generic", "6.10", "Sends CONTINUATION frames with empty field block fragments", RESPONSE)
def generic_empty_continuation(t: Target) -> None:
    c = t.connect()
    c.headers(1, c.request_fields(), end_headers=False)
    c.continuation(1, b"", end_headers=False)
    c.continuation(1, b"")
    _ok(c)


@case("generic", "8.1", "Sends a GET request", '200 "hello"')
def generic_get(t: Target) -> None:
    c = t.connect()
    c.request(1)
    _ok(c)


@case("generic", "8.1", "Sends a HEAD request", "200 without content")
def generic_head(t: Target) -> None:
    c = t.connect()
    c.request(1, "HEAD")
    _ok(c, body=b"")


@case("generic", "8.1", "Sends a POST request", "the body echoed")
def generic_post(t: Target) -> None:
    c = t.connect()
    c.request(1, "POST", body=b"posted", extra=[("content-length", "6")])
    _ok(c, body=b"posted")


@case("generic", "8.1", "Sends a POST request with trailers", "the body echoed")
def generic_post_trailers(t: Target) -> None:
    c = t.connect()
    c.headers(1, c.request_fields("POST", extra=[("te", "trailers")]), end_stream=False)
    c.data(1, b"with trailers", end_stream=False)
    c.headers(1, [("x-trailer", "yes")])
    _ok(c, body=b"with trailers")


@case(
    "generic", "8.1", "Sends several requests on one connection, interleaved", "each answered on its stream"
)
def generic_interleaved(t: Target) -> None:
    c = t.connect()
    _open_post(c, 1)
    _open_post(c, 3)
    c.data(3, b"three")
    c.data(1, b"one")
    _ok(c, 3, b"three")
    _ok(c, 1, b"one")


@case("generic", "8.2.2", 'Sends "te: trailers" (the one TE value allowed)', RESPONSE)
def generic_te_trailers(t: Target) -> None:
    c = t.connect()
    c.headers(1, _request(t, ("te", "trailers")))
    _ok(c)


@case("generic", "8.2.3", "Sends the cookie header split over several field lines", RESPONSE)
def generic_split_cookie(t: Target) -> None:
    c = t.connect()
    c.headers(1, _request(t, ("cookie", "a=b"), ("cookie", "c=d")))
    _ok(c)


def _hpack_get(t: Target, block: bytes) -> None:
    c = t.connect()
    c.headers(1, block)
    _ok(c)


@case(
    "generic",
    "6.1",
    "Sends indexed field lines (static table :method GET, :path /, :scheme)",
    RESPONSE,
    rfc=7541,
)
def generic_hpack_indexed(t: Target) -> None:
    _hpack_get(t, indexed(2) + indexed(4) + indexed(7 if t.tls else 6) + literal(":authority", t.authority))


_REPRESENTATIONS = [
    ("6.2.1", "incremental", "literal field line with incremental indexing"),
    ("6.2.2", "without", "literal field line without indexing"),
    ("6.2.3", "never", "literal field line never indexed"),
]


def _register_literal_cases() -> None:
    """Each literal representation, with an indexed and a literal name, each raw and Huffman-coded."""
    for section, indexing, name in _REPRESENTATIONS:
        for huffman in (False, True):
            coding = " (Huffman-coded)" if huffman else ""

            def indexed_name(t: Target, indexing: str = indexing, huffman: bool = huffman) -> None:
                user_agent = literal_indexed_name(58, "h2conf", indexing=indexing, huffman=huffman)
                _hpack_get(t, _pseudo(t) + user_agent)

            def new_name(t: Target, indexing: str = indexing, huffman: bool = huffman) -> None:
                _hpack_get(
                    t, _pseudo(t) + literal("x-h2conf", "new name", indexing=indexing, huffman=huffman)
                )

            case("generic", section, f"Sends a {name}, indexed name{coding}", RESPONSE, rfc=7541)(
                indexed_name
            )
            case("generic", section, f"Sends a {name}, new name{coding}", RESPONSE, rfc=7541)(new_name)


_register_literal_cases()


@case("generic", "6.3", "Sends a dynamic table size update at the start of a field block", RESPONSE, rfc=7541)
def generic_table_size_update(t: Target) -> None:
    _hpack_get(t, table_size_update(2048) + _pseudo(t))


@case(
    "generic", "6.3", "Sends two dynamic table size updates at the start of a field block", RESPONSE, rfc=7541
)
def generic_two_table_size_updates(t: Target) -> None:
    _hpack_get(t, table_size_update(0) + table_size_update(4096) + _pseudo(t))


@case(
    "generic",
    "2.3.2",
    "References a dynamic table entry added by an earlier field block",
    "POST echo",
    rfc=7541,
)
def generic_dynamic_table_reference(t: Target) -> None:
    c = t.connect()
    rest = encode_fields([(":scheme", c.scheme), (":path", "/"), (":authority", c.authority)])
    c.headers(1, literal_indexed_name(2, "POST", indexing="incremental") + rest, end_stream=False)
    c.data(1, b"one")
    _ok(c, 1, b"one")
    c.headers(3, indexed(62) + rest, end_stream=False)  # 62: the newest entry, ":method: POST"
    c.data(3, b"three")
    _ok(c, 3, b"three")


@case(
    "generic",
    "4.4",
    "Adds entries until the oldest is evicted, then uses the remaining ones",
    RESPONSE,
    rfc=7541,
)
def generic_eviction(t: Target) -> None:
    c = t.connect()
    entries = b"".join(literal(f"x-fill-{i}", "f" * 1400, indexing="incremental") for i in range(3))
    c.headers(1, _pseudo(t) + entries)  # 3 x 1440 octets > 4096: x-fill-0 is evicted
    _ok(c, 1)
    c.headers(3, _pseudo(t) + indexed(62) + indexed(63))
    _ok(c, 3)


@case(
    "generic",
    "2.3",
    "Sends requests encoded by a full HPACK encoder (dynamic table, Huffman)",
    RESPONSE,
    rfc=7541,
)
def generic_full_encoder(t: Target) -> None:
    c = t.connect()
    encoder = Encoder()
    for stream_id in (1, 3, 5):
        fields = [*c.request_fields(), ("user-agent", "h2conf"), ("x-request", str(stream_id))]
        c.headers(stream_id, encoder.encode([(str(n), str(v)) for n, v in fields], huffman=True))
        _ok(c, stream_id)


# ==== http2: RFC 9113 ============================================================================

# ---- §3.4 connection preface


@case("http2", "3.4", "Sends the client connection preface", "a SETTINGS frame is the server's first frame")
def preface_server_settings_first(t: Target) -> None:
    c = t.open()
    c.send_preface()
    try:
        first = next(iter(c.frames()))
    except (ReadTimeout, ConnectionClosed) as err:
        raise CaseFailed(f"no frame after the preface ({type(err).__name__})") from None
    if first.type != T.SETTINGS or "ACK" in first.flags:
        raise CaseFailed(f"the server's first frame is {describe(first)}, not SETTINGS")


@case(
    "http2",
    "3.4",
    "Sends an invalid connection preface",
    "the connection closed (GOAWAY PROTOCOL_ERROR optional)",
)
def preface_invalid(t: Target) -> None:
    c = t.open()
    c.send(b"PRI * HTTP/2.0\r\n\r\nXM\r\n\r\n" + raw_frame(T.SETTINGS, 0, 0))
    received = c.read_until_close()
    # What came before the close: frames (a GOAWAY, if any, must say PROTOCOL_ERROR), or bytes of a
    # server that took the connection for HTTP/1.1, which cannot be told apart from HTTP/2 yet.
    while len(received) >= 9:
        length, frame_type = int.from_bytes(received[:3], "big"), received[3]
        if frame_type == T.GOAWAY and length >= 8 and len(received) >= 17:
            code = int.from_bytes(received[13:17], "big")
            if not c.accepts(code, (P,)):
                raise CaseFailed(
                    f"expected GOAWAY PROTOCOL_ERROR or a bare close; got GOAWAY {code_name(code)}"
                )
        received = received[9 + length :]


@case("http2", "3.4", "Sends the preface magic followed by a PING instead of SETTINGS", conn_error(P))
def preface_without_settings(t: Target) -> None:
    c = t.open()
    c.send(PREFACE + raw_frame(T.PING, 0, 0, bytes(8)))
    c.expect_goaway(P)


# ---- §4.1 frame format


@case("http2", "4.1", "Sends a frame of unknown type on stream 0", IGNORED)
def unknown_frame_type(t: Target) -> None:
    c = t.connect()
    c.send_raw(0xFF, 0, 0, b"unknown")
    c.expect_alive()


@case("http2", "4.1", "Sends a PING frame with undefined flags set", "PING ACK (flags ignored)")
def undefined_flags_ping(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.PING, 0xFE, 0, b"undefflg")
    c.expect_ping_ack(b"undefflg")


@case("http2", "4.1", "Sends a HEADERS frame with undefined flags set", RESPONSE)
def undefined_flags_headers(t: Target) -> None:
    c = t.connect()
    c.send_raw(
        T.HEADERS, END_STREAM | END_HEADERS | 0x02 | 0x10 | 0x40 | 0x80, 1, encode_fields(c.request_fields())
    )
    _ok(c)


@case("http2", "4.1", "Sends a HEADERS frame with the reserved bit of the stream identifier set", RESPONSE)
def reserved_bit(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.HEADERS, END_STREAM | END_HEADERS, 0x8000_0001, encode_fields(c.request_fields()))
    _ok(c)


# ---- §4.2 frame size


@case("http2", "4.2", "Sends a DATA frame with 2^14 octets of payload", "the body echoed")
def frame_size_2_14(t: Target) -> None:
    c = t.connect()
    if c.initial_window < 16_384:
        raise CaseSkipped(f"the server's initial window ({c.initial_window}) is below 2^14")
    body = bytes(range(256)) * 64
    c.request(1, "POST", body=body)
    _ok(c, body=body)


@case("http2", "4.2", "Sends a DATA frame larger than SETTINGS_MAX_FRAME_SIZE", stream_error(FRAME_SIZE))
def frame_size_data_too_large(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.data(1, bytes(c.max_frame_size + 1))
    c.expect_rst_stream(1, FRAME_SIZE)


@case("http2", "4.2", "Sends a HEADERS frame larger than SETTINGS_MAX_FRAME_SIZE", conn_error(FRAME_SIZE))
def frame_size_headers_too_large(t: Target) -> None:
    c = t.connect()
    fields = _request(t, *[(f"x-pad-{i}", "p" * 1000) for i in range(c.max_frame_size // 1000 + 1)])
    c.headers(1, fields)
    c.expect_goaway(FRAME_SIZE)


@case(
    "http2", "4.2", "Sends a HEADERS frame with PRIORITY flag but a 4-octet payload", conn_error(FRAME_SIZE)
)
def frame_size_headers_too_small(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.HEADERS, END_STREAM | END_HEADERS | PRIORITY, 1, bytes(4))
    c.expect_goaway(FRAME_SIZE)


@case("http2", "4.2", "Sends a DATA frame with PADDED flag and an empty payload", stream_error(FRAME_SIZE))
def frame_size_data_no_pad_length(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.send_raw(T.DATA, PADDED | END_STREAM, 1, b"")
    c.expect_rst_stream(1, FRAME_SIZE)


# ---- §4.3 field blocks


@case("http2", "4.3", "Sends an invalid field block fragment (a truncated literal)", conn_error(COMPRESSION))
def field_block_invalid(t: Target) -> None:
    c = t.connect()
    c.headers(1, encode_fields(c.request_fields()) + b"\x00\x0ax-trunc")
    c.expect_goaway(COMPRESSION)


@case("http2", "4.3", "Sends a PRIORITY frame in the middle of a field block", conn_error(P))
def field_block_priority_inside(t: Target) -> None:
    c = t.connect()
    block = encode_fields(c.request_fields())
    c.headers(1, block[:5], end_headers=False)
    c.priority(1, weight=10)
    c.continuation(1, block[5:])
    c.expect_goaway(P)


@case("http2", "4.3", "Sends HEADERS for another stream in the middle of a field block", conn_error(P))
def field_block_other_stream_inside(t: Target) -> None:
    c = t.connect()
    block = encode_fields(c.request_fields())
    c.headers(1, block[:5], end_headers=False)
    c.headers(3, block)
    c.expect_goaway(P)


@case("http2", "4.3", "Sends a second HEADERS on the same stream instead of CONTINUATION", conn_error(P))
def field_block_headers_inside(t: Target) -> None:
    c = t.connect()
    block = encode_fields(c.request_fields())
    c.headers(1, block[:5], end_headers=False, end_stream=False)
    c.headers(1, block[5:])
    c.expect_goaway(P)


@case(
    "http2",
    "4.3.1",
    "Lowers SETTINGS_HEADER_TABLE_SIZE to 0",
    "later field blocks use no dynamic table entry",
)
def table_size_reduced(t: Target) -> None:
    c = t.connect()
    c.request(1)
    _ok(c, 1)
    c.settings({Setting.HEADER_TABLE_SIZE: 0})
    c.expect_settings_ack()
    c.set_decoder_table_limit(0)  # decoding now fails unless the block starts with a size update <= 0
    c.request(3)
    _ok(c, 3)


# ---- §5.1 stream states


@case("http2", "5.1", "idle: Sends a DATA frame", conn_error(P) + " (or stream error STREAM_CLOSED, §6.1)")
def idle_data(t: Target) -> None:
    c = t.connect()
    c.data(1, b"idle")
    c.expect_rst_stream(1, P, CLOSED)


@case("http2", "5.1", "idle: Sends a RST_STREAM frame", conn_error(P))
def idle_rst_stream(t: Target) -> None:
    c = t.connect()
    c.rst_stream(1, ErrorCode.CANCEL)
    c.expect_goaway(P)


@case("http2", "5.1", "idle: Sends a WINDOW_UPDATE frame", conn_error(P))
def idle_window_update(t: Target) -> None:
    c = t.connect()
    c.window_update(1, 100)
    c.expect_goaway(P)


@case("http2", "5.1", "idle: Sends a CONTINUATION frame", conn_error(P))
def idle_continuation(t: Target) -> None:
    c = t.connect()
    c.continuation(1, encode_fields(c.request_fields()))
    c.expect_goaway(P)


@case("http2", "5.1", "idle: Sends a frame of unknown type on an idle stream", IGNORED)
def idle_unknown_frame(t: Target) -> None:
    c = t.connect()
    c.send_raw(0xEE, 0, 1, b"ext")
    c.expect_alive()


@case("http2", "5.1", "half-closed (remote): Sends a DATA frame", stream_error(CLOSED))
def half_closed_data(t: Target) -> None:
    c = _half_closed_remote(t)
    c.data(1, b"late")
    c.expect_rst_stream(1, CLOSED)


@case("http2", "5.1", "half-closed (remote): Sends a HEADERS frame", stream_error(CLOSED))
def half_closed_headers(t: Target) -> None:
    c = _half_closed_remote(t)
    c.headers(1, [("x-trailer", "late")])
    c.expect_rst_stream(1, CLOSED)


@case(
    "http2",
    "5.1",
    "half-closed (remote): Sends a CONTINUATION frame",
    stream_error(CLOSED) + " or " + conn_error(P),
)
def half_closed_continuation(t: Target) -> None:
    c = _half_closed_remote(t)
    c.continuation(1, encode_fields([("x-late", "1")]))
    c.expect_rst_stream(1, CLOSED, P)


@case(
    "http2",
    "5.1",
    "closed: Sends a DATA frame after sending RST_STREAM",
    stream_error(CLOSED) + " or " + conn_error(P),
)
def reset_data(t: Target) -> None:
    c = _reset_by_us(t)
    c.data(1, b"after reset")
    c.expect_rst_stream(1, CLOSED, goaway=(CLOSED, P))


@case(
    "http2",
    "5.1",
    "closed: Sends a HEADERS frame after sending RST_STREAM",
    stream_error(CLOSED) + " or " + conn_error(P),
)
def reset_headers(t: Target) -> None:
    c = _reset_by_us(t)
    c.headers(1, [("x-trailer", "after reset")])
    c.expect_rst_stream(1, CLOSED, goaway=(CLOSED, P))


@case("http2", "5.1", "closed: Sends a CONTINUATION frame after sending RST_STREAM", conn_error(P, CLOSED))
def reset_continuation(t: Target) -> None:
    c = _reset_by_us(t)
    c.continuation(1, encode_fields([("x-late", "1")]))
    c.expect_rst_stream(1, CLOSED, P)


@case(
    "http2",
    "5.1",
    "closed: Sends a DATA frame on a stream closed by END_STREAM both ways",
    stream_error(CLOSED),
)
def closed_data(t: Target) -> None:
    c = _closed_normally(t)
    c.data(1, b"late")
    c.expect_rst_stream(1, CLOSED)


@case(
    "http2",
    "5.1",
    "closed: Sends a HEADERS frame on a stream closed by END_STREAM both ways",
    conn_error(CLOSED, P),
)
def closed_headers(t: Target) -> None:
    c = _closed_normally(t)
    c.request(1)
    c.expect_goaway(CLOSED, P)


@case(
    "http2",
    "5.1",
    "closed: Sends a CONTINUATION frame on a stream closed by END_STREAM both ways",
    conn_error(P, CLOSED),
)
def closed_continuation(t: Target) -> None:
    c = _closed_normally(t)
    c.continuation(1, encode_fields([("x-late", "1")]))
    c.expect_goaway(P, CLOSED)


@case("http2", "5.1", "closed: Sends WINDOW_UPDATE and RST_STREAM on a just-closed stream", IGNORED)
def closed_window_update_rst(t: Target) -> None:
    c = _closed_normally(t)
    c.window_update(1, 100)
    c.rst_stream(1, ErrorCode.CANCEL)
    c.expect_alive()


# ---- §5.1.1 stream identifiers


@case("http2", "5.1.1", "Sends HEADERS with an even-numbered stream identifier", conn_error(P))
def even_stream_id(t: Target) -> None:
    c = t.connect()
    c.request(2)
    c.expect_goaway(P)


@case("http2", "5.1.1", "Sends HEADERS on stream 3 after stream 5", conn_error(P))
def decreasing_stream_id(t: Target) -> None:
    c = t.connect()
    c.request(5)
    _ok(c, 5)
    c.request(3)
    c.expect_goaway(P)


# ---- §5.1.2 stream concurrency


@case("http2", "5.1.2", "Opens more streams than SETTINGS_MAX_CONCURRENT_STREAMS", stream_error(P, REFUSED))
def concurrency_limit(t: Target) -> None:
    c = t.connect()
    limit = c.server_settings.get(Setting.MAX_CONCURRENT_STREAMS)
    if limit is None or limit > 1000:
        raise CaseSkipped(f"the server advertises SETTINGS_MAX_CONCURRENT_STREAMS = {limit}")
    for n in range(limit):
        _open_post(c, 2 * n + 1)
    _open_post(c, 2 * limit + 1)
    c.expect_rst_stream(2 * limit + 1, P, REFUSED)


# ---- RFC 7540 §5.3.1 priority, dropped by RFC 9113 §5.3.2

_SELF_DEP = "stream error PROTOCOL_ERROR (RFC 7540), or a normal response (RFC 9113 dropped the rule)"


@case("http2", "5.3.1", "Sends a HEADERS frame that depends on its own stream", _SELF_DEP, rfc=7540)
def self_dependency_headers(t: Target) -> None:
    c = t.connect()
    c.headers(1, c.request_fields(), priority=(1, 16, False))
    _response_or_rst(c, 1, P)


@case("http2", "5.3.1", "Sends a PRIORITY frame that makes a stream depend on itself", _SELF_DEP, rfc=7540)
def self_dependency_priority(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.priority(1, depends_on=1)
    c.data(1, b"x")
    _response_or_rst(c, 1, P)


# ---- §5.4 error handling


@case("http2", "5.4.1", "Causes a connection error (a 7-octet PING)", "the TCP connection closed")
def connection_error_closes(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.PING, 0, 0, bytes(7))
    c.expect_close()


@case(
    "http2",
    "5.4.1",
    "Causes a connection error after stream 1 was answered",
    "GOAWAY with last-stream-id >= 1",
)
def connection_error_goaway(t: Target) -> None:
    c = _closed_normally(t)
    c.send_raw(T.PING, 0, 0, bytes(7))
    goaway = c.expect_goaway(FRAME_SIZE)
    if goaway is None:
        raise CaseFailed("the connection closed without GOAWAY (§5.4.1: SHOULD send one first)")
    if goaway.last_stream_id < 1:
        raise CaseFailed(f"GOAWAY last-stream-id is {goaway.last_stream_id}, but stream 1 was processed")


# ---- §5.5 extensions


@case("http2", "5.5", "Sends an unknown extension frame on an open stream", RESPONSE)
def extension_frame_open_stream(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.send_raw(0x16, 0xFF, 1, b"extension")
    c.data(1, b"x")
    _ok(c, body=b"x")


@case("http2", "5.5", "Sends an unknown extension frame in the middle of a field block", conn_error(P))
def extension_frame_in_field_block(t: Target) -> None:
    c = t.connect()
    block = encode_fields(c.request_fields())
    c.headers(1, block[:5], end_headers=False)
    c.send_raw(0x16, 0, 1, b"extension")
    c.continuation(1, block[5:])
    c.expect_goaway(P)


@case("http2", "5.5", "Sends a SETTINGS frame with an unknown identifier", ACKED)
def unknown_setting(t: Target) -> None:
    c = t.connect()
    c.settings({0xFF: 1, 0x7A7A: 0xFFFF_FFFF})
    c.expect_settings_ack()
    c.expect_alive()


# ---- §6.1 DATA


@case("http2", "6.1", "Sends a DATA frame with stream identifier 0", conn_error(P))
def data_stream_0(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.DATA, END_STREAM, 0, b"stream zero")
    c.expect_goaway(P)


@case("http2", "6.1", "Sends a DATA frame after the request's END_STREAM (on DATA)", stream_error(CLOSED))
def data_after_end_stream(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.data(1, b"done")
    c.data(1, b"more")
    c.expect_rst_stream(1, CLOSED)


@case("http2", "6.1", "Sends a DATA frame whose Pad Length exceeds the payload", conn_error(P))
def data_pad_too_long(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.send_raw(T.DATA, PADDED | END_STREAM, 1, bytes([10]) + b"abcd")
    c.expect_goaway(P)


@case("http2", "6.1", "Sends a DATA frame whose Pad Length equals the payload length", conn_error(P))
def data_pad_equal(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.send_raw(T.DATA, PADDED | END_STREAM, 1, bytes([5]) + b"abcd")
    c.expect_goaway(P)


# ---- §6.2 HEADERS


@case("http2", "6.2", "Sends HEADERS without END_HEADERS, then a DATA frame", conn_error(P))
def headers_then_data(t: Target) -> None:
    c = t.connect()
    block = encode_fields(c.request_fields("POST"))
    c.headers(1, block, end_headers=False, end_stream=False)
    c.data(1, b"x")
    c.expect_goaway(P)


@case("http2", "6.2", "Sends HEADERS without END_HEADERS, then a PING on stream 0", conn_error(P))
def headers_then_ping(t: Target) -> None:
    c = t.connect()
    c.headers(1, encode_fields(c.request_fields()), end_headers=False)
    c.ping()
    c.expect_goaway(P)


@case("http2", "6.2", "Sends a HEADERS frame with stream identifier 0", conn_error(P))
def headers_stream_0(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.HEADERS, END_STREAM | END_HEADERS, 0, encode_fields(c.request_fields()))
    c.expect_goaway(P)


@case("http2", "6.2", "Sends a HEADERS frame whose Pad Length exceeds the payload", conn_error(P))
def headers_pad_too_long(t: Target) -> None:
    c = t.connect()
    c.send_raw(
        T.HEADERS, END_STREAM | END_HEADERS | PADDED, 1, bytes([200]) + encode_fields(c.request_fields())
    )
    c.expect_goaway(P)


@case("http2", "6.2", "Sends HEADERS with END_STREAM, followed by a CONTINUATION", RESPONSE)
def headers_end_stream_continuation(t: Target) -> None:
    c = t.connect()
    block = encode_fields(c.request_fields())
    c.headers(1, block[:7], end_headers=False, end_stream=True)
    c.continuation(1, block[7:])
    _ok(c)


# ---- §6.3 PRIORITY


@case("http2", "6.3", "Sends a PRIORITY frame with stream identifier 0", conn_error(P))
def priority_stream_0(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.PRIORITY, 0, 0, bytes(4) + b"\x10")
    c.expect_goaway(P)


@case("http2", "6.3", "Sends a 4-octet PRIORITY frame", stream_error(FRAME_SIZE))
def priority_length_4(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.send_raw(T.PRIORITY, 0, 1, bytes(4))
    c.expect_rst_stream(1, FRAME_SIZE)


@case("http2", "6.3", "Sends a 6-octet PRIORITY frame", stream_error(FRAME_SIZE))
def priority_length_6(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.send_raw(T.PRIORITY, 0, 1, bytes(6))
    c.expect_rst_stream(1, FRAME_SIZE)


# ---- §6.4 RST_STREAM


@case("http2", "6.4", "Sends a RST_STREAM frame with stream identifier 0", conn_error(P))
def rst_stream_0(t: Target) -> None:
    c = t.connect()
    c.rst_stream(0, ErrorCode.CANCEL)
    c.expect_goaway(P)


@case("http2", "6.4", "Sends a RST_STREAM frame on an idle stream (above any opened)", conn_error(P))
def rst_stream_idle(t: Target) -> None:
    c = t.connect()
    c.request(1)
    _ok(c)
    c.rst_stream(3, ErrorCode.CANCEL)
    c.expect_goaway(P)


@case("http2", "6.4", "Sends a 3-octet RST_STREAM frame", conn_error(FRAME_SIZE))
def rst_stream_length_3(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.send_raw(T.RST_STREAM, 0, 1, bytes(3))
    c.expect_goaway(FRAME_SIZE)


@case("http2", "6.4", "Sends a 5-octet RST_STREAM frame", conn_error(FRAME_SIZE))
def rst_stream_length_5(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.send_raw(T.RST_STREAM, 0, 1, bytes(5))
    c.expect_goaway(FRAME_SIZE)


# ---- §6.5 SETTINGS


@case("http2", "6.5", "Sends a SETTINGS frame with ACK and a payload", conn_error(FRAME_SIZE))
def settings_ack_with_payload(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.SETTINGS, ACK, 0, Setting.ENABLE_PUSH.to_bytes(2, "big") + bytes(4))
    c.expect_goaway(FRAME_SIZE)


@case("http2", "6.5", "Sends a SETTINGS frame with a stream identifier other than 0", conn_error(P))
def settings_on_stream(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.SETTINGS, 0, 1, Setting.ENABLE_PUSH.to_bytes(2, "big") + bytes(4))
    c.expect_goaway(P)


@case(
    "http2", "6.5", "Sends a SETTINGS frame whose length is not a multiple of 6 (3)", conn_error(FRAME_SIZE)
)
def settings_length_3(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.SETTINGS, 0, 0, b"\x00\x02\x00")
    c.expect_goaway(FRAME_SIZE)


@case(
    "http2", "6.5", "Sends a SETTINGS frame whose length is not a multiple of 6 (7)", conn_error(FRAME_SIZE)
)
def settings_length_7(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.SETTINGS, 0, 0, b"\x00\x03" + bytes(4) + b"\x00")
    c.expect_goaway(FRAME_SIZE)


@case("http2", "6.5.2", "SETTINGS_ENABLE_PUSH = 2", conn_error(P))
def settings_enable_push_2(t: Target) -> None:
    c = t.connect()
    c.settings({Setting.ENABLE_PUSH: 2})
    c.expect_goaway(P)


@case("http2", "6.5.2", "SETTINGS_ENABLE_PUSH = 1 from a client (allowed)", ACKED)
def settings_enable_push_1(t: Target) -> None:
    c = t.connect()
    c.settings({Setting.ENABLE_PUSH: 1})
    c.expect_settings_ack()
    c.expect_alive()


@case("http2", "6.5.2", "SETTINGS_INITIAL_WINDOW_SIZE = 2^31 (above the maximum window)", conn_error(FLOW))
def settings_initial_window_too_large(t: Target) -> None:
    c = t.connect()
    c.settings({Setting.INITIAL_WINDOW_SIZE: 2**31})
    c.expect_goaway(FLOW)


@case("http2", "6.5.2", "SETTINGS_INITIAL_WINDOW_SIZE = 2^31-1 (the maximum)", ACKED)
def settings_initial_window_max(t: Target) -> None:
    c = t.connect()
    c.settings({Setting.INITIAL_WINDOW_SIZE: 2**31 - 1})
    c.expect_settings_ack()
    c.request(1)
    _ok(c)


@case("http2", "6.5.2", "SETTINGS_MAX_FRAME_SIZE = 2^14-1 (below the initial value)", conn_error(P))
def settings_max_frame_size_too_small(t: Target) -> None:
    c = t.connect()
    c.settings({Setting.MAX_FRAME_SIZE: 2**14 - 1})
    c.expect_goaway(P)


@case("http2", "6.5.2", "SETTINGS_MAX_FRAME_SIZE = 2^24 (above the maximum)", conn_error(P))
def settings_max_frame_size_too_large(t: Target) -> None:
    c = t.connect()
    c.settings({Setting.MAX_FRAME_SIZE: 2**24})
    c.expect_goaway(P)


@case("http2", "6.5.2", "SETTINGS_MAX_FRAME_SIZE = 2^24-1 (the maximum)", ACKED)
def settings_max_frame_size_max(t: Target) -> None:
    c = t.connect()
    c.settings({Setting.MAX_FRAME_SIZE: 2**24 - 1})
    c.expect_settings_ack()
    c.expect_alive()


@case("http2", "6.5.2", "SETTINGS_MAX_CONCURRENT_STREAMS = 0 from a client", "ACK; requests still answered")
def settings_max_concurrent_0(t: Target) -> None:
    c = t.connect()
    c.settings({Setting.MAX_CONCURRENT_STREAMS: 0})
    c.expect_settings_ack()
    c.request(1)
    _ok(c)


@case(
    "http2",
    "6.5.3",
    "Sends SETTINGS_INITIAL_WINDOW_SIZE twice in one frame (100, then 1)",
    "DATA frames of at most 1 octet",
)
def settings_in_order(t: Target) -> None:
    c = t.connect()
    c.send_raw(
        T.SETTINGS, 0, 0, b"\x00\x04" + (100).to_bytes(4, "big") + b"\x00\x04" + (1).to_bytes(4, "big")
    )
    c.expect_settings_ack()
    c.request(1)
    response = c.expect_response(1)
    if max(response.data_lengths, default=0) > 1:
        raise CaseFailed(f"DATA frames of {response.data_lengths} octets: the last value (1) was not applied")


@case("http2", "6.5.3", "Sends a SETTINGS frame without ACK", "SETTINGS ACK")
def settings_acked(t: Target) -> None:
    c = t.connect()
    c.settings({})
    c.expect_settings_ack()


# ---- §6.6 / §8.4 PUSH_PROMISE


@case("http2", "8.4", "Sends a PUSH_PROMISE frame (from a client)", conn_error(P))
def push_promise_from_client(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.send_raw(T.PUSH_PROMISE, END_HEADERS, 1, (2).to_bytes(4, "big") + encode_fields(c.request_fields()))
    c.expect_goaway(P)


@case("http2", "6.6", "Sends a PUSH_PROMISE frame with stream identifier 0", conn_error(P))
def push_promise_stream_0(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.PUSH_PROMISE, END_HEADERS, 0, (2).to_bytes(4, "big") + encode_fields(c.request_fields()))
    c.expect_goaway(P)


# ---- §6.7 PING


@case("http2", "6.7", "Sends a PING frame", "PING ACK with identical payload")
def ping_ack(t: Target) -> None:
    c = t.connect()
    c.expect_ping_ack(c.ping(b"\xffh2spec\x00"))


@case("http2", "6.7", "Sends a PING frame with ACK", "no response to it")
def ping_with_ack_not_answered(t: Target) -> None:
    c = t.connect()
    c.ping(b"ackedack", ack=True)
    c.expect_ping_ack(c.ping(b"realping"))
    if b"ackedack" in c.ping_acks:
        raise CaseFailed("the server answered a PING that had the ACK flag")


@case("http2", "6.7", "Sends a PING frame with a stream identifier other than 0", conn_error(P))
def ping_on_stream(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.PING, 0, 1, bytes(8))
    c.expect_goaway(P)


@case("http2", "6.7", "Sends a 7-octet PING frame", conn_error(FRAME_SIZE))
def ping_length_7(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.PING, 0, 0, bytes(7))
    c.expect_goaway(FRAME_SIZE)


@case("http2", "6.7", "Sends a 9-octet PING frame", conn_error(FRAME_SIZE))
def ping_length_9(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.PING, 0, 0, bytes(9))
    c.expect_goaway(FRAME_SIZE)


# ---- §6.8 GOAWAY


@case("http2", "6.8", "Sends a GOAWAY frame with a stream identifier other than 0", conn_error(P))
def goaway_on_stream(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.GOAWAY, 0, 1, bytes(8))
    c.expect_goaway(P)


@case("http2", "6.8", "Sends a 7-octet GOAWAY frame (too small for its fields)", conn_error(FRAME_SIZE))
def goaway_too_short(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.GOAWAY, 0, 0, bytes(7))
    c.expect_goaway(FRAME_SIZE)


# ---- §6.9 WINDOW_UPDATE and flow control


@case("http2", "6.9", "Sends a WINDOW_UPDATE with increment 0 on stream 0", conn_error(P))
def window_update_zero_connection(t: Target) -> None:
    c = t.connect()
    c.window_update(0, 0)
    c.expect_goaway(P)


@case("http2", "6.9", "Sends a WINDOW_UPDATE with increment 0 on an open stream", stream_error(P))
def window_update_zero_stream(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.window_update(1, 0)
    c.expect_rst_stream(1, P)


@case("http2", "6.9", "Sends a 3-octet WINDOW_UPDATE frame", conn_error(FRAME_SIZE))
def window_update_length_3(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.WINDOW_UPDATE, 0, 0, b"\x00\x00\x01")
    c.expect_goaway(FRAME_SIZE)


@case("http2", "6.9", "Sends a 5-octet WINDOW_UPDATE frame", conn_error(FRAME_SIZE))
def window_update_length_5(t: Target) -> None:
    c = t.connect()
    c.send_raw(T.WINDOW_UPDATE, 0, 0, b"\x00\x00\x00\x01\x00")
    c.expect_goaway(FRAME_SIZE)


@case("http2", "6.9.1", "Sets the initial window to 1, then sends a GET", "DATA frames of at most 1 octet")
def flow_control_window_1(t: Target) -> None:
    c = t.connect({Setting.INITIAL_WINDOW_SIZE: 1})
    c.request(1)
    response = c.expect_response(1)
    if response.body != b"hello" or max(response.data_lengths) > 1:
        raise CaseFailed(f"body {response.body!r} in DATA frames of {response.data_lengths} octets")


@case("http2", "6.9.1", "WINDOW_UPDATEs raise the connection window above 2^31-1", conn_error(FLOW))
def flow_control_connection_overflow(t: Target) -> None:
    c = t.connect()
    c.window_update(0, 2**31 - 1)
    c.expect_goaway(FLOW)


@case("http2", "6.9.1", "WINDOW_UPDATEs raise a stream window above 2^31-1", stream_error(FLOW))
def flow_control_stream_overflow(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.window_update(1, 2**31 - 1)
    c.expect_rst_stream(1, FLOW)


@case(
    "http2",
    "6.9.2",
    "Raises SETTINGS_INITIAL_WINDOW_SIZE after the request (from 0 to 5)",
    "the 5 octets flow",
)
def initial_window_raised(t: Target) -> None:
    c = t.connect({Setting.INITIAL_WINDOW_SIZE: 0})
    c.replenish = False
    c.request(1)
    c.settings({Setting.INITIAL_WINDOW_SIZE: 5})
    response = c.expect_response(1)
    if response.body != b"hello":
        raise CaseFailed(f"body {response.body!r}")


@case(
    "http2",
    "6.9.2",
    "Lowers SETTINGS_INITIAL_WINDOW_SIZE so a stream window goes negative",
    "the server waits until it is positive",
)
def initial_window_negative(t: Target) -> None:
    c = t.connect({Setting.INITIAL_WINDOW_SIZE: 3})
    c.replenish = False
    c.request(1)
    body = c.stream(1).body
    _read_until(c, lambda: len(body) >= 3)  # the window is now 3 - 3 = 0
    c.settings({Setting.INITIAL_WINDOW_SIZE: 0})  # 0 - 3 = -3
    c.window_update(1, 3)  # -3 + 3 = 0: still nothing may be sent
    ping = c.ping()
    _read_until(c, lambda: ping in c.ping_acks)
    if len(body) > 3:
        raise CaseFailed(f"the server sent {len(body) - 3} octets while the stream window was at most 0")
    c.window_update(1, 2)  # 2: the last two octets may go
    response = c.expect_response(1)
    if response.body != b"hello":
        raise CaseFailed(f"body {response.body!r}")


@case(
    "http2",
    "6.9.2",
    "A SETTINGS_INITIAL_WINDOW_SIZE change pushes a stream window above 2^31-1",
    conn_error(FLOW),
)
def initial_window_overflow(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.window_update(1, 2**31 - 1 - 65_535)  # the stream's window (our initial 65,535) is now 2^31-1
    c.settings({Setting.INITIAL_WINDOW_SIZE: 65_536})
    c.expect_goaway(FLOW)


# ---- §6.10 CONTINUATION


@case("http2", "6.10", "Sends a CONTINUATION without END_HEADERS, then a DATA frame", conn_error(P))
def continuation_then_data(t: Target) -> None:
    c = t.connect()
    block = encode_fields(c.request_fields("POST"))
    c.headers(1, block[:5], end_headers=False, end_stream=False)
    c.continuation(1, block[5:9], end_headers=False)
    c.data(1, b"x")
    c.expect_goaway(P)


@case("http2", "6.10", "Sends a CONTINUATION frame with stream identifier 0", conn_error(P))
def continuation_stream_0(t: Target) -> None:
    c = t.connect()
    block = encode_fields(c.request_fields())
    c.headers(1, block[:5], end_headers=False)
    c.send_raw(T.CONTINUATION, END_HEADERS, 0, block[5:])
    c.expect_goaway(P)


@case("http2", "6.10", "Sends a CONTINUATION after a HEADERS that had END_HEADERS", conn_error(P))
def continuation_after_end_headers(t: Target) -> None:
    c = t.connect()
    c.headers(1, c.request_fields("POST"), end_stream=False)
    c.continuation(1, encode_fields([("x-extra", "1")]))
    c.expect_goaway(P)


@case("http2", "6.10", "Sends a CONTINUATION after a CONTINUATION that had END_HEADERS", conn_error(P))
def continuation_after_continuation_end(t: Target) -> None:
    c = t.connect()
    block = encode_fields(c.request_fields("POST"))
    c.headers(1, block[:5], end_headers=False, end_stream=False)
    c.continuation(1, block[5:])
    c.continuation(1, encode_fields([("x-extra", "1")]))
    c.expect_goaway(P)


@case("http2", "6.10", "Sends a CONTINUATION after a DATA frame", conn_error(P))
def continuation_after_data(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.data(1, b"x", end_stream=False)
    c.continuation(1, encode_fields([("x-extra", "1")]))
    c.expect_goaway(P)


@case("http2", "6.10", "Sends the CONTINUATION for stream 1 on stream 3", conn_error(P))
def continuation_other_stream(t: Target) -> None:
    c = t.connect()
    block = encode_fields(c.request_fields())
    c.headers(1, block[:5], end_headers=False)
    c.continuation(3, block[5:])
    c.expect_goaway(P)


# ---- §7 error codes


@case(
    "http2",
    "7",
    "Sends a GOAWAY frame with an unknown error code",
    "no special behaviour (PING answered, or a graceful close)",
)
def unknown_error_code_goaway(t: Target) -> None:
    c = t.connect()
    with c.batch():
        c.goaway(0, 0xBEEF)
        ping = c.ping()
    c.expect_ping_ack_or_close(ping)


@case("http2", "7", "Sends a RST_STREAM frame with an unknown error code", IGNORED)
def unknown_error_code_rst(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.rst_stream(1, 0xBEEF)
    c.expect_alive()


# ---- §8.1 message framing


@case("http2", "8.1", "Sends a second HEADERS (trailers) without END_STREAM", stream_error(P))
def trailers_without_end_stream(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.data(1, b"x", end_stream=False)
    c.headers(1, [("x-trailer", "1")], end_stream=False)
    c.expect_rst_stream(1, P)


@case("http2", "8.1", "Sends a second HEADERS without END_STREAM right after the first", stream_error(P))
def second_headers_without_end_stream(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.headers(1, [("x-more", "1")], end_stream=False)
    c.expect_rst_stream(1, P)


# ---- §8.1.1 malformed messages: content-length


@case("http2", "8.1.1", "content-length 10, but 5 octets of DATA", stream_error(P))
def content_length_too_big(t: Target) -> None:
    _malformed(t, _request(t, ("content-length", "10"), method="POST"), body=b"hello")


@case("http2", "8.1.1", "content-length 2, but 5 octets of DATA", stream_error(P))
def content_length_too_small(t: Target) -> None:
    _malformed(t, _request(t, ("content-length", "2"), method="POST"), body=b"hello")


@case("http2", "8.1.1", "content-length 4, but DATA frames of 2 + 3 octets", stream_error(P))
def content_length_multiple_data(t: Target) -> None:
    c = t.connect()
    c.headers(1, _request(t, ("content-length", "4"), method="POST"), end_stream=False)
    c.data(1, b"ab", end_stream=False)
    c.data(1, b"cde")
    c.expect_rst_stream(1, P)


@case("http2", "8.1.1", "content-length 5, but no DATA at all (END_STREAM on HEADERS)", stream_error(P))
def content_length_no_data(t: Target) -> None:
    _malformed(t, _request(t, ("content-length", "5"), method="POST"))


# ---- §8.2 fields and §8.3 pseudo-header fields: malformed requests


def _malformed_case(section: str, description: str, build: Callable[[Target], Fields]) -> None:
    case("http2", section, description, stream_error(P))(lambda t: _malformed(t, build(t)))


def _field(name: str | bytes, value: str | bytes) -> Callable[[Target], Fields]:
    return lambda t: _request(t, (name, value))


def _without(name: str) -> Callable[[Target], Fields]:
    return lambda t: [f for f in _request(t) if f[0] != name]


def _twice(name: str) -> Callable[[Target], Fields]:
    """The pseudo-header `name` repeated, still before :authority (so all pseudo-headers come first)."""
    return lambda t: [*_request(t)[:3], next(f for f in _request(t) if f[0] == name), _request(t)[3]]


_malformed_case("8.2", "Sends a field name with uppercase letters", _field("X-Upper", "1"))
_malformed_case("8.2.1", "Sends a field name containing a space", _field("x name", "1"))
_malformed_case("8.2.1", "Sends a field name containing a colon", _field("x:name", "1"))
_malformed_case("8.2.1", "Sends a field name containing DEL (0x7f)", _field("x-\x7fname", "1"))
_malformed_case("8.2.1", "Sends a field name containing a non-ASCII octet (0xe9)", _field(b"x-\xe9", "1"))
_malformed_case("8.2.1", "Sends a field value containing CR", _field("x-value", "a\rb"))
_malformed_case("8.2.1", "Sends a field value containing LF", _field("x-value", "a\nb"))
_malformed_case("8.2.1", "Sends a field value containing NUL", _field("x-value", "a\x00b"))
_malformed_case("8.2.1", "Sends a field value starting with a space", _field("x-value", " a"))
_malformed_case("8.2.1", "Sends a field value ending with a tab", _field("x-value", "a\t"))
_malformed_case(
    "8.2.2", 'Sends the connection-specific field "connection"', _field("connection", "keep-alive")
)
_malformed_case(
    "8.2.2", 'Sends the connection-specific field "keep-alive"', _field("keep-alive", "timeout=5")
)
_malformed_case(
    "8.2.2", 'Sends the connection-specific field "proxy-connection"', _field("proxy-connection", "close")
)
_malformed_case(
    "8.2.2", 'Sends the connection-specific field "transfer-encoding"', _field("transfer-encoding", "chunked")
)
_malformed_case("8.2.2", 'Sends the connection-specific field "upgrade"', _field("upgrade", "h2c"))
_malformed_case("8.2.2", 'Sends "te" with a value other than "trailers" (gzip)', _field("te", "gzip"))
_malformed_case(
    "8.3", "Sends an unknown pseudo-header field (:foo)", lambda t: [*_request(t), (":foo", "bar")]
)
_malformed_case(
    "8.3",
    "Sends a response pseudo-header (:status) in a request",
    lambda t: [*_request(t), (":status", "200")],
)
_malformed_case(
    "8.3",
    "Sends a pseudo-header field after a regular field",
    lambda t: [*_request(t)[:3], ("x-regular", "1"), _request(t)[3]],
)
_malformed_case("8.3", "Sends :authority twice", _twice(":authority"))
_malformed_case(
    "8.3.1", "Sends an empty :path", lambda t: [(f[0], "" if f[0] == ":path" else f[1]) for f in _request(t)]
)
_malformed_case("8.3.1", "Omits :method", _without(":method"))
_malformed_case("8.3.1", "Omits :scheme", _without(":scheme"))
_malformed_case("8.3.1", "Omits :path", _without(":path"))
_malformed_case("8.3.1", "Sends :method twice", _twice(":method"))
_malformed_case("8.3.1", "Sends :scheme twice", _twice(":scheme"))
_malformed_case("8.3.1", "Sends :path twice", _twice(":path"))


@case("http2", "8.3", "Sends a pseudo-header field in trailers", stream_error(P))
def pseudo_in_trailers(t: Target) -> None:
    c = t.connect()
    _open_post(c)
    c.data(1, b"x", end_stream=False)
    c.headers(1, [(":path", "/trailer")])
    c.expect_rst_stream(1, P)


# ==== hpack: RFC 7541 decoding errors, each a connection error COMPRESSION_ERROR (RFC 9113 §4.3) ====


def _hpack_error(t: Target, block: bytes) -> None:
    c = t.connect()
    c.headers(1, block)
    c.expect_goaway(COMPRESSION)


_DECODING_ERROR = conn_error(COMPRESSION)


@case("hpack", "2.3.3", "Sends an indexed field line with an index beyond both tables (70)", _DECODING_ERROR)
def hpack_index_out_of_range(t: Target) -> None:
    _hpack_error(t, _pseudo(t) + indexed(70))


@case(
    "hpack",
    "2.3.3",
    "Sends a literal field line whose name index is beyond both tables (70)",
    _DECODING_ERROR,
)
def hpack_name_index_out_of_range(t: Target) -> None:
    _hpack_error(t, _pseudo(t) + literal_indexed_name(70, "x"))


@case("hpack", "4.2", "Sends a dynamic table size update at the end of a field block", _DECODING_ERROR)
def hpack_size_update_at_end(t: Target) -> None:
    _hpack_error(t, _pseudo(t) + table_size_update(2048))


@case("hpack", "4.2", "Sends a dynamic table size update after a field line", _DECODING_ERROR)
def hpack_size_update_in_middle(t: Target) -> None:
    rest = encode_fields(_request(t)[1:])
    _hpack_error(t, indexed(2) + table_size_update(2048) + rest)


@case("hpack", "4.3", "References an entry after a size update to 0 emptied the table", _DECODING_ERROR)
def hpack_reference_after_clear(t: Target) -> None:
    c = t.connect()
    c.headers(1, _pseudo(t) + literal("x-entry", "1", indexing="incremental"))
    _ok(c, 1)
    c.headers(3, table_size_update(0) + table_size_update(4096) + _pseudo(t) + indexed(62))
    c.expect_goaway(COMPRESSION)


@case("hpack", "4.4", "References an entry that was evicted to make room for new ones", _DECODING_ERROR)
def hpack_reference_evicted(t: Target) -> None:
    c = t.connect()
    entries = b"".join(literal(f"x-fill-{i}", "f" * 1400, indexing="incremental") for i in range(3))
    c.headers(1, _pseudo(t) + entries)  # 3 x 1440 octets > 4096: x-fill-0 is evicted, 2 entries remain
    _ok(c, 1)
    c.headers(3, _pseudo(t) + indexed(64))
    c.expect_goaway(COMPRESSION)


@case(
    "hpack",
    "5.1",
    "Sends an integer far beyond any limit (an index of 12 continuation octets)",
    _DECODING_ERROR,
)
def hpack_integer_overflow(t: Target) -> None:
    _hpack_error(t, _pseudo(t) + b"\xff" + b"\xff" * 11 + b"\x7f")


@case("hpack", "5.2", "Sends a string literal longer than the rest of the field block", _DECODING_ERROR)
def hpack_string_truncated(t: Target) -> None:
    _hpack_error(t, _pseudo(t) + b"\x00" + hpack_string(b"x-name") + hpack_int(100, 7) + b"short")


@case("hpack", "5.2", "Sends a literal with a string length prefix of 2^32", _DECODING_ERROR)
def hpack_huge_string_length(t: Target) -> None:
    _hpack_error(t, _pseudo(t) + b"\x00" + hpack_string(b"x-big") + hpack_int(2**32, 7) + b"x")


def _huffman_literal(value: bytes) -> bytes:
    """A literal without indexing, name user-agent (static 58), whose value is `value` as the raw
    Huffman-coded octets."""
    return hpack_int(58, 4) + hpack_int(len(value), 7, 0x80) + value


@case("hpack", "5.2", "Sends a Huffman-coded string with more than 7 bits of padding", _DECODING_ERROR)
def hpack_huffman_long_padding(t: Target) -> None:
    # "a" is 00011 (5 bits), then 3 bits of 1s fill the octet; a whole further 0xff octet is too much.
    _hpack_error(t, _pseudo(t) + _huffman_literal(b"\x1f\xff"))


@case(
    "hpack", "5.2", "Sends a Huffman-coded string padded with zeros, not EOS's leading ones", _DECODING_ERROR
)
def hpack_huffman_zero_padding(t: Target) -> None:
    _hpack_error(t, _pseudo(t) + _huffman_literal(b"\x18"))  # "a" (00011) then 000


@case("hpack", "5.2", "Sends a Huffman-coded string containing the EOS symbol", _DECODING_ERROR)
def hpack_huffman_eos(t: Target) -> None:
    # "a" (00011), then EOS (30 ones), then 5 bits of 1s padding: 40 bits.
    bits = "00011" + "1" * 30 + "11111"
    _hpack_error(t, _pseudo(t) + _huffman_literal(int(bits, 2).to_bytes(5, "big")))


@case("hpack", "6.1", "Sends an indexed field line with index 0", _DECODING_ERROR)
def hpack_index_zero(t: Target) -> None:
    _hpack_error(t, _pseudo(t) + indexed(0))


@case("hpack", "6.3", "Sends a dynamic table size update above SETTINGS_HEADER_TABLE_SIZE", _DECODING_ERROR)
def hpack_size_update_too_large(t: Target) -> None:
    c = t.connect()
    c.headers(1, table_size_update(c.header_table_size + 1) + _pseudo(t))
    c.expect_goaway(COMPRESSION)


# ==== running ====================================================================================


def select(only: str | None = None) -> list[Case]:
    """The cases matching `only`: comma-separated patterns, each an id prefix ("http2/6.1", "hpack")
    or a glob ("http2/6.*", "*/5.1/*")."""
    if not only:
        return list(CASES)
    patterns = [p.strip().rstrip("/") for p in only.split(",") if p.strip()]
    return [
        c
        for c in CASES
        if any(fnmatch.fnmatchcase(c.id, p) or c.id == p or c.id.startswith(p + "/") for p in patterns)
    ]


def run_case(item: Case, target: Target) -> Result:
    target = dataclasses.replace(target, opened=[])
    passed, skipped = False, False
    try:
        item.func(target)
        passed, detail = True, ""
    except CaseFailed as failed:
        detail = str(failed)
    except CaseSkipped as skip:
        passed, skipped, detail = True, True, str(skip)
    except OSError as err:
        detail = f"connection failed: {err!r}"
    except Exception as err:  # noqa: BLE001 - a crashing case is reported as that case's failure
        detail = f"the case crashed: {err!r}"
    finally:
        notes = target.close_all()
    if passed and not skipped and notes:
        detail = "; ".join(dict.fromkeys(notes))
    return Result(item.id, item.section, passed, detail, item.description, skipped)


def run_cases(
    host: str,
    port: int,
    tls: bool,
    only: str | None = None,
    *,
    insecure: bool = False,
    cafile: str | None = None,
    timeout: float = 2.0,
    strict_codes: bool = False,
    report: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Runs the selected cases, each on fresh connections, and returns their results in order.

    `only`: see `select`. With `tls`, the certificate is verified against `cafile` (or the system's
    CAs) unless `insecure`. `timeout`: seconds to wait for each expected frame. `strict_codes`: demand
    each case's specific error code, where RFC 9113 §5.4 also lets PROTOCOL_ERROR or INTERNAL_ERROR
    stand in (h2spec's reading). `report` is called with each result as it comes."""
    target = Target(
        host, port, tls=tls, insecure=insecure, cafile=cafile, timeout=timeout, strict_codes=strict_codes
    )
    results: list[Result] = []
    for item in select(only):
        result = run_case(item, target)
        results.append(result)
        if report is not None:
            report(result)
    return results
