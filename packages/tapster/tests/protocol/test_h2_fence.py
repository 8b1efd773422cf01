"""The h2 internals tapster.protocol._h2fence relies on are still there and still behave as that
module assumes. A failure here means: h2 changed; re-check _h2fence.py before raising the bound."""

from __future__ import annotations

import inspect

import h2
import h2.connection
import h2.errors
import h2.events
import h2.stream
import pytest
from h2.frame_buffer import FrameBuffer
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, RstStreamFrame, SettingsFrame
from tapster.protocol._h2fence import ServerConnection, header_block_size, release_closed_streams
from tapster.protocol.http2 import PREFACE, ErrorCode, H2Connection


def test_the_version_is_the_one_checked() -> None:
    assert h2.__version__.startswith("4.4."), h2.__version__


def test_the_private_names_exist() -> None:
    conn_cls = h2.connection.H2Connection
    assert isinstance(conn_cls.__dict__["open_inbound_streams"], property)
    for name in ("_open_streams", "_begin_new_stream", "_receive_goaway_frame", "_receive_rst_stream_frame"):
        assert callable(getattr(conn_cls, name)), name
    assert list(inspect.signature(conn_cls._begin_new_stream).parameters) == [
        "self",
        "stream_id",
        "allowed_ids",
    ]
    for name in ("_initialize_content_length", "_track_content_length"):
        assert callable(getattr(h2.stream.H2Stream, name)), name
    assert callable(h2.errors._error_code_from_int)
    assert list(inspect.signature(conn_cls._receive_frame).parameters) == ["self", "frame"]
    for name in ("_stream_is_closed_by_reset", "_stream_is_closed_by_end", "_prepare_for_sending"):
        assert callable(getattr(conn_cls, name)), name
    assert "_frame_dispatch_table" in ServerConnection(h2.config.H2Configuration(client_side=False)).__dict__
    assert "_headers_buffer" in FrameBuffer().__dict__


def _serve(conn: h2.connection.H2Connection) -> None:
    conn.initiate_connection()
    conn.receive_data(PREFACE + SettingsFrame(0).serialize())
    conn.data_to_send()


def test_reading_open_inbound_streams_prunes_closed_streams() -> None:
    conn = ServerConnection(h2.config.H2Configuration(client_side=False))
    _serve(conn)
    import hpack

    block = hpack.Encoder().encode(
        [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "a")]
    )
    frame = HeadersFrame(1, data=block, flags=["END_HEADERS", "END_STREAM"])
    conn.receive_data(frame.serialize())
    conn.send_headers(1, [(":status", "200")], end_stream=True)
    assert 1 in conn.streams
    assert conn.open_inbound_streams == 0  # ours: the limit is enforced by tapster
    release_closed_streams(conn)
    assert 1 not in conn.streams  # h2's pruning ran


def test_the_stream_class_can_be_swapped() -> None:
    conn = ServerConnection(h2.config.H2Configuration(client_side=False))
    _serve(conn)
    stream = conn._begin_new_stream(1, h2.connection.AllowedStreamIDs.ODD)
    assert type(stream).__name__ == "_LenientStream"
    assert stream._expected_content_length is None
    stream._track_content_length(5, True)  # h2 would check it against content-length here
    assert stream._actual_content_length == 5


def test_hpack_errors_leave_the_goaway_last_where_the_code_is_rewritten() -> None:
    server = H2Connection()
    server.initiate()
    server.receive_data(PREFACE + SettingsFrame(0).serialize(), 0.0)
    server.data_to_send()
    frame = HeadersFrame(1, data=b"\xff\xff\xff\xff\xff\x7f", flags=["END_HEADERS", "END_STREAM"])
    server.receive_data(frame.serialize(), 0.0)
    data = server.data_to_send()
    goaways = []
    while data:
        parsed, length = Frame.parse_frame_header(memoryview(data[:9]))
        parsed.parse_body(memoryview(data[9 : 9 + length]))
        data = data[9 + length :]
        if isinstance(parsed, GoAwayFrame):
            goaways.append(parsed.error_code)
    assert goaways == [ErrorCode.COMPRESSION_ERROR]  # replaced in place, not appended


def test_the_header_block_in_progress_is_measured() -> None:
    conn = ServerConnection(h2.config.H2Configuration(client_side=False))
    _serve(conn)
    conn.receive_data(HeadersFrame(1, data=b"\x82" * 100).serialize())  # no END_HEADERS
    assert header_block_size(conn) == 100


def test_many_finished_streams_are_pruned_as_new_ones_open() -> None:
    import hpack

    conn = ServerConnection(h2.config.H2Configuration(client_side=False))
    _serve(conn)
    encoder = hpack.Encoder()
    for sid in range(1, 400, 2):
        block = encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "a")])
        conn.receive_data(HeadersFrame(sid, data=block, flags=["END_HEADERS", "END_STREAM"]).serialize())
        conn.send_headers(sid, [(":status", "200")], end_stream=True)
    assert len(conn.streams) <= 64  # bounded, though nothing but new streams prunes them


def test_compacted_settings_still_change_and_acknowledge() -> None:
    import collections

    from h2.settings import SettingCodes
    from tapster.protocol._h2fence import compact_settings

    conn = ServerConnection(h2.config.H2Configuration(client_side=False))
    assert isinstance(conn.local_settings._settings[SettingCodes.INITIAL_WINDOW_SIZE], collections.deque)
    compact_settings(conn)
    settings = conn.local_settings
    settings[SettingCodes.INITIAL_WINDOW_SIZE] = 1000  # pending until acknowledged, as in h2
    assert settings.initial_window_size == 65535
    changed = settings.acknowledge()
    assert changed[SettingCodes.INITIAL_WINDOW_SIZE].new_value == 1000
    assert settings.initial_window_size == 1000


def _request(sid: int, end_stream: bool) -> bytes:
    import hpack

    fields = [(":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", "a")]
    block = hpack.Encoder().encode(fields)
    flags = ["END_HEADERS", "END_STREAM"] if end_stream else ["END_HEADERS"]
    return bytes(HeadersFrame(sid, data=block, flags=flags).serialize())


# Frames on streams in every kind of closed state, which _receive_frame's error handling sorts into
# stream errors (RST_STREAM) and connection errors (GOAWAY). Each byte string follows the preface.
_DATA = bytes(DataFrame(1, b"x").serialize())
_CLOSED_STREAM_CASES = {
    "data after the client reset": _request(1, False) + RstStreamFrame(1).serialize() + _DATA,
    "data after the client's END_STREAM": _request(1, True) + _DATA,
    "headers on a stream closed implicitly": _request(3, True) + _request(1, True),
    "data on a stream closed implicitly": _request(3, True) + _DATA,
    "headers after the client reset": _request(1, False) + RstStreamFrame(1).serialize() + _request(1, True),
}


@pytest.mark.parametrize("case", list(_CLOSED_STREAM_CASES))
def test_receiving_frames_on_closed_streams_matches_h2(case: str) -> None:
    # The override must be h2's _receive_frame but for the trace log: same events, same frames
    # written, same connection errors.
    outcomes = []
    for cls in (h2.connection.H2Connection, ServerConnection):
        conn = cls(h2.config.H2Configuration(client_side=False))
        _serve(conn)
        try:
            events = conn.receive_data(_CLOSED_STREAM_CASES[case])
            result: object = [type(e).__name__ for e in events]
        except h2.exceptions.ProtocolError as exc:
            result = (type(exc).__name__, str(exc))
        outcomes.append((result, conn.data_to_send()))
    assert outcomes[0] == outcomes[1]


def test_receiving_a_data_frame_never_formats_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Frame) -> str:
        raise AssertionError("a received frame was formatted")

    conn = ServerConnection(h2.config.H2Configuration(client_side=False))
    _serve(conn)
    monkeypatch.setattr(Frame, "__repr__", refuse)
    upload = DataFrame(1, b"x" * 16384, flags=["END_STREAM"]).serialize()
    events = conn.receive_data(_request(1, False) + upload)
    assert [type(e).__name__ for e in events] == ["RequestReceived", "DataReceived", "StreamEnded"]
