"""A raw HTTP/2 client for conformance cases: it sends whatever bytes a case asks for, well-formed or not,
and reads the server's frames with a deadline.

Frames the server sends are parsed with `hyperframe`, its field blocks decoded with `hpack`. Frames we
send are built with `hyperframe` when they are well-formed and with `raw_frame` when a case needs a
frame no correct encoder would produce (stream 0 on DATA, a wrong length, a reserved bit set, ...).
Field blocks we send are built by the small HPACK helpers below: by default every field is a literal
without indexing with a new name and no Huffman coding, so a block is byte-exact, needs no dynamic table
on either side and can carry anything (uppercase names, NUL bytes, duplicate pseudo-headers).

The `expect_*` methods are the verdicts. Each one reads frames until it sees what it wants, something
that contradicts it (it raises `CaseFailed`), or the deadline passes (also `CaseFailed`). SETTINGS,
SETTINGS ACK, PING, WINDOW_UPDATE and frames of unknown type are skipped by all of them; the reader
acknowledges the server's SETTINGS and answers its PINGs by itself.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import socket
import ssl
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from hpack import Decoder, HPACKError
from hpack.hpack import encode_integer
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hyperframe.exceptions import HyperframeError
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    ExtensionFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

__all__ = [
    "ACK",
    "END_HEADERS",
    "END_STREAM",
    "PADDED",
    "PREFACE",
    "PRIORITY",
    "CaseFailed",
    "CaseSkipped",
    "ConnectionClosed",
    "ErrorCode",
    "FrameType",
    "H2Client",
    "HeaderList",
    "ReadTimeout",
    "Response",
    "Setting",
    "Target",
    "encode_fields",
    "hpack_int",
    "hpack_string",
    "indexed",
    "literal",
    "literal_indexed_name",
    "raw_frame",
    "table_size_update",
]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

#: Our SETTINGS_MAX_FRAME_SIZE (we never raise it from the default), RFC 9113 §4.2.
OUR_MAX_FRAME_SIZE = 16_384


class FrameType(enum.IntEnum):
    DATA = 0x0
    HEADERS = 0x1
    PRIORITY = 0x2
    RST_STREAM = 0x3
    SETTINGS = 0x4
    PUSH_PROMISE = 0x5
    PING = 0x6
    GOAWAY = 0x7
    WINDOW_UPDATE = 0x8
    CONTINUATION = 0x9


# Frame flags (RFC 9113 §6), for `raw_frame`.
END_STREAM = 0x01
ACK = 0x01
END_HEADERS = 0x04
PADDED = 0x08
PRIORITY = 0x20


class ErrorCode(enum.IntEnum):
    """RFC 9113 §7."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


class Setting(enum.IntEnum):
    """RFC 9113 §6.5.2."""

    HEADER_TABLE_SIZE = 0x1
    ENABLE_PUSH = 0x2
    MAX_CONCURRENT_STREAMS = 0x3
    INITIAL_WINDOW_SIZE = 0x4
    MAX_FRAME_SIZE = 0x5
    MAX_HEADER_LIST_SIZE = 0x6


HeaderList = list[tuple[bytes, bytes]]


def code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"0x{code:x}"


def _codes(codes: Iterable[int]) -> str:
    return " or ".join(code_name(code) for code in codes)


class CaseFailed(Exception):
    """The server did something the case's expectation rules out; the message says what."""


class CaseSkipped(Exception):
    """The case cannot run against this server (e.g. it advertises no limit the case needs)."""


class ConnectionClosed(Exception):
    """The server closed (or reset) the connection."""


class ReadTimeout(Exception):
    """Nothing complete arrived before the deadline."""


# ---- frames we send ------------------------------------------------------------------------------


def raw_frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """A frame exactly as given: 24-bit length of `payload`, type, flags, 32-bit stream field (so the
    reserved bit can be set), payload. No validation whatsoever."""
    header = len(payload).to_bytes(3, "big") + bytes([frame_type, flags]) + stream_id.to_bytes(4, "big")
    return header + payload


# ---- HPACK, RFC 7541 -----------------------------------------------------------------------------

_HUFFMAN = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)


def hpack_int(value: int, prefix_bits: int, pattern: int = 0) -> bytes:
    """An integer with an N-bit prefix (RFC 7541 §5.1); `pattern` holds the representation's leading bits."""
    encoded = encode_integer(value, prefix_bits)
    encoded[0] |= pattern
    return bytes(encoded)


def hpack_string(data: bytes, *, huffman: bool = False) -> bytes:
    """A string literal (RFC 7541 §5.2), raw or Huffman-coded."""
    if huffman:
        coded = _HUFFMAN.encode(data)
        return hpack_int(len(coded), 7, 0x80) + coded
    return hpack_int(len(data), 7) + data


def _b(text: str | bytes) -> bytes:
    return text.encode("latin-1") if isinstance(text, str) else text


# The three literal representations (RFC 7541 §6.2): leading pattern and prefix size of the name index.
_LITERAL = {"incremental": (0x40, 6), "without": (0x00, 4), "never": (0x10, 4)}


def literal(
    name: str | bytes, value: str | bytes, *, indexing: str = "without", huffman: bool = False
) -> bytes:
    """A literal field line with a new (literal) name; `indexing` is incremental, without or never."""
    pattern, prefix = _LITERAL[indexing]
    return (
        hpack_int(0, prefix, pattern)
        + hpack_string(_b(name), huffman=huffman)
        + hpack_string(_b(value), huffman=huffman)
    )


def literal_indexed_name(
    index: int, value: str | bytes, *, indexing: str = "without", huffman: bool = False
) -> bytes:
    """A literal field line whose name is taken from the table entry `index`."""
    pattern, prefix = _LITERAL[indexing]
    return hpack_int(index, prefix, pattern) + hpack_string(_b(value), huffman=huffman)


def indexed(index: int) -> bytes:
    """An indexed field line (RFC 7541 §6.1)."""
    return hpack_int(index, 7, 0x80)


def table_size_update(size: int) -> bytes:
    """A dynamic table size update (RFC 7541 §6.3)."""
    return hpack_int(size, 5, 0x20)


def encode_fields(fields: Iterable[tuple[str | bytes, str | bytes]]) -> bytes:
    """A field block of literals without indexing, in the given order, exactly as given."""
    return b"".join(literal(name, value) for name, value in fields)


# ---- connections ---------------------------------------------------------------------------------


@dataclass
class Target:
    """Where the server is and how to reach it. `connect()` opens connections and remembers them, so
    the runner can close them (and collect their notes) when a case ends."""

    host: str
    port: int
    tls: bool = False
    insecure: bool = False
    cafile: str | None = None
    timeout: float = 2.0
    #: Demand each case's specific error code (h2spec's reading); see `H2Client.accepts`.
    strict_codes: bool = False
    opened: list[H2Client] = field(default_factory=list)

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def open(self) -> H2Client:
        """A connected socket (TLS with ALPN h2 if `tls`), nothing sent yet."""
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            context = ssl.create_default_context(cafile=self.cafile)
            if self.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["h2"])
            try:
                sock = context.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
            if sock.selected_alpn_protocol() != "h2":
                sock.close()
                raise CaseFailed(f"TLS: ALPN selected {sock.selected_alpn_protocol()!r}, not 'h2'")
        client = H2Client(sock, timeout=self.timeout, scheme="https" if self.tls else "http")
        client.authority = self.authority
        client.strict_codes = self.strict_codes
        self.opened.append(client)
        return client

    def connect(self, settings: dict[int, int] | None = None) -> H2Client:
        """A connection past the handshake: preface and SETTINGS exchanged and acknowledged both ways."""
        client = self.open()
        client.handshake(settings)
        return client

    def close_all(self) -> list[str]:
        """Closes every connection opened so far; returns their notes."""
        notes: list[str] = []
        for client in self.opened:
            notes.extend(client.notes)
            client.close()
        self.opened.clear()
        return notes


@dataclass
class Response:
    stream_id: int
    status: int
    headers: HeaderList
    body: bytes
    trailers: HeaderList
    #: The flow-controlled length (RFC 9113 §6.9.1) of each DATA frame of the response.
    data_lengths: list[int]


@dataclass
class StreamRecord:
    """Everything the server sent on one stream, as the reader saw it."""

    #: Each field block (interim heads, the head, trailers), decoded, in order.
    blocks: list[HeaderList] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    #: The flow-controlled length (RFC 9113 §6.9.1) of each DATA frame.
    data_lengths: list[int] = field(default_factory=list)
    ended: bool = False
    #: The error code of a RST_STREAM the server sent, if any.
    reset: int | None = None

    def response(self, stream_id: int) -> Response:
        """The final response in the blocks: interim (1xx) heads skipped, a later block is trailers."""
        for index, block in enumerate(self.blocks):
            status = dict(block).get(b":status", b"")
            if not status.isdigit():
                raise CaseFailed(
                    f"a response field block without a valid :status on stream {stream_id}: {block!r}"
                )
            if int(status) >= 200:
                trailers = self.blocks[index + 1] if index + 1 < len(self.blocks) else []
                return Response(stream_id, int(status), block, bytes(self.body), trailers, self.data_lengths)
        raise CaseFailed(f"stream {stream_id} ended without a final response")


#: RFC 9113 §5.4: these "can always be used in place of more specific error codes".
GENERIC_CODES = (ErrorCode.PROTOCOL_ERROR, ErrorCode.INTERNAL_ERROR)


def describe(frame: Frame) -> str:
    """A short, readable form of a received frame for failure messages."""
    if isinstance(frame, GoAwayFrame):
        return f"GOAWAY({code_name(frame.error_code)}, last_stream_id={frame.last_stream_id})"
    if isinstance(frame, RstStreamFrame):
        return f"RST_STREAM(stream {frame.stream_id}, {code_name(frame.error_code)})"
    if isinstance(frame, ExtensionFrame):
        return f"frame type 0x{frame.type:x} (stream {frame.stream_id})"
    name = type(frame).__name__.removesuffix("Frame").upper()
    flags = "".join(f", {flag}" for flag in sorted(frame.flags))
    return f"{name}(stream {frame.stream_id}{flags})"


_NOISE = (SettingsFrame, WindowUpdateFrame, PingFrame, PriorityFrame, ExtensionFrame)


class H2Client:
    """One HTTP/2 connection driven by hand. Stream bookkeeping is the case's business: this class
    only tracks what it needs to read (HPACK decoder state, the server's SETTINGS)."""

    def __init__(self, sock: socket.socket, *, timeout: float, scheme: str) -> None:
        self.sock = sock
        self.timeout = timeout
        self.scheme = scheme
        self.authority = "localhost"
        self.server_settings: dict[int, int] = {}
        self.got_server_settings = False
        self.settings_acks = 0
        self.ping_acks: list[bytes] = []
        self.closed = False
        self.notes: list[str] = []
        self._buffer = bytearray()
        self._decoder = Decoder()
        self._fields: dict[Frame, HeaderList] = {}
        self._open_block: tuple[HeadersFrame | PushPromiseFrame, bytearray] | None = None
        self._ping_counter = 0
        self._batch: bytearray | None = None
        self.streams: dict[int, StreamRecord] = {}
        self.goaways: list[GoAwayFrame] = []
        #: Give back each DATA frame's length with WINDOW_UPDATEs as it is read.
        self.replenish = True
        #: Demand the specific error code, not PROTOCOL_ERROR/INTERNAL_ERROR in its place (see `accepts`).
        self.strict_codes = False

    # ---- the server's settings, RFC 9113 §6.5.2 defaults
    @property
    def max_frame_size(self) -> int:
        return self.server_settings.get(Setting.MAX_FRAME_SIZE, 16_384)

    @property
    def initial_window(self) -> int:
        return self.server_settings.get(Setting.INITIAL_WINDOW_SIZE, 65_535)

    @property
    def header_table_size(self) -> int:
        return self.server_settings.get(Setting.HEADER_TABLE_SIZE, 4_096)

    # ---- sending
    def send(self, data: bytes) -> None:
        """Sends bytes; a connection the server already closed is noted, not raised: the verdict is
        read afterwards (and a close is what many cases expect)."""
        if self.closed:
            return
        if self._batch is not None:
            self._batch += data
            return
        try:
            self.sock.sendall(data)
        except TimeoutError:
            self.notes.append("send blocked: the server stopped reading")
        except OSError:
            self.closed = True

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Everything sent inside the block goes out in one write, so the server reads it together
        (and cannot, say, close the connection between two of the frames)."""
        self._batch = bytearray()
        try:
            yield
        finally:
            data, self._batch = bytes(self._batch), None
            self.send(data)

    def send_frame(self, frame: Frame) -> None:
        self.send(frame.serialize())

    def send_raw(self, frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> None:
        self.send(raw_frame(frame_type, flags, stream_id, payload))

    def send_preface(self, settings: dict[int, int] | None = None) -> None:
        self.send(PREFACE + SettingsFrame(0, settings or {}).serialize())

    def handshake(self, settings: dict[int, int] | None = None) -> None:
        """Client preface and SETTINGS (push disabled, plus `settings`), then wait until the server's
        SETTINGS arrived (we ACK it) and our SETTINGS was acknowledged (RFC 9113 §3.4, §6.5.3)."""
        self.send_preface({Setting.ENABLE_PUSH: 0, **(settings or {})})
        try:
            for frame in self.frames():
                if isinstance(frame, GoAwayFrame):
                    raise CaseFailed(f"handshake: {describe(frame)}")
                if self.got_server_settings and self.settings_acks:
                    return
        except ReadTimeout:
            raise CaseFailed("handshake: no SETTINGS and SETTINGS ACK from the server") from None
        except ConnectionClosed:
            raise CaseFailed("handshake: the server closed the connection") from None

    def headers(
        self,
        stream_id: int,
        fields: Sequence[tuple[str | bytes, str | bytes]] | bytes,
        *,
        end_stream: bool = True,
        end_headers: bool = True,
        pad_length: int | None = None,
        priority: tuple[int, int, bool] | None = None,
    ) -> None:
        """A HEADERS frame; `fields` is a field list (see `encode_fields`) or a ready field block.
        `priority` is (depends_on, weight byte, exclusive)."""
        block = fields if isinstance(fields, bytes) else encode_fields(fields)
        flags = ["END_STREAM"] if end_stream else []
        flags += ["END_HEADERS"] if end_headers else []
        frame = HeadersFrame(stream_id, block, flags=flags)
        if pad_length is not None:
            frame.flags.add("PADDED")
            frame.pad_length = pad_length
        if priority is not None:
            frame.flags.add("PRIORITY")
            frame.depends_on, frame.stream_weight, frame.exclusive = priority
        self.send_frame(frame)

    def continuation(self, stream_id: int, block: bytes, *, end_headers: bool = True) -> None:
        self.send_frame(ContinuationFrame(stream_id, block, flags=["END_HEADERS"] if end_headers else []))

    def data(
        self, stream_id: int, data: bytes, *, end_stream: bool = True, pad_length: int | None = None
    ) -> None:
        frame = DataFrame(stream_id, data, flags=["END_STREAM"] if end_stream else [])
        if pad_length is not None:
            frame.flags.add("PADDED")
            frame.pad_length = pad_length
        self.send_frame(frame)

    def settings(self, settings: dict[int, int]) -> None:
        self.send_frame(SettingsFrame(0, settings))

    def window_update(self, stream_id: int, increment: int) -> None:
        self.send_raw(FrameType.WINDOW_UPDATE, 0, stream_id, increment.to_bytes(4, "big"))

    def rst_stream(self, stream_id: int, code: int = ErrorCode.CANCEL) -> None:
        self.send_raw(FrameType.RST_STREAM, 0, stream_id, code.to_bytes(4, "big"))

    def priority(
        self, stream_id: int, depends_on: int = 0, weight: int = 15, exclusive: bool = False
    ) -> None:
        dependency = depends_on | (0x8000_0000 if exclusive else 0)
        self.send_raw(FrameType.PRIORITY, 0, stream_id, dependency.to_bytes(4, "big") + bytes([weight]))

    def ping(self, data: bytes | None = None, *, ack: bool = False) -> bytes:
        """Sends a PING and returns its opaque data (a fresh value unless given)."""
        if data is None:
            self._ping_counter += 1
            data = b"h2c" + self._ping_counter.to_bytes(5, "big")
        self.send_frame(PingFrame(0, data, flags=["ACK"] if ack else []))
        return data

    def goaway(self, last_stream_id: int = 0, code: int = ErrorCode.NO_ERROR) -> None:
        self.send_frame(GoAwayFrame(0, last_stream_id, code))

    def request_fields(
        self, method: str = "GET", path: str = "/", extra: Sequence[tuple[str, str]] = ()
    ) -> list[tuple[str | bytes, str | bytes]]:
        """A valid request's field list: the four pseudo-headers, then `extra`."""
        fields: list[tuple[str | bytes, str | bytes]] = [
            (":method", method),
            (":scheme", self.scheme),
            (":path", path),
            (":authority", self.authority),
        ]
        fields.extend(extra)
        return fields

    def request(
        self,
        stream_id: int = 1,
        method: str = "GET",
        path: str = "/",
        *,
        body: bytes | None = None,
        extra: Sequence[tuple[str, str]] = (),
    ) -> None:
        """A complete request: HEADERS (END_STREAM unless `body`), then one DATA with END_STREAM."""
        self.headers(stream_id, self.request_fields(method, path, extra), end_stream=body is None)
        if body is not None:
            self.data(stream_id, body)

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- reading
    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReadTimeout
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65_536)
        except TimeoutError:
            raise ReadTimeout from None
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
            raise ConnectionClosed
        self._buffer += chunk

    def read_frame(self, deadline: float) -> Frame:
        """The next frame as sent, parsed; raises ReadTimeout or ConnectionClosed."""
        while len(self._buffer) < 9:
            self._fill(deadline)
        try:
            frame, length = Frame.parse_frame_header(memoryview(bytes(self._buffer[:9])))
        except HyperframeError as err:
            raise CaseFailed(f"the server sent an unparsable frame header: {err}") from None
        if length > OUR_MAX_FRAME_SIZE:
            raise CaseFailed(f"the server sent a {length}-octet frame, above our SETTINGS_MAX_FRAME_SIZE")
        while len(self._buffer) < 9 + length:
            self._fill(deadline)
        body = bytes(self._buffer[9 : 9 + length])
        del self._buffer[: 9 + length]
        try:
            frame.parse_body(memoryview(body))
        except (HyperframeError, ValueError) as err:
            raise CaseFailed(f"the server sent a malformed {describe(frame)}: {err}") from None
        return frame

    def frames(self, timeout: float | None = None) -> Iterator[Frame]:
        """Frames until the deadline (then ReadTimeout) or the close (ConnectionClosed), with the
        reader's own duties done first: field blocks are joined (a HEADERS or PUSH_PROMISE is yielded
        once its CONTINUATIONs are in) and decoded, each stream's record is updated (`stream()`), the
        server's SETTINGS are acknowledged and its PINGs answered, and, if `replenish` is set, the
        flow-controlled length of each DATA frame is given back with WINDOW_UPDATEs."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            frame = self.read_frame(deadline)
            if self._open_block is not None:
                first, block = self._open_block
                if not isinstance(frame, ContinuationFrame) or frame.stream_id != first.stream_id:
                    raise CaseFailed(f"the server interleaved {describe(frame)} into a field block")
                block += frame.data
                if "END_HEADERS" not in frame.flags:
                    continue
                self._open_block = None
                first.data = bytes(block)
                first.flags.add("END_HEADERS")
                frame = first
            elif isinstance(frame, HeadersFrame | PushPromiseFrame) and "END_HEADERS" not in frame.flags:
                self._open_block = (frame, bytearray(frame.data))
                continue
            self._track(frame)
            yield frame

    def _track(self, frame: Frame) -> None:
        if isinstance(frame, HeadersFrame | PushPromiseFrame):
            try:
                fields = [(bytes(n), bytes(v)) for n, v in self._decoder.decode(frame.data, raw=True)]
            except HPACKError as err:
                raise CaseFailed(f"the server sent an undecodable field block: {err}") from None
            self._fields[frame] = fields
            if isinstance(frame, HeadersFrame):
                self.stream(frame.stream_id).blocks.append(fields)
        elif isinstance(frame, DataFrame):
            record = self.stream(frame.stream_id)
            record.body += frame.data
            record.data_lengths.append(frame.flow_controlled_length)
            if self.replenish and frame.flow_controlled_length and "END_STREAM" not in frame.flags:
                self.window_update(0, frame.flow_controlled_length)
                self.window_update(frame.stream_id, frame.flow_controlled_length)
        elif isinstance(frame, RstStreamFrame):
            self.stream(frame.stream_id).reset = frame.error_code
        elif isinstance(frame, GoAwayFrame):
            self.goaways.append(frame)
        elif isinstance(frame, SettingsFrame):
            if "ACK" in frame.flags:
                self.settings_acks += 1
            else:
                self.server_settings.update(frame.settings)
                self.got_server_settings = True
                self.send_frame(SettingsFrame(0, flags=["ACK"]))
        elif isinstance(frame, PingFrame):
            if "ACK" in frame.flags:
                self.ping_acks.append(frame.opaque_data)
            else:
                self.send_frame(PingFrame(0, frame.opaque_data, flags=["ACK"]))
        if isinstance(frame, HeadersFrame | DataFrame) and "END_STREAM" in frame.flags:
            self.stream(frame.stream_id).ended = True

    def stream(self, stream_id: int) -> StreamRecord:
        """What the server has sent on `stream_id` so far."""
        return self.streams.setdefault(stream_id, StreamRecord())

    def fields(self, frame: Frame) -> HeaderList:
        """The decoded field list of a HEADERS or PUSH_PROMISE frame `frames()` yielded."""
        return self._fields.get(frame, [])

    def set_decoder_table_limit(self, size: int) -> None:
        """Our HPACK decoder's table limit (our SETTINGS_HEADER_TABLE_SIZE, once acknowledged): a
        server field block that does not first bring its table down to it fails to decode."""
        self._decoder.max_allowed_table_size = size

    def read_until_close(self) -> bytes:
        """Every byte until the server closes the connection; CaseFailed if it does not in time."""
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                self._fill(deadline)
        except ConnectionClosed:
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        except ReadTimeout:
            raise CaseFailed(
                f"expected the connection to be closed; still open after {self.timeout:g}s"
            ) from None

    # ---- verdicts
    def accepts(self, code: int, codes: Sequence[int]) -> bool:
        """Whether an error `code` answers a case expecting one of `codes`. Unless `strict_codes`,
        PROTOCOL_ERROR and INTERNAL_ERROR also do, with a note: RFC 9113 §5.4 says "a generic error code
        (such as PROTOCOL_ERROR or INTERNAL_ERROR) can always be used in place of more specific error
        codes" (RFC 7540 had no such sentence, and h2spec demands the specific code)."""
        if code in codes:
            return True
        if not self.strict_codes and code in GENERIC_CODES:
            self.notes.append(
                f"generic {code_name(code)} in place of {_codes(codes)} (RFC 9113 §5.4 allows it)"
            )
            return True
        return False

    def _timeout_message(self, wanted: str, seen: list[str]) -> str:
        got = ", ".join(seen[-4:]) if seen else "nothing relevant"
        return f"expected {wanted}; got {got} within {self.timeout:g}s"

    def expect_goaway(self, *codes: int) -> GoAwayFrame | None:
        """A connection error (RFC 9113 §5.4.1): GOAWAY with one of `codes`, returned. Like h2spec, a
        connection closed without GOAWAY also passes (returns None; the GOAWAY is a SHOULD, and may be
        lost to a TCP reset); a GOAWAY with another code fails."""
        wanted = f"GOAWAY {_codes(codes)} (or the connection closed)"
        seen: list[str] = []
        try:
            for frame in itertools.chain(self.goaways[-1:], self.frames()):
                if isinstance(frame, GoAwayFrame):
                    if frame.error_code == ErrorCode.NO_ERROR and ErrorCode.NO_ERROR not in codes:
                        seen.append(describe(frame))  # §5.4: a graceful GOAWAY may precede the error's
                        continue
                    if self.accepts(frame.error_code, codes):
                        return frame
                    raise CaseFailed(f"expected GOAWAY {_codes(codes)}; got {describe(frame)}")
                if not isinstance(frame, _NOISE):
                    seen.append(describe(frame))
        except ConnectionClosed:
            self.notes.append("connection closed without GOAWAY (accepted, as h2spec does)")
            return None
        except ReadTimeout:
            raise CaseFailed(self._timeout_message(wanted, seen)) from None
        raise AssertionError("unreachable")

    def expect_rst_stream(self, stream_id: int, *codes: int, goaway: Sequence[int] | None = None) -> None:
        """A stream error (RFC 9113 §5.4.2): RST_STREAM on `stream_id` with one of `codes`. A GOAWAY
        with one of `codes` (or of `goaway`, when given) also passes: an endpoint MAY treat a stream
        error as a connection error (§5.4.1); so does a close, as in h2spec. A response on the stream
        before the reset is allowed (§8.1.1: a server MAY answer a malformed request first)."""
        goaway_codes = codes if goaway is None else goaway
        wanted = f"RST_STREAM(stream {stream_id}, {_codes(codes)})"
        seen: list[str] = []
        reset = self.stream(stream_id).reset
        frames = self.frames() if reset is None else iter([RstStreamFrame(stream_id, reset)])
        try:
            for frame in frames:
                if isinstance(frame, RstStreamFrame) and frame.stream_id == stream_id:
                    if self.accepts(frame.error_code, codes):
                        return
                    raise CaseFailed(f"expected {wanted}; got {describe(frame)}")
                if isinstance(frame, GoAwayFrame):
                    if frame.error_code == ErrorCode.NO_ERROR:
                        seen.append(describe(frame))  # a graceful shutdown: the reset may still come
                        continue
                    if self.accepts(frame.error_code, goaway_codes):
                        self.notes.append(f"stream error escalated to {describe(frame)} (accepted)")
                        return
                    raise CaseFailed(f"expected {wanted}; got {describe(frame)}")
                if isinstance(frame, HeadersFrame):
                    status = dict(self.fields(frame)).get(b":status", b"?").decode()
                    seen.append(f"HEADERS(stream {frame.stream_id}, :status {status})")
                elif not isinstance(frame, _NOISE):
                    seen.append(describe(frame))
        except ConnectionClosed:
            self.notes.append("connection closed instead of RST_STREAM (accepted, as h2spec does)")
            return
        except ReadTimeout:
            raise CaseFailed(self._timeout_message(wanted, seen)) from None

    def expect_response(self, stream_id: int) -> Response:
        """A complete response on `stream_id` (up to END_STREAM), whenever its frames were read."""
        record = self.stream(stream_id)
        try:
            frames = self.frames()
            while not record.ended:
                if record.reset is not None:
                    raise CaseFailed(
                        f"expected a response on stream {stream_id}; got RST_STREAM {code_name(record.reset)}"
                    )
                frame = next(frames)
                if isinstance(frame, GoAwayFrame) and (
                    frame.error_code != ErrorCode.NO_ERROR or frame.last_stream_id < stream_id
                ):
                    raise CaseFailed(f"expected a response on stream {stream_id}; got {describe(frame)}")
        except ConnectionClosed:
            raise CaseFailed(f"expected a response on stream {stream_id}; the connection closed") from None
        except ReadTimeout:
            got = (
                f"{len(record.blocks)} field blocks and {len(record.body)} body octets"
                if record.blocks
                else "no HEADERS"
            )
            raise CaseFailed(
                f"expected a response on stream {stream_id}; {got} within {self.timeout:g}s"
            ) from None
        return record.response(stream_id)

    def expect_ping_ack(self, data: bytes) -> None:
        """A PING ACK carrying `data` (RFC 9113 §6.7); any error or close fails."""
        try:
            for frame in self.frames():
                if isinstance(frame, PingFrame) and "ACK" in frame.flags and frame.opaque_data == data:
                    return
                if isinstance(frame, GoAwayFrame | RstStreamFrame):
                    raise CaseFailed(f"expected PING ACK {data!r}; got {describe(frame)}")
        except ConnectionClosed:
            raise CaseFailed(f"expected PING ACK {data!r}; the connection closed") from None
        except ReadTimeout:
            raise CaseFailed(f"expected PING ACK {data!r}; none within {self.timeout:g}s") from None

    def expect_alive(self) -> None:
        """The connection is still usable: a fresh PING is answered, with no error before it."""
        self.expect_ping_ack(self.ping())

    def expect_ping_ack_or_close(self, data: bytes) -> None:
        """The PING carrying `data` is answered, or the connection is closed gracefully (a GOAWAY, if
        any, says NO_ERROR). For frames after which the server may legitimately hang up, like GOAWAY."""
        try:
            for frame in self.frames():
                if isinstance(frame, PingFrame) and "ACK" in frame.flags and frame.opaque_data == data:
                    return
                if isinstance(frame, RstStreamFrame) or (
                    isinstance(frame, GoAwayFrame) and frame.error_code != ErrorCode.NO_ERROR
                ):
                    raise CaseFailed(f"expected PING ACK or a close; got {describe(frame)}")
        except ConnectionClosed:
            return
        except ReadTimeout:
            raise CaseFailed(f"expected PING ACK or a close; neither within {self.timeout:g}s") from None

    def expect_settings_ack(self) -> None:
        before = self.settings_acks
        try:
            for frame in self.frames():
                if isinstance(frame, GoAwayFrame):
                    raise CaseFailed(f"expected SETTINGS ACK; got {describe(frame)}")
                if self.settings_acks > before:
                    return
        except ConnectionClosed:
            raise CaseFailed("expected SETTINGS ACK; the connection closed") from None
        except ReadTimeout:
            raise CaseFailed(f"expected SETTINGS ACK; none within {self.timeout:g}s") from None

    def expect_close(self) -> None:
        """The TCP connection is closed (any frames before that, GOAWAY included, are fine)."""
        try:
            for _frame in self.frames():
                pass
        except ConnectionClosed:
            return
        except ReadTimeout:
            raise CaseFailed(
                f"expected the connection to be closed; still open after {self.timeout:g}s"
            ) from None
