"""The sans-I/O WebSocket core: the upgrade handshake on our HTTP/1.1 parser, then frames via wsproto.

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
