"""The sans-I/O WebSocket core: the upgrade handshake on our HTTP/1.1 parser, then our frame codec.

No sockets. The peer is a wsproto client connection; inputs are fed whole, byte by byte, and with
trailing data (STYLE.md #12).
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tapster import LocalProtocolError
from tapster.protocol import NEED_DATA, PAUSED, H11Connection, Request, State
from tapster.protocol.websocket import (
    Closed,
    Handshake,
    HandshakeError,
    Message,
    Pong,
    WSState,
    accept,
    parse_upgrade,
)
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.events import Pong as ClientPong
from wsproto.extensions import Extension, PerMessageDeflate

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example, with its known answer below
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
UPGRADE = [
    b"Host: example.com",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: " + KEY,
    b"Sec-WebSocket-Version: 13",
]


def head(*fields: bytes, method: bytes = b"GET", version: bytes = b"1.1", target: bytes = b"/chat") -> bytes:
    return b"\r\n".join([method + b" " + target + b" HTTP/" + version, *fields]) + b"\r\n\r\n"


def without(name: bytes) -> list[bytes]:
    return [f for f in UPGRADE if not f.lower().startswith(name.lower() + b":")]


def parse(data: bytes, mode: str = "whole") -> tuple[Request, H11Connection]:
    conn = H11Connection()
    pieces = [data[i : i + 1] for i in range(len(data))] if mode == "bytewise" else [data]
    event = None
    for piece in pieces:
        conn.receive_data(piece)
        event = conn.next_event()
        if isinstance(event, Request):
            break
        assert event is NEED_DATA
    assert isinstance(event, Request)
    return event, conn


@pytest.fixture(params=["whole", "bytewise"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ----------------------------------------------------------------------------- the upgrade request


def test_plain_requests_are_not_flagged(mode: str) -> None:
    request, _ = parse(head(b"Host: example.com", b"Connection: keep-alive"), mode)
    assert request.upgrade is False


def test_upgrade_request_is_parsed(mode: str) -> None:
    fields = [
        *UPGRADE,
        b"Sec-WebSocket-Protocol: chat, superchat",
        b"Sec-WebSocket-Protocol: v3",
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-other",
    ]
    request, conn = parse(head(*fields), mode)
    assert request.upgrade is True
    assert parse_upgrade(request) == Handshake(
        KEY, ["chat", "superchat", "v3"], ["permessage-deflate; client_max_window_bits", "x-other"]
    )
    assert conn.next_event() is PAUSED  # nothing more is read as HTTP until the app decides


@pytest.mark.parametrize(
    "fields",
    [
        [b"Connection: keep-alive, Upgrade", b"Upgrade: WebSocket"],  # token lists, any case
        [b"Connection: keep-alive", b"Connection: upgrade", b"Upgrade: h2c, websocket"],
    ],
)
def test_connection_and_upgrade_are_token_lists(fields: list[bytes]) -> None:
    request, _ = parse(head(*without(b"connection")[:1], *fields, *without(b"connection")[2:]))
    assert parse_upgrade(request) is not None


@pytest.mark.parametrize(
    "data",
    [
        head(*without(b"upgrade"), b"Upgrade: h2c"),  # another protocol: RFC 9110 §7.8 lets us ignore it
        head(*without(b"connection"), b"Connection: keep-alive"),  # Upgrade is not a connection option
        head(*UPGRADE, method=b"POST"),  # RFC 6455 §4.1: GET only
        head(*UPGRADE, version=b"1.0"),  # no Upgrade in HTTP/1.0
    ],
)
def test_not_a_websocket_upgrade_is_plain_http(data: bytes) -> None:
    request, _ = parse(data)
    assert request.upgrade is True
    assert parse_upgrade(request) is None


@pytest.mark.parametrize(
    ("fields", "status", "extra"),
    [
        (without(b"sec-websocket-version"), 400, b"sec-websocket-version: 13\r\n"),
        (
            [*without(b"sec-websocket-version"), b"Sec-WebSocket-Version: 8"],
            426,
            b"sec-websocket-version: 13",
        ),
        ([*UPGRADE, b"Sec-WebSocket-Version: 13"], 426, b"sec-websocket-version: 13"),  # repeated
        (without(b"sec-websocket-key"), 400, b""),
        ([*UPGRADE, b"Sec-WebSocket-Key: " + KEY], 400, b""),  # two keys
        ([*without(b"sec-websocket-key"), b"Sec-WebSocket-Key: not base64!"], 400, b""),
        ([*without(b"sec-websocket-key"), b"Sec-WebSocket-Key: " + base64.b64encode(b"x" * 15)], 400, b""),
        ([*UPGRADE, b"Content-Length: 3"], 400, b""),
    ],
)
def test_broken_upgrade_is_rejected_with_its_status(fields: list[bytes], status: int, extra: bytes) -> None:
    request, _ = parse(head(*fields))
    with pytest.raises(HandshakeError) as caught:
        parse_upgrade(request)
    assert caught.value.status_hint == status
    assert extra in caught.value.headers
    if status == 426:
        assert b"upgrade: websocket\r\n" in caught.value.headers  # RFC 9110 §15.5.22


def test_switch_protocols_hands_over_the_bytes_after_the_head(mode: str) -> None:
    frame = Connection(ConnectionType.CLIENT).send(TextMessage(data="early"))
    _, conn = parse(head(*UPGRADE) + frame, mode)
    if mode == "bytewise":  # the parser stopped at the head: the frame arrives now
        conn.receive_data(frame)
    assert conn.switch_protocols() == frame
    assert conn.client_state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.response_head(200, [])
    with pytest.raises(LocalProtocolError):
        conn.switch_protocols()


def test_switch_protocols_needs_a_complete_request() -> None:
    conn = H11Connection()
    with pytest.raises(LocalProtocolError):
        conn.switch_protocols()


# ----------------------------------------------------------------------------- the 101 response


def handshake(*subprotocols: str, extensions: tuple[str, ...] = ()) -> Handshake:
    return Handshake(KEY, list(subprotocols), list(extensions))


def test_accept_response_is_exact() -> None:
    data, ws = accept(handshake(), None, [], b"server: tapster\r\n", max_message_size=100, deflate=True)
    assert data == (
        b"HTTP/1.1 101 Switching Protocols\r\nserver: tapster\r\nupgrade: websocket\r\n"
        b"connection: Upgrade\r\nsec-websocket-accept: " + ACCEPT + b"\r\n\r\n"
    )
    assert ws.state is WSState.OPEN


def test_accept_with_subprotocol_and_headers() -> None:
    data, _ = accept(handshake("a", "b"), "b", [(b"x-id", b"7")], max_message_size=100, deflate=False)
    assert b"\r\nsec-websocket-protocol: b\r\nx-id: 7\r\n\r\n" in data


@pytest.mark.parametrize(
    ("subprotocol", "headers", "match"),
    [
        ("c", [], "not offered"),
        (None, [(b"x-evil", b"a\r\nb: c")], "control characters"),
        (None, [(b"bad name", b"v")], "invalid response header name"),
        (None, [(b"Sec-WebSocket-Accept", b"forged")], "set by the server"),
        (None, [(b"only-one",)], "pairs"),
    ],
)
def test_accept_rejects_what_the_app_may_not_send(
    subprotocol: str | None, headers: object, match: str
) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        accept(handshake("a"), subprotocol, headers, max_message_size=100, deflate=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("offers", "answer"),
    [
        (["permessage-deflate"], b"sec-websocket-extensions: permessage-deflate\r\n"),
        (
            ["permessage-deflate; client_max_window_bits"],
            b"sec-websocket-extensions: permessage-deflate; client_max_window_bits=12\r\n",
        ),
        (["x-unknown", "permessage-deflate; server_max_window_bits=10"], b"server_max_window_bits=10"),
        (["permessage-deflate; server_max_window_bits=8"], None),  # zlib cannot: declined
        (["permessage-deflate; client_max_window_bits=abc"], None),  # malformed: declined
        (["x-unknown"], None),
    ],
)
def test_permessage_deflate_negotiation(offers: list[str], answer: bytes | None) -> None:
    data, _ = accept(handshake(extensions=tuple(offers)), None, [], max_message_size=100, deflate=True)
    if answer is None:
        assert b"sec-websocket-extensions" not in data
    else:
        assert answer in data
    off, _ = accept(handshake(extensions=tuple(offers)), None, [], max_message_size=100, deflate=False)
    assert b"sec-websocket-extensions" not in off


# ----------------------------------------------------------------------------- messages


class Peer:
    """A wsproto client talking to a WebSocketConnection, optionally with permessage-deflate."""

    def __init__(self, max_message_size: int = 1024, *, deflate: bool = False) -> None:
        offers = ("permessage-deflate",) if deflate else ()
        _, self.server = accept(
            handshake(extensions=offers), None, [], max_message_size=max_message_size, deflate=deflate
        )
        extensions: list[Extension] = []
        if deflate:
            client_deflate = PerMessageDeflate()
            client_deflate.finalize("permessage-deflate")
            extensions.append(client_deflate)
        self.client = Connection(ConnectionType.CLIENT, extensions)

    def feed(self, data: bytes, mode: str = "whole") -> list[object]:
        events: list[object] = []
        pieces = [data[i : i + 1] for i in range(len(data))] if mode == "bytewise" else [data]
        for piece in pieces:
            self.server.receive_data(piece)
            while (event := self.server.next_event()) is not NEED_DATA:
                events.append(event)
        return events

    def answers(self) -> list[object]:
        """What the client makes of the bytes the server queued by itself."""
        self.client.receive_data(self.server.data_to_send())
        return list(self.client.events())


def test_text_and_binary_messages(mode: str) -> None:
    peer = Peer()
    data = peer.client.send(TextMessage(data="héllo")) + peer.client.send(BytesMessage(data=b"\x00\xff"))
    assert peer.feed(data, mode) == [Message("héllo"), Message(b"\x00\xff")]


def test_fragmented_message_is_delivered_whole(mode: str) -> None:
    peer = Peer()
    data = peer.client.send(TextMessage(data="ab", message_finished=False))
    data += peer.client.send(TextMessage(data="cd", message_finished=False))
    data += peer.client.send(TextMessage(data="é", message_finished=True))
    assert peer.feed(data, mode) == [Message("abcdé")]


def test_trailing_partial_frame_waits(mode: str) -> None:
    peer = Peer()
    one = peer.client.send(BytesMessage(data=b"one"))
    two = peer.client.send(BytesMessage(data=b"two"))
    assert peer.feed(one + two[:3], mode) == [Message(b"one")]
    assert peer.feed(two[3:], mode) == [Message(b"two")]


def test_ping_is_answered_and_pong_reported() -> None:
    peer = Peer()
    assert peer.feed(peer.client.send(Ping(payload=b"p1"))) == []
    assert peer.answers() == [ClientPong(payload=b"p1")]
    assert peer.feed(peer.client.send(ClientPong(payload=b"7"))) == [Pong(b"7")]
    ping = peer.server.send_ping(b"9")
    peer.client.receive_data(ping)
    assert list(peer.client.events()) == [Ping(payload=b"9")]


def test_close_from_the_peer_is_answered() -> None:
    peer = Peer()
    events = peer.feed(peer.client.send(CloseConnection(code=4001, reason="bye")))
    assert events == [Closed(4001, "bye")]
    assert peer.server.state is WSState.CLOSED
    assert peer.answers() == [CloseConnection(code=4001, reason="bye")]
    assert peer.feed(b"late bytes") == []  # after the close: ignored


def test_close_without_status_is_1005() -> None:
    peer = Peer()
    close = bytes([0x88, 0x80]) + b"\x00\x00\x00\x00"  # masked close frame, empty payload
    assert peer.feed(close) == [Closed(1005, "")]


def test_close_from_us_completes_at_the_answer() -> None:
    peer = Peer()
    late = peer.client.send(TextMessage(data="in flight"))  # sent before the client saw our close
    peer.client.receive_data(peer.server.send_close(1001, "going away"))
    [close] = list(peer.client.events())
    assert isinstance(close, CloseConnection)
    assert peer.server.state is WSState.CLOSING
    assert peer.server.send_close(1000) == b""  # once only
    with pytest.raises(LocalProtocolError):
        peer.server.send_message("after close")
    # Messages sent before the peer saw our close still arrive, then its answer ends it.
    assert peer.feed(late + peer.client.send(close.response())) == [
        Message("in flight"),
        Closed(1001, "going away"),
    ]
    assert peer.server.state.name == "CLOSED"  # (mypy narrowed the state to CLOSING above)


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000, "1000"])
def test_invalid_close_codes_are_refused(code: object) -> None:
    with pytest.raises(LocalProtocolError, match="close code"):
        Peer().server.send_close(code)  # type: ignore[arg-type]


def test_eof_without_close_is_1006() -> None:
    peer = Peer()
    peer.server.receive_eof()
    assert peer.server.next_event() == Closed(1006, "")
    assert peer.server.next_event() is NEED_DATA


def test_server_messages_reach_the_client() -> None:
    peer = Peer(deflate=True)
    peer.client.receive_data(peer.server.send_message("text") + peer.server.send_message(b"bin" * 1000))
    assert list(peer.client.events()) == [TextMessage(data="text"), BytesMessage(data=b"bin" * 1000)]


# ----------------------------------------------------------------------------- bounds and failures


def too_big(peer: Peer) -> None:
    frames = peer.server.data_to_send()
    peer.client.receive_data(frames)
    [close] = list(peer.client.events())
    assert isinstance(close, CloseConnection)
    assert close.code == 1009
    assert peer.server.state is WSState.CLOSED


def test_message_at_the_limit_passes_one_more_byte_is_1009(mode: str) -> None:
    peer = Peer(max_message_size=100)
    assert peer.feed(peer.client.send(BytesMessage(data=b"x" * 100)), mode) == [Message(b"x" * 100)]
    assert peer.feed(peer.client.send(BytesMessage(data=b"x" * 101)), mode) == [
        Closed(1009, "message larger than 100 bytes")
    ]
    too_big(peer)


def test_fragments_count_together() -> None:
    peer = Peer(max_message_size=100)
    data = b"".join(peer.client.send(BytesMessage(data=b"y" * 40, message_finished=False)) for _ in range(3))
    assert peer.feed(data) == [Closed(1009, "message larger than 100 bytes")]
    too_big(peer)


def test_text_counts_utf8_bytes() -> None:
    peer = Peer(max_message_size=100)
    assert peer.feed(peer.client.send(TextMessage(data="é" * 51))) == [
        Closed(1009, "message larger than 100 bytes")
    ]


def test_compressed_messages_round_trip_and_are_bounded_after_inflation() -> None:
    peer = Peer(max_message_size=10_000, deflate=True)
    assert peer.feed(peer.client.send(TextMessage(data="a" * 10_000))) == [Message("a" * 10_000)]
    # A deflate bomb: 10 MB of zeros compress to ~10 KB; the server must stop inflating at the limit.
    bomb = peer.client.send(BytesMessage(data=bytes(10_000_000)))
    assert len(bomb) < 20_000
    assert peer.feed(bomb) == [Closed(1009, "message larger than 10000 bytes")]
    too_big(peer)


def test_compressed_then_plain_budget_resets_per_message() -> None:
    peer = Peer(max_message_size=1000, deflate=True)
    for _ in range(5):
        assert peer.feed(peer.client.send(BytesMessage(data=b"z" * 1000))) == [Message(b"z" * 1000)]


def test_corrupt_compressed_data_is_1007() -> None:
    peer = Peer(deflate=True)
    payload = b"\xff" * 8  # no valid deflate stream
    mask = b"\x00\x00\x00\x00"
    frame = bytes([0xC2, 0x80 | len(payload)]) + mask + payload  # FIN + RSV1, binary, masked
    [closed] = peer.feed(frame)
    assert isinstance(closed, Closed)
    assert closed.code == 1007


def test_unmasked_client_frame_is_a_protocol_error() -> None:
    peer = Peer()
    [closed] = peer.feed(b"\x81\x02hi")  # RFC 6455 §5.1: a server MUST close on an unmasked frame
    assert isinstance(closed, Closed)
    assert closed.code == 1002
    peer.client.receive_data(peer.server.data_to_send())
    assert [e.code for e in peer.client.events() if isinstance(e, CloseConnection)] == [1002]


def test_invalid_utf8_is_1007() -> None:
    peer = Peer()
    payload = b"\xc3\x28"
    frame = bytes([0x81, 0x80 | len(payload)]) + b"\x00\x00\x00\x00" + payload
    [closed] = peer.feed(frame)
    assert isinstance(closed, Closed)
    assert closed.code == 1007


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_fuzz_any_input_gives_events_or_a_close(data: bytes, deflate: bool) -> None:
    peer = Peer(max_message_size=64, deflate=deflate)
    events = peer.feed(data)  # never raises
    for event in events[:-1]:
        assert isinstance(event, (Message, Pong))
    if events and isinstance(events[-1], Closed):
        assert peer.server.state is WSState.CLOSED


# ----------------------------------------------------------------------------- strict framing

_MASK = b"\x01\x02\x03\x04"


def client_frame(first: int, payload: bytes = b"", *, length: bytes | None = None) -> bytes:
    """A masked client frame; `first` is its first byte (FIN, RSV, opcode), `length` overrides the
    encoded length field (for non-minimal encodings)."""
    size = len(payload)
    if length is None:
        if size < 126:
            length = bytes([size])
        elif size < 0x10000:
            length = b"\x7e" + size.to_bytes(2, "big")
        else:
            length = b"\x7f" + size.to_bytes(8, "big")
    masked = bytes(b ^ _MASK[i % 4] for i, b in enumerate(payload))
    return bytes([first, 0x80 | length[0]]) + length[1:] + _MASK + masked


_TEXT_START = client_frame(0x01, b"ab")  # a text message's first fragment (no FIN)


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        pytest.param(client_frame(0xA1, b"x"), 1002, id="rsv2"),
        pytest.param(client_frame(0x91, b"x"), 1002, id="rsv3"),
        pytest.param(client_frame(0xC1, b"x"), 1002, id="rsv1 without deflate"),
        pytest.param(client_frame(0x83, b"x"), 1002, id="reserved data opcode 3"),
        pytest.param(client_frame(0x87), 1002, id="reserved data opcode 7"),
        pytest.param(client_frame(0x8B), 1002, id="reserved control opcode 11"),
        pytest.param(client_frame(0x09, b"x"), 1002, id="fragmented ping"),
        pytest.param(client_frame(0x89, b"x" * 126), 1002, id="ping over 125 bytes"),
        pytest.param(client_frame(0x80, b"x"), 1002, id="continuation without a message"),
        pytest.param(_TEXT_START + client_frame(0x81, b"x"), 1002, id="new message inside a fragmented one"),
        pytest.param(
            client_frame(0x82, b"abc", length=b"\x7e\x00\x03"), 1002, id="16-bit length for 3 bytes"
        ),
        pytest.param(
            client_frame(0x82, b"abc", length=b"\x7f" + (3).to_bytes(8, "big")), 1002, id="64-bit small"
        ),
        pytest.param(bytes([0x82, 0xFF]) + (1 << 63).to_bytes(8, "big") + _MASK, 1002, id="64-bit top bit"),
        pytest.param(client_frame(0x88, b"\x03"), 1002, id="one-byte close payload"),
        pytest.param(client_frame(0x88, (1004).to_bytes(2, "big")), 1002, id="close code 1004"),
        pytest.param(client_frame(0x88, (999).to_bytes(2, "big")), 1002, id="close code 999"),
        pytest.param(
            client_frame(0x88, (1000).to_bytes(2, "big") + b"\xff"), 1007, id="close reason not UTF-8"
        ),
        pytest.param(client_frame(0x81, b"\xed\xa0\x80"), 1007, id="UTF-8 surrogate"),
        pytest.param(
            client_frame(0x01, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xff"), 1007, id="invalid fragment fails fast"
        ),
        pytest.param(client_frame(0x82, b"x" * 65), 1009, id="over the message size"),
        pytest.param(
            client_frame(0x02, b"x" * 40) + client_frame(0x80, b"x" * 25), 1009, id="fragments over it"
        ),
    ],
)
def test_broken_frames_fail_with_their_close_code(frames: bytes, code: int, mode: str) -> None:
    peer = Peer(max_message_size=64)
    events = peer.feed(frames, mode)
    assert len(events) == 1, events
    assert isinstance(events[0], Closed)
    assert events[0].code == code
    assert peer.server.state is WSState.CLOSED
    # The client is told why, with the same code, in a close frame.
    assert [e.code for e in peer.answers() if isinstance(e, CloseConnection)] == [code]
    peer.server.receive_data(client_frame(0x81, b"late"))
    assert peer.server.next_event() is NEED_DATA  # nothing after the close


def test_a_frame_too_big_fails_on_its_header_before_the_payload_arrives() -> None:
    peer = Peer(max_message_size=1000)
    header = bytes([0x82, 0xFF]) + (10**9).to_bytes(8, "big") + _MASK
    assert peer.feed(header) == [Closed(1009, "message larger than 1000 bytes")]


def test_control_frames_between_fragments_are_handled(mode: str) -> None:
    peer = Peer()
    data = _TEXT_START + client_frame(0x89, b"p") + client_frame(0x8A, b"q") + client_frame(0x80, b"c")
    assert peer.feed(data, mode) == [Pong(b"q"), Message("abc")]
    assert peer.answers() == [ClientPong(payload=b"p")]


def test_utf8_split_across_fragments_is_whole(mode: str) -> None:
    peer = Peer()
    data = client_frame(0x01, b"\xc3") + client_frame(0x00, b"\xa9\xe2\x82") + client_frame(0x80, b"\xac")
    assert peer.feed(data, mode) == [Message("é€")]


def test_an_incomplete_utf8_sequence_at_the_end_is_1007() -> None:
    peer = Peer()
    assert peer.feed(client_frame(0x01, b"a\xc3") + client_frame(0x80, b"")) == [
        Closed(1007, "text message is not valid UTF-8")
    ]


def test_empty_messages_and_frames() -> None:
    peer = Peer()
    data = client_frame(0x81) + client_frame(0x82) + client_frame(0x02) + client_frame(0x80, b"x")
    assert peer.feed(data) == [Message(""), Message(b""), Message(b"x")]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 100_000])
def test_server_frames_use_the_shortest_length(size: int) -> None:
    peer = Peer(max_message_size=200_000)
    frame = peer.server.send_message(b"y" * size)
    assert frame[1] == (size if size < 126 else 126 if size < 65536 else 127)
    peer.client.receive_data(frame)
    assert [e.data for e in peer.client.events()] == [b"y" * size]  # type: ignore[attr-defined]


def test_close_reason_is_bounded_by_the_frame() -> None:
    peer = Peer()
    with pytest.raises(LocalProtocolError, match="123 bytes"):
        peer.server.send_close(1000, "é" * 62)
    assert peer.server.state is WSState.OPEN
    peer.server.send_close(1000, "é" * 61)


# A valid conversation, generated: messages cut into fragments at random, pings and pongs between
# fragments. Whatever the cut of the bytes on the wire, the same messages come out, whole.
_messages = st.lists(st.one_of(st.text(max_size=40), st.binary(max_size=40)), max_size=6)


@st.composite
def _conversation(draw: st.DrawFn) -> tuple[bytes, list[object], list[int]]:
    wire = b""
    expected: list[object] = []
    for message in draw(_messages):
        raw = message.encode() if isinstance(message, str) else message
        cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=3)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        for i, piece in enumerate(pieces):
            opcode = (1 if isinstance(message, str) else 2) if i == 0 else 0
            fin = 0x80 if i == len(pieces) - 1 else 0
            wire += client_frame(fin | opcode, piece)
            if fin:
                expected.append(Message(message))
            if draw(st.booleans()):
                payload = draw(st.binary(max_size=8))
                wire += client_frame(0x8A, payload)
                expected.append(Pong(payload))
    splits = draw(st.lists(st.integers(0, len(wire)), max_size=8))
    return wire, expected, sorted(splits)


@settings(max_examples=200, deadline=None)
@given(_conversation())
def test_generated_conversations_come_out_whole_however_the_bytes_are_cut(
    case: tuple[bytes, list[object], list[int]],
) -> None:
    wire, expected, splits = case
    for mode in ("whole", "bytewise"):
        assert Peer(max_message_size=1000).feed(wire, mode) == expected
    peer = Peer(max_message_size=1000)
    events: list[object] = []
    for a, b in zip([0, *splits], [*splits, len(wire)], strict=True):
        events += peer.feed(wire[a:b])
    assert events == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=130)), max_size=5), st.booleans())
def test_generated_frames_give_the_same_events_whole_and_byte_by_byte(
    frames: list[tuple[int, bytes]], deflate: bool
) -> None:
    # Any first byte (every opcode, FIN and RSV combination): a message, a pong, a close with one of
    # the codes a broken frame earns, or need-more-data; never an exception, and the same events
    # whether the bytes come at once or one by one.
    wire = b"".join(client_frame(first, payload) for first, payload in frames)
    results = []
    for mode in ("whole", "bytewise"):
        peer = Peer(max_message_size=64, deflate=deflate)
        events = peer.feed(wire, mode)
        for event in events[:-1]:
            assert isinstance(event, (Message, Pong))
        if events and isinstance(events[-1], Closed):
            assert events[-1].code in (1000, 1001, 1002, 1003, 1005, 1007, 1009) or events[-1].code >= 1010
        results.append(events)
    assert results[0] == results[1]


# ----------------------------------------------------------------------------- compression state


def deflate_peer(offer: str = "permessage-deflate; client_max_window_bits") -> Peer:
    """A Peer whose wsproto client took the server's answer to `offer` (window bits and all)."""
    peer = Peer(max_message_size=1 << 20)
    response, peer.server = accept(
        handshake(extensions=(offer,)), None, [], max_message_size=1 << 20, deflate=True
    )
    answer = [line for line in response.split(b"\r\n") if line.startswith(b"sec-websocket-extensions: ")]
    client_deflate = PerMessageDeflate()
    client_deflate.finalize(answer[0].split(b": ", 1)[1].decode())
    peer.client = Connection(ConnectionType.CLIENT, [client_deflate])
    return peer


def test_released_compression_state_is_rebuilt_with_the_clients_window() -> None:
    peer = deflate_peer()
    texts = [f'{{"user": "ann", "seq": {i}, "text": "hello hello hello {i}"}}' for i in range(40)]
    sizes = []
    for i, text in enumerate(texts):
        assert peer.feed(peer.client.send(TextMessage(data=text))) == [Message(text)]
        frame = peer.server.send_message(text)
        sizes.append(len(frame))
        peer.client.receive_data(frame)
        assert [e.data for e in peer.client.events()] == [text]  # type: ignore[attr-defined]
        if i % 3 == 0:
            peer.server.release()  # the client's compressor still refers back to earlier messages
    # Each message's fresh deflater was primed with what was sent before: the ones after the first
    # refer back to it, as with a deflater kept alive.
    assert max(sizes[1:]) < 0.6 * sizes[0]


def test_the_client_window_asked_for_is_what_the_client_may_use() -> None:
    peer = deflate_peer()
    # wsproto's client took "client_max_window_bits=12" from the answer: its messages fit 4 KiB.
    text = "".join(f"{i:05d}" for i in range(4000))  # 20 KB, repeats far apart
    assert peer.feed(peer.client.send(TextMessage(data=text))) == [Message(text)]
    assert peer.feed(peer.client.send(TextMessage(data=text))) == [Message(text)]


def test_idle_compressing_connections_hold_little_memory() -> None:
    import tracemalloc

    peers = [deflate_peer() for _ in range(20)]
    text = "chat message " * 20
    frames = [peer.client.send(TextMessage(data=text)) for peer in peers]  # the client's zlib: not counted
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for peer, frame in zip(peers, frames, strict=True):
            assert peer.feed(frame) == [Message(text)]
            peer.server.send_message(text)
        busy = tracemalloc.get_traced_memory()[0]
        for peer in peers:
            peer.server.release()
        idle = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # The inflater is kept while the connection talks (its state is traced: the measure is real);
    # the deflater never outlives its message.
    assert (busy - before) / len(peers) > 8 * 1024
    assert (idle - before) / len(peers) < 2 * 1024  # what is left: windows kept as bytes, no zlib state


@pytest.mark.parametrize(
    ("first", "rest"),
    [
        (b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", b"\xf4\x90\x80\x80edited"),  # Autobahn 6.4.3
        (b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4", b"\x90"),  # Autobahn 6.4.4
    ],
)
def test_invalid_utf8_fails_before_its_frame_is_complete(first: bytes, rest: bytes) -> None:
    # RFC 6455 §8.1, as soon as the bytes make it certain: the frame's last part never arrives.
    peer = Peer()
    frame = client_frame(0x81, first + rest + b"-and-more-that-never-comes")
    head = len(frame) - len(first + rest + b"-and-more-that-never-comes")
    assert peer.feed(frame[: head + len(first)]) == []  # valid so far: wait
    assert peer.feed(frame[head + len(first) : head + len(first) + len(rest)]) == [
        Closed(1007, "text message is not valid UTF-8")
    ]


def test_a_text_frame_checked_in_parts_after_earlier_fragments() -> None:
    # The check of a partial frame starts from where the message's earlier fragments left off.
    peer = Peer()
    data = client_frame(0x01, b"ab\xe2") + client_frame(0x80, b"\x82\xac end")  # a euro sign split
    for i in range(len(data)):
        events = peer.feed(data[i : i + 1])
        if i < len(data) - 1:
            assert events == []
    assert events == [Message("ab€ end")]


def test_release_waits_for_the_end_of_a_fragmented_compressed_message() -> None:
    import zlib

    peer = deflate_peer()
    text = ("a long message, cut in the middle of its compressed stream " * 20).encode()
    deflater = zlib.compressobj(6, zlib.DEFLATED, -12)
    stream = (deflater.compress(text) + deflater.flush(zlib.Z_SYNC_FLUSH))[:-4]
    cut = len(stream) // 2  # not at a block boundary: only the same inflater reads on
    assert peer.feed(client_frame(0x41, stream[:cut])) == []  # text, RSV1, not final
    peer.server.release()  # quiet between the two frames: the inflater is kept
    assert peer.feed(client_frame(0x80, stream[cut:])) == [Message(text.decode())]
    peer.server.release()  # the message is whole: now it may go
    more = deflater.compress(text) + deflater.flush(zlib.Z_SYNC_FLUSH)  # refers back to the first
    assert peer.feed(client_frame(0xC1, more[:-4])) == [Message(text.decode())]
