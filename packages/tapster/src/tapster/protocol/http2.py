"""A sans-I/O HTTP/2 server connection (RFC 9113) on the h2 library: bytes in, events out.

h2 does the framing, HPACK, stream states and flow-control accounting. This module adds what a
strict server needs on top, and corrects what h2 does differently from the RFC for a server:

- requests are validated here (RFC 9113 §8.1.1, §8.2, §8.3) and a malformed one is a *stream*
  error (RST_STREAM PROTOCOL_ERROR) that leaves the other streams alone; h2's own inbound checks,
  which end the whole connection, are off;
- an HPACK decoding error is a COMPRESSION_ERROR (RFC 9113 §4.3), not h2's PROTOCOL_ERROR;
- a stream past the concurrent-stream limit is refused (REFUSED_STREAM, §5.1.2);
- floods are bounded: client resets (rapid reset, CVE-2023-44487), SETTINGS, PING, PRIORITY,
  WINDOW_UPDATE and empty DATA frames, each on a budget that refills with time, and the header
  block collected across CONTINUATION frames; past a bound the connection ends with GOAWAY
  ENHANCE_YOUR_CALM.

No sockets, no event loop, no clock: the time is an argument of `receive_data()`.
"""

from __future__ import annotations

from dataclasses import dataclass

import h2.config
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hpack.exceptions import HPACKError, OversizedHeaderListError
from hyperframe.exceptions import InvalidDataError
from hyperframe.frame import GoAwayFrame

from ._h2fence import (
    ServerConnection,
    compact_settings,
    header_block_size,
    release_closed_streams,
    send_data_frames,
    send_response_headers,
)
from ._h2messages import MalformedRequest, parse_h2c_upgrade, parse_request, response_headers
from ._rules import H2Limits
from .events import Request

__all__ = [
    "PREFACE",
    "ConnectionEnded",
    "ErrorCode",
    "H2Connection",
    "H2Limits",
    "StreamData",
    "StreamEnded",
    "StreamRequest",
    "StreamReset",
    "WindowOpened",
    "parse_h2c_upgrade",
    "response_headers",
]

ErrorCode = h2.errors.ErrorCodes
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


# ----------------------------------------------------------------------------- events


@dataclass(slots=True)
class StreamRequest:
    """A request head, validated. `protocol` is the :protocol of an extended CONNECT (RFC 8441)."""

    stream_id: int
    request: Request
    end_stream: bool
    protocol: bytes | None = None
    te_trailers: bool = False  # the client sent "te: trailers": it accepts response trailers


@dataclass(frozen=True, slots=True)
class StreamData:
    stream_id: int
    data: bytes
    flow: int  # flow-controlled length (with padding): what to acknowledge once the data is consumed
    end_stream: bool


@dataclass(frozen=True, slots=True)
class StreamEnded:
    """The client finished sending on this stream (END_STREAM without data, or after trailers)."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class StreamReset:
    """The stream is over abnormally: reset by the client (`remote`), or by us for a stream error
    (the RST_STREAM is already queued)."""

    stream_id: int
    code: int
    remote: bool


@dataclass(frozen=True, slots=True)
class WindowOpened:
    """The client opened a flow-control window: 0 for the whole connection, else one stream."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class ConnectionEnded:
    """The connection is over: the client sent GOAWAY (`remote`), or we did for a connection error
    (queued in `data_to_send()`). Streams above `last_stream_id` were never processed."""

    code: int
    last_stream_id: int
    message: str
    remote: bool


Event = StreamRequest | StreamData | StreamEnded | StreamReset | WindowOpened | ConnectionEnded


class _Budget:
    """A token bucket: `burst` tokens, refilled at `rate` a second."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, burst: int, rate: float) -> None:
        self.burst = burst
        self.rate = rate
        self._tokens = float(burst)
        self._last: float | None = None

    def spend(self, now: float) -> bool:
        last = self._last
        if last is not None and now > last:
            self._tokens = min(self.burst, self._tokens + (now - last) * self.rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class H2Connection:
    """One server-side HTTP/2 connection. Not thread-safe."""

    def __init__(self, limits: H2Limits | None = None) -> None:
        self.limits = limits = limits if limits is not None else H2Limits()
        self._h2 = ServerConnection(
            config=h2.config.H2Configuration(
                client_side=False,
                header_encoding=None,
                validate_inbound_headers=False,  # ours: malformed requests are stream errors
                normalize_inbound_headers=False,  # (it only joins cookie fields: parse_request does)
                validate_outbound_headers=False,  # ours, once per response (response_headers())
                normalize_outbound_headers=False,
            )
        )
        self._resets = _Budget(limits.max_resets, limits.resets_per_second)
        self._control = _Budget(limits.max_control_frames, limits.control_frames_per_second)
        self._lengths: dict[int, list[int]] = {}  # stream -> [content-length, bytes received]
        self._active: set[int] = set()  # streams with a request we are serving (not refused)
        self._request_priority: h2.events.PriorityUpdated | None = None
        self._last_stream_id = 2**31 - 1  # until our GOAWAY: the last stream we take
        #: What is queued to send, in order: h2's output taken so far, and our own frames (DATA, a
        #: graceful GOAWAY); h2's newer output follows it.
        self._out: list[bytes | memoryview] = []
        self._opening: bytes | None = b""  # the first bytes, until the first frame's header is in
        self.closed = False
        #: A graceful GOAWAY went out: no new streams, the open ones finish.
        self.going_away = False

    # ----------------------------------------------------------------- setting up

    def initiate(self, upgrade_settings: bytes | None = None) -> None:
        """Queue our preface (SETTINGS); `upgrade_settings` is the HTTP2-Settings value of an h2c
        upgrade (RFC 7540 §3.2), whose request then is stream 1, half-closed by the client."""
        limits = self.limits
        conn = self._h2
        conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: limits.stream_window,
                h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: int(limits.enable_connect_protocol),
            },
        )
        if upgrade_settings is None:
            conn.initiate_connection()
        else:
            conn.initiate_upgrade_connection(upgrade_settings)
            self._active.add(1)
        compact_settings(conn)
        # The decoder's bound applies at once (h2 applies it only after the client's ACK).
        conn.decoder.max_header_list_size = limits.max_header_list_size
        # One slow stream must never stall the others: the connection window holds every stream's.
        extra = limits.max_concurrent_streams * limits.stream_window - 65535
        if extra > 0:
            conn.increment_flow_control_window(extra)

    # ----------------------------------------------------------------- receiving

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes from the client; `now` (seconds, any monotonic clock) for the flood budgets."""
        if self.closed:
            return []
        if self._opening is not None:
            # RFC 9113 §3.4: the preface must be followed by a SETTINGS frame (h2 takes any frame).
            opening = self._opening = self._opening + data
            if len(opening) >= _FIRST_FRAME_END:
                self._opening = None
                if opening[_FIRST_FRAME_TYPE] != 0x4 or opening[_FIRST_FRAME_TYPE + 1] & 0x1:
                    return [self._protocol_error("the preface is not followed by a SETTINGS frame")]
        conn = self._h2
        try:
            raw = conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            return [self._connection_error(exc)]
        events: list[Event] = []
        try:
            for event in raw:
                self._translate(event, now, events)
        except _Flood as flood:
            return [*events, self._calm(str(flood))]
        if header_block_size(conn) > self.limits.max_header_list_size:
            return [*events, self._calm("header block over the size limit (CONTINUATION flood)")]
        return events

    def _translate(self, event: h2.events.Event, now: float, out: list[Event]) -> None:
        if isinstance(event, h2.events.DataReceived):
            sid = event.stream_id
            data = event.data
            length = self._lengths.get(sid)
            if length is not None:
                length[1] += len(data)
                if length[1] > length[0] or (event.stream_ended is not None and length[1] != length[0]):
                    self.acknowledge(sid, event.flow_controlled_length)
                    out.append(self._stream_error(sid, "body length differs from content-length"))
                    return
            if not data and event.stream_ended is None and not self._control.spend(now):
                raise _Flood("too many empty DATA frames")
            if sid not in self._active:
                # A stream we refused or already finished: give the window back, drop the data.
                self.acknowledge(sid, event.flow_controlled_length)
                return
            if event.stream_ended is not None:
                self._stream_over(sid)
            out.append(StreamData(sid, data, event.flow_controlled_length, event.stream_ended is not None))
        elif isinstance(event, h2.events.RequestReceived):
            self._request(event, out)
        elif isinstance(event, h2.events.StreamEnded):
            sid = event.stream_id
            length = self._lengths.get(sid)
            if length is not None and length[1] != length[0]:
                out.append(self._stream_error(sid, "body shorter than content-length"))
                return
            if sid in self._active:
                self._stream_over(sid)
                out.append(StreamEnded(sid))
        elif isinstance(event, h2.events.WindowUpdated):
            # Clients send one per chunk of a download: only tiny increments (the "window update
            # dribble" that costs a frame of work per byte) spend the budget.
            if event.delta < _SMALL_INCREMENT and not self._control.spend(now):
                raise _Flood("too many small WINDOW_UPDATE frames")
            out.append(WindowOpened(event.stream_id))
        elif isinstance(event, h2.events.StreamReset):
            sid = event.stream_id
            self._lengths.pop(sid, None)
            self._active.discard(sid)
            if event.remote_reset:
                if not self._resets.spend(now):
                    raise _Flood("too many streams reset by the client (rapid reset)")
                out.append(StreamReset(sid, int(event.error_code or 0), True))
        elif isinstance(event, h2.events.TrailersReceived):
            if any(name[:1] == b":" for name, _ in event.headers):
                out.append(self._stream_error(event.stream_id, "pseudo-header in trailers"))
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            if not self._control.spend(now):
                raise _Flood("too many SETTINGS frames")
            if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
                out.append(WindowOpened(0))
        elif isinstance(event, h2.events.PingReceived | h2.events.PriorityUpdated):
            if event is self._request_priority:
                return  # the priority of a HEADERS frame: part of a request, not a PRIORITY frame
            if not self._control.spend(now):
                raise _Flood("too many PING or PRIORITY frames")
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.closed = True
            out.append(
                ConnectionEnded(
                    int(event.error_code or 0),
                    event.last_stream_id or 0,
                    (event.additional_data or b"").decode("latin-1"),
                    True,
                )
            )

    def _request(self, event: h2.events.RequestReceived, out: list[Event]) -> None:
        sid = event.stream_id
        self._request_priority = event.priority_updated
        if sid > self._last_stream_id:
            # Opened after our GOAWAY: never processed (RFC 9113 §6.8), the client may retry it.
            self._h2.reset_stream(sid, ErrorCode.REFUSED_STREAM)
            return
        try:
            head, length, protocol, te_trailers = parse_request(
                event.headers or (), event.stream_ended is not None, self.limits.enable_connect_protocol
            )
        except MalformedRequest as exc:
            out.append(self._stream_error(sid, str(exc)))
            return
        if len(self._active) >= self.limits.max_concurrent_streams:
            self._h2.reset_stream(sid, ErrorCode.REFUSED_STREAM)
            return
        self._active.add(sid)
        if length is not None and head.has_body:
            self._lengths[sid] = [length, 0]
        out.append(StreamRequest(sid, head, not head.has_body, protocol, te_trailers))

    def _stream_over(self, sid: int) -> None:
        """The client's side of `sid` is done (the stream stays active until we answer)."""
        self._lengths.pop(sid, None)

    def _stream_error(self, sid: int, message: str) -> StreamReset:
        self._lengths.pop(sid, None)
        self._active.discard(sid)
        try:
            self._h2.reset_stream(sid, ErrorCode.PROTOCOL_ERROR)
        except h2.exceptions.StreamClosedError:
            pass
        return StreamReset(sid, int(ErrorCode.PROTOCOL_ERROR), False)

    def _connection_error(self, exc: h2.exceptions.ProtocolError) -> ConnectionEnded:
        """h2 raised: it queued a GOAWAY with its error code; correct the code where RFC 9113 says
        otherwise (an HPACK decoding error is a COMPRESSION_ERROR, §4.3)."""
        self.closed = True
        code = int(getattr(exc, "error_code", ErrorCode.PROTOCOL_ERROR))
        cause = exc.__cause__
        if isinstance(cause, HPACKError) and not isinstance(cause, OversizedHeaderListError):
            code = int(ErrorCode.COMPRESSION_ERROR)
            self._replace_goaway(code)
        elif isinstance(cause, InvalidDataError) and str(cause).startswith("SETTINGS ack frame"):
            code = int(ErrorCode.FRAME_SIZE_ERROR)  # RFC 9113 §6.5: an ACK with a payload
            self._replace_goaway(code)
        return ConnectionEnded(code, self._h2.highest_inbound_stream_id, str(exc), False)

    def _replace_goaway(self, code: int) -> None:
        # h2 appended its GOAWAY (9-byte header + 8-byte payload) last: rewrite its error code.
        pending = self._h2.data_to_send()
        if len(pending) >= 17 and pending[-14:-13] == b"\x07" and pending[-17:-14] == b"\x00\x00\x08":
            pending = pending[:-4] + code.to_bytes(4, "big")
        else:  # pragma: no cover - h2 changed how it ends a connection; say it our way
            frame = GoAwayFrame(0)
            frame.last_stream_id = self._h2.highest_inbound_stream_id
            frame.error_code = code
            pending += frame.serialize()
        self._h2._data_to_send = bytearray(pending)

    def _protocol_error(self, message: str) -> ConnectionEnded:
        self.closed = True
        frame = GoAwayFrame(0)
        frame.last_stream_id = 0
        frame.error_code = ErrorCode.PROTOCOL_ERROR
        self._ours().append(frame.serialize())
        return ConnectionEnded(int(ErrorCode.PROTOCOL_ERROR), 0, message, False)

    def _calm(self, message: str) -> ConnectionEnded:
        self.closed = True
        conn = self._h2
        conn.close_connection(ErrorCode.ENHANCE_YOUR_CALM, message.encode(), conn.highest_inbound_stream_id)
        return ConnectionEnded(
            int(ErrorCode.ENHANCE_YOUR_CALM), conn.highest_inbound_stream_id, message, False
        )

    # ----------------------------------------------------------------- sending

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return self._h2.data_to_send()
        out.append(self._h2.data_to_send())
        data = b"".join(out)
        out.clear()
        return data

    def _ours(self) -> list[bytes | memoryview]:
        """The output list, with h2's output so far moved into it first (frames stay in order)."""
        pending = self._h2.data_to_send()
        if pending:
            self._out.append(pending)
        return self._out

    def send_headers(self, stream_id: int, headers: list[tuple[bytes, bytes]], end_stream: bool) -> None:
        """HEADERS on `stream_id`: an interim response (1xx), or trailers (with `end_stream`)."""
        self._h2.send_headers(stream_id, headers, end_stream=end_stream)
        if end_stream:
            self._active.discard(stream_id)

    def send_response(self, stream_id: int, headers: list[tuple[bytes, bytes]], end_stream: bool) -> None:
        """The final response head (`:status` 200..599 first), checked by `response_headers()`."""
        send_response_headers(self._h2, stream_id, headers, end_stream, self._ours())
        if end_stream:
            self._active.discard(stream_id)

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool) -> None:
        """Send `data` (at most `window(stream_id)` bytes) in as many frames as it takes."""
        send_data_frames(self._h2, stream_id, data, end_stream, self._ours())
        if end_stream:
            self._active.discard(stream_id)

    def push(self, stream_id: int, headers: list[tuple[bytes, bytes]]) -> int | None:
        """PUSH_PROMISE on `stream_id` for a request with `headers` (pseudo-headers first); the
        promised stream's id, or None when the client refuses pushes or has no room for one."""
        conn = self._h2
        if self.closed or self.going_away or not conn.remote_settings.enable_push:
            return None
        try:
            promised = conn.get_next_available_stream_id()
            conn.push_stream(stream_id, promised, headers)
        except h2.exceptions.H2Error:
            return None
        self._active.add(promised)
        return promised

    def end_stream(self, stream_id: int) -> None:
        self._h2.end_stream(stream_id)
        self._active.discard(stream_id)

    def reset(self, stream_id: int, code: int = ErrorCode.CANCEL) -> None:
        """End `stream_id` abnormally (RST_STREAM); a stream that is already closed is left alone."""
        self._active.discard(stream_id)
        self._lengths.pop(stream_id, None)
        try:
            self._h2.reset_stream(stream_id, code)
        except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
            pass

    def window(self, stream_id: int) -> int:
        """Bytes that may be sent on `stream_id` now (its window and the connection's)."""
        # h2 moves its streams' states over a whole read before the read's events are handed out:
        # a RST_STREAM later in the read has closed the stream already, while a WINDOW_UPDATE
        # earlier in it is being handled. A closed stream has no window (its StreamReset follows).
        stream = self._h2.streams.get(stream_id)
        if stream is not None and stream.closed:
            return 0
        try:
            return self._h2.local_flow_control_window(stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
            return 0

    def acknowledge(self, stream_id: int, size: int) -> None:
        """The app consumed `size` flow-controlled bytes of `stream_id`: the client may send more."""
        try:
            self._h2.acknowledge_received_data(size, stream_id)
        except h2.exceptions.NoSuchStreamError:  # (StreamClosedError is one: h2 acks the connection)
            pass

    def stream_done(self, stream_id: int) -> None:
        """We answered and will take no more of `stream_id`: if the client is still sending,
        ask it to stop (RFC 9113 §8.1: RST_STREAM NO_ERROR after a complete response)."""
        self._lengths.pop(stream_id, None)
        try:
            stream = self._h2.streams.get(stream_id)
            if stream is not None and not stream.closed:
                self._h2.reset_stream(stream_id, ErrorCode.NO_ERROR)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass

    def goaway(self, message: str = "") -> None:
        """A graceful GOAWAY (NO_ERROR) naming the last stream we took: those finish, no new ones.
        Built here, not by h2, which would refuse to send anything after it."""
        if self.closed or self.going_away:
            return
        self.going_away = True
        self._last_stream_id = last = self._h2.highest_inbound_stream_id
        frame = GoAwayFrame(0)
        frame.last_stream_id = last
        frame.error_code = ErrorCode.NO_ERROR
        frame.additional_data = message.encode()
        self._ours().append(frame.serialize())

    def release(self) -> None:
        """No stream is active: let h2 drop the state of the closed ones now (it otherwise keeps them
        until the next request), so an idle connection holds no more than its tables."""
        release_closed_streams(self._h2)
        compact_settings(self._h2)  # (settings the client sent since then)

    @property
    def push_enabled(self) -> bool:
        return bool(self._h2.remote_settings.enable_push)

    @property
    def max_frame_size(self) -> int:
        return self._h2.max_outbound_frame_size


class _Flood(Exception):
    pass


_FIRST_FRAME_END = len(PREFACE) + 9  # the preface and the first frame header
_FIRST_FRAME_TYPE = len(PREFACE) + 3
_SMALL_INCREMENT = 1024  # bytes: a WINDOW_UPDATE smaller than this spends the control-frame budget
