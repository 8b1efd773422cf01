"""The one place tapster leans on the h2 library's internals (STYLE.md #23).

Checked against h2 4.4.1 (constraints.txt pins it; pyproject.toml allows 4.4.x only);
`tests/protocol/test_h2_fence.py` fails when the names used here change. What is changed, and why:

- `open_inbound_streams`: h2 turns a HEADERS frame past SETTINGS_MAX_CONCURRENT_STREAMS into a
  connection error; RFC 9113 §5.1.2 makes it a stream error (we answer REFUSED_STREAM in
  `http2.py`). The property still runs (once 64 streams are held), as reading it is how h2 prunes
  closed streams.
- content-length: h2 raises a connection error for a bad or mismatched request Content-Length;
  RFC 9113 §8.1.1 makes that a malformed request, a stream error: `http2.py` checks it instead.
- the header block being collected across CONTINUATION frames (`header_block_size`), so that a
  CONTINUATION flood (CVE-2024-27316 class) is bounded by bytes, not only by h2's frame count.
- a GOAWAY from the client: h2 then refuses to send anything more and drops what is queued, but
  RFC 9113 §6.8 lets the streams the client already opened complete (its last-stream-id speaks
  of streams *we* would open): the event is reported and the connection stays usable.
- RST_STREAM on an idle stream: h2 ignores it; RFC 9113 §6.4 makes it a connection error.
- DATA frames (`send_data_frames`): h2 builds a frame object per 16 KiB and copies the body several
  times on its way out; here the frames are a 9-byte header and a view of the app's body, while the
  stream's state machine and both send windows are moved exactly as h2's own `send_data` moves them.
- a final response's HEADERS (`send_response_headers`): encoded with the static table only
  (`_hpack.py`; h2's own encoder when a table size update is owed), framed here, the stream's state
  machine moved as h2's `send_headers` moves it; interim responses, trailers and pushes still go
  through h2.
- receiving a frame (`_receive_frame`): h2's own formats `repr(frame)` for a trace log line before
  it looks at the logging level, and a DATA frame's repr hexlifies its whole payload (16 KiB of
  request body: a tenth of the server's time on uploads). The override is h2's dispatch and its
  handling of frames on closed streams, without that line.
- settings (`compact_settings`): h2 keeps every setting of both directions in a `deque` (about
  540 bytes each, a dozen per connection, two thirds of an idle connection's memory); a list with a
  `popleft` holds the same one or two values in a tenth of that.
"""

from __future__ import annotations

from typing import Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes, _error_code_from_int
from h2.events import ConnectionTerminated, Event
from h2.exceptions import ProtocolError, StreamClosedError, StreamIDTooLowError
from h2.stream import H2Stream, StreamInputs
from hyperframe.frame import Frame, GoAwayFrame, RstStreamFrame

from ._h2frames import FrameBuffer
from ._hpack import MemoDecoder, encode_response

__all__ = [
    "ServerConnection",
    "compact_settings",
    "header_block_size",
    "release_closed_streams",
    "send_data_frames",
    "send_response_headers",
]


class _LenientStream(H2Stream):
    """An h2 stream that leaves request Content-Length checks to tapster (stream errors)."""

    def _initialize_content_length(self, headers: Any) -> None:
        self._expected_content_length = None

    def _track_content_length(self, length: int, end_stream: bool) -> None:
        self._actual_content_length += length


# h2 walks every stream it holds to prune the closed ones each time a stream opens; doing it only
# once this many are held keeps that walk off the per-request path (an idle connection is pruned
# by release_closed_streams()).
_PRUNE_AT = 64


class ServerConnection(H2Connection):
    def __init__(self, config: H2Configuration | None = None) -> None:
        super().__init__(config)
        # A repeated request head decoded once (_hpack.MemoDecoder); nothing has used the decoder yet.
        limit = self.decoder.max_header_list_size
        self.decoder = MemoDecoder(limit)
        # Frames made faster (_h2frames.FrameBuffer); nothing has been received yet.
        self.incoming_buffer = FrameBuffer(server=not self.config.client_side)

    @property
    def open_inbound_streams(self) -> int:
        if len(self.streams) >= _PRUNE_AT:
            H2Connection.open_inbound_streams.fget(self)  # type: ignore[attr-defined]  # prunes closed streams
        return 0  # the concurrent-stream limit is enforced as a stream error by tapster

    def _receive_frame(self, frame: Frame) -> list[Event]:
        # h2's _receive_frame without its eager repr(frame) (see the module's docstring).
        frames: list[Frame]
        events: list[Event]
        try:
            frames, events = self._frame_dispatch_table[frame.__class__](frame)
        except StreamClosedError as exc:
            if not self._stream_is_closed_by_reset(exc.stream_id):
                raise  # closed by END_STREAM: a connection error
            reset = RstStreamFrame(exc.stream_id)
            reset.error_code = exc.error_code
            self._prepare_for_sending([reset])
            return list(exc._events)
        except StreamIDTooLowError as exc:
            if self._stream_is_closed_by_reset(exc.stream_id):
                reset = RstStreamFrame(exc.stream_id)
                reset.error_code = ErrorCodes.STREAM_CLOSED
                self._prepare_for_sending([reset])
                return []
            if self._stream_is_closed_by_end(exc.stream_id):
                raise StreamClosedError(exc.stream_id) from exc
            raise  # closed implicitly by a higher stream id: PROTOCOL_ERROR
        self._prepare_for_sending(frames)
        return events

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[Event]]:
        event = ConnectionTerminated()
        event.error_code = _error_code_from_int(frame.error_code)
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]

    def _receive_rst_stream_frame(self, frame: RstStreamFrame) -> tuple[list[Frame], list[Event]]:
        sid = frame.stream_id
        if sid > (self.highest_inbound_stream_id if sid % 2 else self.highest_outbound_stream_id):
            raise ProtocolError("RST_STREAM on an idle stream (RFC 9113 §6.4)")
        return super()._receive_rst_stream_frame(frame)

    def _begin_new_stream(self, stream_id: int, allowed_ids: Any) -> H2Stream:
        stream = super()._begin_new_stream(stream_id, allowed_ids)
        stream.__class__ = _LenientStream  # same layout, two methods replaced
        return stream


def header_block_size(conn: H2Connection) -> int:
    """Bytes of a header block received so far whose END_HEADERS has not arrived yet."""
    return sum(len(frame.data) for frame in conn.incoming_buffer._headers_buffer)


def release_closed_streams(conn: H2Connection) -> None:
    """Prune the closed streams h2 still holds (reading the property does it; see above)."""
    H2Connection.open_inbound_streams.fget(conn)  # type: ignore[attr-defined]


def _stream(conn: H2Connection, stream_id: int) -> H2Stream:
    stream = conn.streams.get(stream_id)
    if stream is None:
        conn._get_stream_by_id(stream_id)  # raises the error h2 would (closed, or no such stream)
        raise AssertionError("unreachable")
    return stream


def send_response_headers(
    conn: H2Connection,
    stream_id: int,
    headers: list[tuple[bytes, bytes]],
    end_stream: bool,
    out: list[bytes | memoryview],
) -> None:
    """Append to `out` the HEADERS (and CONTINUATION) frames of a final response on `stream_id`.
    Raises h2's StreamClosedError / ProtocolError (nothing appended) where h2's send_headers would."""
    machine = _stream(conn, stream_id).state_machine
    machine.process_input(StreamInputs.SEND_HEADERS)
    if end_stream:
        machine.process_input(StreamInputs.SEND_END_STREAM)
    block = encode_response(conn.encoder, headers)
    if block is None:
        block = conn.encoder.encode(headers)  # a table size update is owed: h2's encoder says it
    limit = conn.max_outbound_frame_size
    sid = stream_id.to_bytes(4, "big")
    end = 0x1 if end_stream else 0
    if len(block) <= limit:
        out.append(len(block).to_bytes(3, "big") + b"\x01" + (0x4 | end).to_bytes(1, "big") + sid + block)
        return
    first, rest = block[:limit], block[limit:]
    out.append(len(first).to_bytes(3, "big") + b"\x01" + end.to_bytes(1, "big") + sid + first)
    while rest:
        piece, rest = rest[:limit], rest[limit:]
        flags = b"\x04" if not rest else b"\x00"  # END_HEADERS on the last CONTINUATION
        out.append(len(piece).to_bytes(3, "big") + b"\x09" + flags + sid + piece)


def send_data_frames(
    conn: H2Connection,
    stream_id: int,
    data: bytes | memoryview,
    end_stream: bool,
    out: list[bytes | memoryview],
) -> None:
    """Append to `out` the DATA frames that carry `data` on `stream_id` (END_STREAM on the last),
    after checking the stream may send; the caller keeps within `local_flow_control_window()`.
    Raises h2's StreamClosedError / ProtocolError (nothing appended) where h2's send_data would."""
    stream = _stream(conn, stream_id)
    machine = stream.state_machine
    machine.process_input(StreamInputs.SEND_DATA)
    if end_stream:
        machine.process_input(StreamInputs.SEND_END_STREAM)
    size = len(data)
    stream.outbound_flow_control_window -= size
    conn.outbound_flow_control_window -= size
    limit = conn.max_outbound_frame_size
    sid = stream_id.to_bytes(4, "big")
    if size <= limit:
        out.append(size.to_bytes(3, "big") + (b"\x00\x01" if end_stream else b"\x00\x00") + sid)
        if size:
            out.append(data)
        return
    view = data if isinstance(data, memoryview) else memoryview(data)
    last = size - limit
    for start in range(0, size, limit):
        piece = view[start : start + limit]
        final = end_stream and start >= last
        out.append(len(piece).to_bytes(3, "big") + (b"\x00\x01" if final else b"\x00\x00") + sid)
        out.append(piece)


class _Values(list[int]):
    """What h2's Settings does with a setting's values: [0], append, popleft, len."""

    __slots__ = ()

    def popleft(self) -> int:
        return self.pop(0)


def compact_settings(conn: H2Connection) -> None:
    """Hold each setting's values of both directions in a small list instead of a deque."""
    for settings in (conn.local_settings, conn.remote_settings):
        values: dict[Any, Any] = settings._settings
        for key, queue in values.items():
            if type(queue) is not _Values:
                values[key] = _Values(queue)
