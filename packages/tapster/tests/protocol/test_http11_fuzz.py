"""Property tests for the HTTP/1.1 parser (STYLE.md #13).

1. Anything at all: it parses, or raises RemoteProtocolError with a status to answer, never anything
   else, however the bytes are split and whether or not EOF follows.
2. Valid requests, whole, byte by byte, or split at random points: the same events, the ones we sent.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st
from tapster.errors import RemoteProtocolError
from tapster.protocol import (
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

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATUSES = {400, 414, 417, 431, 501, 505}
# Tight limits make the fuzzer reach the limit checks too; the defaults are covered as well.
LIMITS = [H11Limits(), H11Limits(max_head_size=200, max_headers=6, max_chunk_extensions=24)]


def drain(conn: H11Connection) -> list[Event]:
    """Events until more data is needed; each complete request is answered and the cycle restarted."""
    events: list[Event] = []
    while True:
        event = conn.next_event()
        if event is PAUSED:
            if conn.server_state is State.IDLE:
                conn.response_head(200, [], body=b"ok")
            if not conn.keep_alive:
                return events  # answered with close: nothing more is read
            conn.start_next_cycle()
            continue
        if isinstance(event, Sentinel):  # NEED_DATA
            return events
        if isinstance(event, Data) and events and isinstance(events[-1], Data):
            events[-1] = Data(events[-1].data + event.data)
        else:
            events.append(event)
        if isinstance(event, ConnectionClosed):
            return events


def run(pieces: Iterable[bytes], eof: bool, limits: H11Limits | None = None) -> list[Event]:
    """Feed the pieces (and EOF); the events, merged. RemoteProtocolError passes through."""
    conn = H11Connection(limits)
    events: list[Event] = []
    error: RemoteProtocolError | None = None
    try:
        for piece in pieces:
            if piece:  # b"" would mean EOF
                conn.receive_data(piece)
                events += drain(conn)
        if eof:
            conn.receive_data(b"")
            events += drain(conn)
    except RemoteProtocolError as exc:
        error = exc
    if error is not None:
        assert error.status_hint in STATUSES, error
        assert str(error), "an error says what is wrong"
        assert conn.client_state is State.ERROR
        raise error
    return merged(events)


def merged(events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for event in events:
        if isinstance(event, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)
    return out


def outcome(pieces: Iterable[bytes], eof: bool, limits: H11Limits | None = None) -> list[Event] | int:
    """The events, or the status of the RemoteProtocolError. Any other exception fails the test."""
    try:
        return run(pieces, eof, limits)
    except RemoteProtocolError as exc:
        return exc.status_hint


def cut(data: bytes, points: Sequence[int]) -> list[bytes]:
    bounds = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# ----------------------------------------------------------------- arbitrary bytes

# Bytes that matter to the grammar, so random input gets past the first check now and then.
_INTERESTING = [
    b"GET / HTTP/1.1\r\n",
    b"POST /x HTTP/1.0\r\n",
    b"Host: a\r\n",
    b"Content-Length: 3\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: close\r\n",
    b"Expect: 100-continue\r\n",
    b"\r\n",
    b"\r",
    b"\n",
    b" ",
    b"\t",
    b":",
    b";",
    b"0\r\n",
    b"5;a=b\r\nhello\r\n",
    b"\x00",
    b"\xff",
]
chunks = st.lists(st.one_of(st.sampled_from(_INTERESTING), st.binary(max_size=20)), max_size=30)


@FUZZ
@given(pieces=chunks, eof=st.booleans(), limits=st.sampled_from(LIMITS))
def test_arbitrary_bytes_parse_or_raise_remote_protocol_error(
    pieces: list[bytes], eof: bool, limits: H11Limits
) -> None:
    outcome(pieces, eof, limits)


@FUZZ
@given(data=st.binary(max_size=300), points=st.lists(st.integers(0, 300), max_size=8), eof=st.booleans())
def test_raw_binary_parse_or_raise_remote_protocol_error(data: bytes, points: list[int], eof: bool) -> None:
    outcome(cut(data, points), eof)


# ----------------------------------------------------------------- valid requests

TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.binary(min_size=1, max_size=8).map(lambda b: bytes(TCHAR[x % len(TCHAR)] for x in b))
_VCHAR = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))
visible = st.binary(min_size=1, max_size=6).map(lambda b: bytes(_VCHAR[x % len(_VCHAR)] for x in b))
field_values = st.lists(st.one_of(st.sampled_from([b" ", b"\t"]), visible), max_size=6).map(b"".join)
ows = st.sampled_from([b"", b" ", b"\t", b"  \t "])
_PCHAR = b"abcXYZ019-._~!$&'()*+,;=:@%/"
paths = st.binary(max_size=12).map(lambda b: b"/" + bytes(_PCHAR[x % len(_PCHAR)] for x in b))
_QCHAR = _PCHAR + b"?"
queries = st.one_of(
    st.none(), st.binary(max_size=10).map(lambda b: bytes(_QCHAR[x % len(_QCHAR)] for x in b))
)


@dataclass(frozen=True)
class Sent:
    """A valid request and what the parser must report for it."""

    raw: bytes
    method: bytes
    path: bytes
    query: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    has_body: bool
    keep_alive: bool


def _hex(n: int, upper: bool, zeros: int) -> bytes:
    text = b"%X" % n if upper else b"%x" % n
    return b"0" * zeros + text


@st.composite
def chunked_bodies(draw: st.DrawFn, body: bytes) -> bytes:
    """`body` in chunks of random sizes, with random size spellings, extensions and trailers."""
    out = b""
    rest = body
    exts = st.sampled_from([b"", b";a", b";a=b", b' ;q="x y"', b"\t;n\t=\tv"])
    while rest:
        size = draw(st.integers(1, len(rest)))
        ext = draw(exts)
        out += (
            _hex(size, draw(st.booleans()), draw(st.integers(0, 2))) + ext + b"\r\n" + rest[:size] + b"\r\n"
        )
        rest = rest[size:]
    out += b"0" + draw(exts) + b"\r\n"
    for name, value in draw(st.lists(st.tuples(tokens, field_values), max_size=2)):
        out += b"x-t-" + name + b":" + value + b"\r\n"
    return out + b"\r\n"


@st.composite
def requests(draw: st.DrawFn) -> Sent:
    version = draw(st.sampled_from([b"1.1", b"1.0"]))
    framing = draw(
        st.sampled_from(["none", "length", "chunked"] if version == b"1.1" else ["none", "length"])
    )
    body = draw(st.binary(max_size=60)) if framing != "none" else b""
    method = draw(st.one_of(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH"]), tokens))
    path = draw(paths)
    query = draw(queries)
    form = draw(st.sampled_from(["origin", "absolute", "asterisk"]))
    if form == "asterisk":
        method, path, query, target = b"OPTIONS", b"*", None, b"*"
    elif form == "absolute":
        target = b"http://example.com:8080" + path
    else:
        target = path
    if query is not None:
        target += b"?" + query

    fields = [
        (b"x-" + name, value) for name, value in draw(st.lists(st.tuples(tokens, field_values), max_size=5))
    ]
    if version == b"1.1":
        fields.insert(draw(st.integers(0, len(fields))), (b"Host", b"example.com"))
    if framing == "length":
        fields.append((b"Content-Length", b"%d" % len(body)))
    elif framing == "chunked":
        fields.append((b"Transfer-Encoding", b"chunked"))
    connection = draw(st.sampled_from([None, b"close", b"keep-alive"]))
    if connection is not None:
        fields.append((b"Connection", connection))
    keep_alive = connection == b"keep-alive" or (version == b"1.1" and connection is None)

    raw = draw(st.sampled_from([b"", b"\r\n", b"\r\n\r\n"]))
    raw += method + b" " + target + b" HTTP/" + version + b"\r\n"
    for name, value in fields:
        raw += name + b":" + draw(ows) + value + draw(ows) + b"\r\n"
    raw += b"\r\n"
    if framing == "length":
        raw += body
    elif framing == "chunked":
        raw += draw(chunked_bodies(body))
    expected_headers = [(name.lower(), value.strip(b" \t")) for name, value in fields]
    if form == "absolute":
        # RFC 9112 §3.2.2: the target's authority replaces (or supplies) the Host header.
        expected_headers = [(n, b"example.com:8080" if n == b"host" else v) for n, v in expected_headers]
        if version != b"1.1":
            expected_headers.append((b"host", b"example.com:8080"))
    return Sent(
        raw=raw,
        method=method,
        path=path,
        query=query or b"",
        version=version,
        headers=expected_headers,
        body=body,
        has_body=framing == "chunked" or bool(body),
        keep_alive=keep_alive,
    )


def check_first(events: list[Event], sent: Sent) -> None:
    """The first request came out as it was sent."""
    request = events[0]
    assert isinstance(request, Request)
    assert request.method == sent.method
    assert (request.path, request.query) == (sent.path, sent.query)
    assert request.http_version == sent.version
    assert request.headers == sent.headers
    assert request.keep_alive is sent.keep_alive
    assert request.has_body is sent.has_body
    body_events = events[1 : events.index(EndOfMessage())] if request.has_body else []
    assert b"".join(e.data for e in body_events if isinstance(e, Data)) == sent.body


@FUZZ
@given(batch=st.lists(requests(), min_size=1, max_size=3), data=st.data())
def test_valid_requests_give_the_same_events_however_split(batch: list[Sent], data: st.DataObject) -> None:
    raw = b"".join(sent.raw for sent in batch)
    whole = run([raw], eof=False)
    check_first(whole, batch[0])
    assert run([raw[i : i + 1] for i in range(len(raw))], eof=False) == whole
    points = data.draw(st.lists(st.integers(0, len(raw)), max_size=10))
    assert run(cut(raw, points), eof=False) == whole
    # Every request up to the first that asks to close is read, in order.
    expected = 0
    for sent in batch:
        expected += 1
        if not sent.keep_alive:
            break
    assert sum(isinstance(e, Request) for e in whole) == expected
    # EOF once every request was read is a clean close; requests after a "close" are never read.
    with_eof = run([raw], eof=True)
    assert with_eof == ([*whole, ConnectionClosed()] if expected == len(batch) else whole)


# ----------------------------------------------------------------- mutated valid requests

mutations = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "replace", "duplicate", "truncate"]),
        st.integers(0, 10_000),
        st.sampled_from([b"\r", b"\n", b" ", b"\t", b":", b"\x00", b"\x7f", b"\xff", b"0", b";", b",", b"#"]),
    ),
    min_size=1,
    max_size=4,
)


def mutate(raw: bytes, ops: list[tuple[str, int, bytes]]) -> bytes:
    for op, at, byte in ops:
        i = at % (len(raw) + 1)
        if op == "insert":
            raw = raw[:i] + byte + raw[i:]
        elif op == "delete":
            raw = raw[:i] + raw[i + 1 :]
        elif op == "replace":
            raw = raw[:i] + byte + raw[i + 1 :]
        elif op == "duplicate":
            raw = raw[:i] + raw[i : i + 8] + raw[i:]
        else:
            raw = raw[:i]
    return raw


@FUZZ
@given(sent=requests(), ops=mutations, points=st.lists(st.integers(0, 10_000), max_size=6), eof=st.booleans())
def test_mutated_requests_parse_or_raise_remote_protocol_error(
    sent: Sent, ops: list[tuple[str, int, bytes]], points: list[int], eof: bool
) -> None:
    raw = mutate(sent.raw, ops)
    whole = outcome([raw], eof)
    note_event(f"rejected with {whole}" if isinstance(whole, int) else "parsed")
    # Split or whole, the same verdict: never a request that parses one way and fails another.
    assert outcome(cut(raw, points), eof) == whole
