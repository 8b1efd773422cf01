"""The sans-I/O HTTP/2 connection, fed raw frames (hyperframe, hpack): no sockets, time as an argument.

Every bound of `H2Limits` is hit here; the frame-level conformance suite (conformance/h2) covers
the RFC 9113 error cases over real sockets.
"""

from __future__ import annotations

from collections.abc import Iterable

import hpack
import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)
from tapster.protocol.http2 import (
    PREFACE,
    ConnectionEnded,
    ErrorCode,
    H2Connection,
    H2Limits,
    StreamData,
    StreamEnded,
    StreamRequest,
    StreamReset,
)

Event = object


class Peer:
    """The client side: builds frames with its own HPACK encoder, parses what the server sends."""

    def __init__(self, limits: H2Limits | None = None) -> None:
        self.server = H2Connection(limits)
        self.server.initiate()
        self.encoder = hpack.Encoder()
        self.now = 0.0
        self.events: list[Event] = []
        self.frames: list[Frame] = []
        self.send(PREFACE + SettingsFrame(0).serialize())

    def send(self, data: bytes) -> list[Event]:
        events = self.server.receive_data(data, self.now)
        self.events += events
        self.read()
        return list(events)

    def send_frames(self, *frames: Frame) -> list[Event]:
        return self.send(b"".join(f.serialize() for f in frames))

    def read(self) -> list[Frame]:
        data = self.server.data_to_send()
        new: list[Frame] = []
        while data:
            frame, length = Frame.parse_frame_header(memoryview(data[:9]))
            frame.parse_body(memoryview(data[9 : 9 + length]))
            data = data[9 + length :]
            new.append(frame)
        self.frames += new
        return new

    def headers(
        self,
        sid: int,
        fields: Iterable[tuple[str, str]] | None = None,
        *,
        end: bool = True,
        path: str = "/",
        method: str = "GET",
        extra: Iterable[tuple[str, str]] = (),
    ) -> HeadersFrame:
        if fields is None:
            fields = [
                (":method", method),
                (":scheme", "http"),
                (":path", path),
                (":authority", "example.com"),
            ]
        frame = HeadersFrame(sid)
        frame.data = self.encoder.encode([*fields, *extra])
        frame.flags.add("END_HEADERS")
        if end:
            frame.flags.add("END_STREAM")
        return frame

    def resets(self) -> dict[int, int]:
        return {f.stream_id: f.error_code for f in self.frames if isinstance(f, RstStreamFrame)}

    def goaway(self) -> GoAwayFrame | None:
        found = [f for f in self.frames if isinstance(f, GoAwayFrame)]
        return found[-1] if found else None


def goaway_code(peer: Peer) -> int | None:
    goaway = peer.goaway()
    return None if goaway is None else int(goaway.error_code)


def data_frame(sid: int, data: bytes, *, end: bool = False) -> DataFrame:
    frame = DataFrame(sid)
    frame.data = data
    if end:
        frame.flags.add("END_STREAM")
    return frame


# ----------------------------------------------------------------------------- requests


def test_a_request_becomes_the_version_neutral_head() -> None:
    peer = Peer()
    events = peer.send_frames(peer.headers(1, path="/a/b?x=1", extra=[("te", "trailers"), ("cookie", "a=1")]))
    request = next(e for e in events if isinstance(e, StreamRequest))
    assert request.stream_id == 1
    assert request.end_stream
    assert request.te_trailers
    head = request.request
    assert (head.method, head.target, head.path, head.query) == (b"GET", b"/a/b?x=1", b"/a/b", b"x=1")
    assert head.http_version == b"2"
    assert (b"host", b"example.com") in head.headers  # :authority, where ASGI apps look for it
    assert not head.has_body


def test_split_cookies_are_joined() -> None:
    peer = Peer()
    events = peer.send_frames(peer.headers(1, extra=[("cookie", "a=1"), ("cookie", "b=2")]))
    request = next(e for e in events if isinstance(e, StreamRequest))
    assert (b"cookie", b"a=1; b=2") in request.request.headers


def test_a_request_fed_byte_by_byte_gives_the_same_events() -> None:
    whole, split = Peer(), Peer()
    frames = (
        split.headers(1, method="POST", end=False).serialize() + data_frame(1, b"body", end=True).serialize()
    )
    whole.send(
        whole.headers(1, method="POST", end=False).serialize() + data_frame(1, b"body", end=True).serialize()
    )
    for i in range(len(frames)):
        split.send(frames[i : i + 1])
    assert [type(e) for e in split.events] == [type(e) for e in whole.events]
    assert b"".join(e.data for e in split.events if isinstance(e, StreamData)) == b"body"


MALFORMED = {
    "uppercase name": [("X-Upper", "1")],
    "connection header": [("connection", "keep-alive")],
    "transfer-encoding": [("transfer-encoding", "chunked")],
    "te other than trailers": [("te", "gzip")],
    "control character in a value": [("x-a", "a\x00b")],
    "leading whitespace in a value": [("x-a", " a")],
    "bad content-length": [("content-length", "12a")],
    "host differs from :authority": [("host", "other.example")],
}


@pytest.mark.parametrize("extra", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_requests_are_stream_errors(extra: list[tuple[str, str]]) -> None:
    peer = Peer()
    events = peer.send_frames(peer.headers(1, extra=extra), peer.headers(3))
    assert StreamReset(1, ErrorCode.PROTOCOL_ERROR, False) in events
    assert any(isinstance(e, StreamRequest) and e.stream_id == 3 for e in events)  # the next one is fine
    assert peer.resets() == {1: ErrorCode.PROTOCOL_ERROR}
    assert peer.goaway() is None


BAD_PSEUDO = {
    "no :path": [(":method", "GET"), (":scheme", "http"), (":authority", "a")],
    "two :method": [(":method", "GET"), (":method", "GET"), (":scheme", "http"), (":path", "/")],
    "unknown pseudo": [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":nope", "1")],
    "pseudo after regular": [(":method", "GET"), (":scheme", "http"), ("x-a", "1"), (":path", "/")],
    "empty :path": [(":method", "GET"), (":scheme", "http"), (":path", "")],
    "relative :path": [(":method", "GET"), (":scheme", "http"), (":path", "a/b")],
    ":protocol without CONNECT": [
        (":method", "GET"),
        (":protocol", "websocket"),
        (":scheme", "http"),
        (":path", "/"),
    ],
    "CONNECT with :path": [(":method", "CONNECT"), (":authority", "a:443"), (":path", "/")],
}


@pytest.mark.parametrize("fields", BAD_PSEUDO.values(), ids=BAD_PSEUDO.keys())
def test_pseudo_header_rules(fields: list[tuple[str, str]]) -> None:
    peer = Peer()
    events = peer.send_frames(peer.headers(1, fields))
    assert StreamReset(1, ErrorCode.PROTOCOL_ERROR, False) in events


def test_content_length_mismatches_are_stream_errors() -> None:
    peer = Peer()
    longer = peer.send_frames(
        peer.headers(1, method="POST", end=False, extra=[("content-length", "2")]),
        data_frame(1, b"abc", end=True),
    )
    assert StreamReset(1, ErrorCode.PROTOCOL_ERROR, False) in longer
    shorter = peer.send_frames(
        peer.headers(3, method="POST", end=False, extra=[("content-length", "5")]),
        data_frame(3, b"abc", end=True),
    )
    assert StreamReset(3, ErrorCode.PROTOCOL_ERROR, False) in shorter
    exact = peer.send_frames(
        peer.headers(5, method="POST", end=False, extra=[("content-length", "3")]),
        data_frame(5, b"abc", end=True),
    )
    assert StreamData(5, b"abc", 3, True) in exact
    assert peer.goaway() is None


def test_frames_for_a_finished_stream_raise_nowhere() -> None:
    peer = Peer()
    peer.send_frames(peer.headers(1, method="POST", end=False))
    peer.server.send_headers(1, [(b":status", b"200")], True)  # answered before the body came
    peer.server.stream_done(1)
    events = peer.send_frames(
        data_frame(1, b"late", end=True),
        WindowUpdateFrame(1, window_increment=10),
        RstStreamFrame(1, error_code=8),
    )
    assert not [e for e in events if isinstance(e, StreamData | StreamRequest)]
    assert peer.goaway() is None


def test_a_stream_reset_later_in_the_same_read_has_no_window() -> None:
    # h2 has moved the stream to CLOSED by the time the read's WindowOpened event is handled:
    # the window says so, and nothing is sent on it (sending would raise StreamClosedError).
    peer = Peer()
    peer.send_frames(peer.headers(1))
    peer.server.send_headers(1, [(b":status", b"200")], False)
    assert peer.server.window(1) == 65535
    events = peer.send_frames(WindowUpdateFrame(0, window_increment=1000), RstStreamFrame(1, error_code=8))
    assert [type(e).__name__ for e in events] == ["WindowOpened", "StreamReset"]
    assert peer.server.window(1) == 0


# ----------------------------------------------------------------------------- connection errors


def test_an_hpack_error_is_a_compression_error() -> None:
    peer = Peer()
    frame = HeadersFrame(1)
    frame.data = b"\xff\xff\xff\xff\xff\x7f"  # an index past every table
    frame.flags.add("END_HEADERS")
    frame.flags.add("END_STREAM")
    events = peer.send_frames(frame)
    assert [e.code for e in events if isinstance(e, ConnectionEnded)] == [ErrorCode.COMPRESSION_ERROR]
    assert goaway_code(peer) == ErrorCode.COMPRESSION_ERROR


def test_the_preface_must_be_followed_by_settings() -> None:
    server = H2Connection()
    server.initiate()
    server.data_to_send()
    events = server.receive_data(PREFACE + PingFrame(0).serialize(), 0.0)
    assert [e.code for e in events if isinstance(e, ConnectionEnded)] == [ErrorCode.PROTOCOL_ERROR]


# ----------------------------------------------------------------------------- bounds


def test_streams_past_the_limit_are_refused() -> None:
    peer = Peer(H2Limits(max_concurrent_streams=2))
    events = peer.send_frames(*(peer.headers(sid, end=False, method="POST") for sid in (1, 3, 5)))
    assert [e.stream_id for e in events if isinstance(e, StreamRequest)] == [1, 3]
    assert peer.resets() == {5: ErrorCode.REFUSED_STREAM}
    peer.server.send_headers(1, [(b":status", b"200")], True)
    peer.server.reset(1, ErrorCode.NO_ERROR)
    more = peer.send_frames(peer.headers(7))
    assert [e.stream_id for e in more if isinstance(e, StreamRequest)] == [7]


def test_rapid_reset_ends_the_connection() -> None:
    peer = Peer(H2Limits(max_resets=10, resets_per_second=1.0))
    for sid in range(1, 21, 2):
        peer.send_frames(peer.headers(sid, end=False), RstStreamFrame(sid, error_code=8))
    assert peer.goaway() is None  # ten is the burst
    peer.send_frames(peer.headers(21, end=False), RstStreamFrame(21, error_code=8))
    assert goaway_code(peer) == ErrorCode.ENHANCE_YOUR_CALM


def test_resets_spread_over_time_are_fine() -> None:
    peer = Peer(H2Limits(max_resets=10, resets_per_second=1.0))
    for sid in range(1, 61, 2):
        peer.now += 1.0
        peer.send_frames(peer.headers(sid, end=False), RstStreamFrame(sid, error_code=8))
    assert peer.goaway() is None


def ping(i: int) -> PingFrame:
    return PingFrame(0, opaque_data=i.to_bytes(8, "big"))


def small_update(i: int) -> WindowUpdateFrame:
    return WindowUpdateFrame(0, window_increment=1)


def settings(i: int) -> SettingsFrame:
    return SettingsFrame(0, settings={SettingsFrame.HEADER_TABLE_SIZE: 4096})


def priority(i: int) -> PriorityFrame:
    return PriorityFrame(2 * i + 1, depends_on=0, stream_weight=16)


FLOODS = {"PING": ping, "small WINDOW_UPDATE": small_update, "SETTINGS": settings, "PRIORITY": priority}


@pytest.mark.parametrize("make", FLOODS.values(), ids=FLOODS.keys())
def test_control_frame_floods_end_the_connection(make: object) -> None:
    assert callable(make)
    peer = Peer(H2Limits(max_control_frames=50, control_frames_per_second=1.0))
    peer.send_frames(*(make(i) for i in range(49)))  # (the client's first SETTINGS took one)
    assert peer.goaway() is None
    peer.send_frames(make(100), make(101))
    assert goaway_code(peer) == ErrorCode.ENHANCE_YOUR_CALM


def test_an_empty_data_flood_ends_the_connection() -> None:
    peer = Peer(H2Limits(max_control_frames=20, control_frames_per_second=1.0))
    peer.send_frames(peer.headers(1, method="POST", end=False))
    peer.send_frames(*(data_frame(1, b"") for _ in range(25)))
    assert goaway_code(peer) == ErrorCode.ENHANCE_YOUR_CALM


def test_large_window_updates_spend_no_budget() -> None:
    peer = Peer(H2Limits(max_control_frames=5, control_frames_per_second=1.0))
    peer.send_frames(*(WindowUpdateFrame(0, window_increment=65536) for _ in range(50)))
    assert peer.goaway() is None


def test_the_header_block_is_bounded_across_continuation_frames() -> None:
    peer = Peer(H2Limits(max_header_list_size=4096))
    frame = HeadersFrame(1)
    frame.data = peer.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/")])
    peer.send_frames(frame)  # no END_HEADERS: CONTINUATION frames follow
    for _ in range(3):
        continuation = ContinuationFrame(1)
        continuation.data = b"\x00" * 1500
        peer.send_frames(continuation)
    assert goaway_code(peer) == ErrorCode.ENHANCE_YOUR_CALM


def test_an_oversized_header_list_ends_the_connection() -> None:
    peer = Peer(H2Limits(max_header_list_size=1024))
    events = peer.send_frames(peer.headers(1, extra=[("x-big", "v" * 2000)]))
    assert any(isinstance(e, ConnectionEnded) for e in events)
    assert peer.goaway() is not None


# ----------------------------------------------------------------------------- GOAWAY


def test_a_graceful_goaway_refuses_new_streams_and_lets_open_ones_finish() -> None:
    peer = Peer()
    peer.send_frames(peer.headers(1, method="POST", end=False))
    peer.server.goaway("bye")
    peer.read()
    goaway = peer.goaway()
    assert goaway is not None
    assert (goaway.error_code, goaway.last_stream_id) == (0, 1)
    events = peer.send_frames(peer.headers(3), data_frame(1, b"x", end=True))
    assert peer.resets() == {3: ErrorCode.REFUSED_STREAM}
    assert StreamData(1, b"x", 1, True) in events
    peer.server.send_headers(1, [(b":status", b"200")], True)  # still allowed after our GOAWAY
    assert any(isinstance(f, HeadersFrame) and f.stream_id == 1 for f in peer.read())


def test_after_the_clients_goaway_open_streams_are_still_answered() -> None:
    peer = Peer()
    peer.send_frames(peer.headers(1))
    events = peer.send_frames(GoAwayFrame(0, last_stream_id=0, error_code=0))
    assert ConnectionEnded(0, 0, "", True) in events
    peer.server.send_headers(1, [(b":status", b"200")], False)
    peer.server.send_data(1, b"late answer", True)
    frames = peer.read()
    assert any(isinstance(f, DataFrame) and f.data == b"late answer" for f in frames)


def test_end_stream_without_data_is_reported() -> None:
    peer = Peer()
    peer.send_frames(peer.headers(1, method="POST", end=False))
    events = peer.send_frames(data_frame(1, b"", end=True))
    assert StreamData(1, b"", 0, True) in events or StreamEnded(1) in events
