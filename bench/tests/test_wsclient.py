"""The load generator's WebSocket client side (bench/_wsclient.py), against the RFCs' own examples and
two independent server implementations (wsproto, and the sans-I/O core of `websockets` configured as
Uvicorn configures it). No sockets: every input is fed whole, byte by byte, and with trailing data."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator

import pytest
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Opcode
from websockets.server import ServerProtocol
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, Message, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from bench._wsclient import (
    BINARY,
    CLOSE,
    DEFLATE_OFFER,
    PING,
    TEXT,
    Deflate,
    HandshakeFailed,
    Reader,
    WebSocketError,
    accept_token,
    client_frame,
    close_frame,
    compress,
    handshake_request,
    mask,
    parse_deflate,
    parse_handshake_response,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example key ...
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # ... and its accept token
SIZES = [0, 1, 125, 126, 127, 1000, 65535, 65536, 70_000]


def text(size: int) -> bytes:
    return (b"tapster websocket bench " * (size // 24 + 1))[:size]


def pieces(data: bytes, how: str) -> Iterator[bytes]:
    if how == "whole":
        yield data
    elif how == "bytes":
        yield from (data[i : i + 1] for i in range(len(data)))
    else:  # uneven chunks across frame boundaries
        step = 7
        yield from (data[i : i + step] for i in range(0, len(data), step))


def read_all(reader: Reader, data: bytes, how: str) -> list[tuple[int, bytes]]:
    events: list[tuple[int, bytes]] = []
    for piece in pieces(data, how):
        events += reader.receive_data(piece)
    return events


FEEDS = ["whole", "bytes", "chunks"]


# ---------------------------------------------------------------------------------------------- framing


def test_rfc6455_masked_hello() -> None:
    # RFC 6455 §5.7: "A single-frame masked text message" with the key 37 fa 21 3d.
    assert client_frame(TEXT, b"Hello") == bytes.fromhex("818537fa213d7f9f4d5158")


@pytest.mark.parametrize("size", SIZES)
def test_mask_is_its_own_inverse(size: int) -> None:
    key = os.urandom(4)
    payload = os.urandom(size)
    assert mask(mask(payload, key), key) == payload
    assert mask(payload, key) == bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def test_close_frame() -> None:
    frame = close_frame(1000, "bye")
    assert frame[:2] == bytes((0x88, 0x80 | 5))
    assert mask(frame[6:], frame[2:6]) == b"\x03\xe8bye"


def _wsproto_server(deflate: bool) -> tuple[WSConnection, Deflate | None]:
    """A wsproto server connection after our handshake, and what our side parsed of its answer."""
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(handshake_request("127.0.0.1:8000", "/echo", KEY, DEFLATE_OFFER if deflate else None))
    (request,) = server.events()
    assert isinstance(request, Request)
    assert request.target == "/echo"
    head = server.send(AcceptConnection(extensions=[PerMessageDeflate()] if deflate else []))
    negotiated, _ = parse_handshake_response(head, KEY)
    return server, negotiated


@pytest.mark.parametrize("size", SIZES)
def test_client_frames_read_by_wsproto(size: int) -> None:
    server, _ = _wsproto_server(deflate=False)
    payload = text(size)
    server.receive_data(client_frame(TEXT, payload) + client_frame(BINARY, payload[:3]))
    first, second = server.events()
    assert isinstance(first, TextMessage)
    assert first.data == payload.decode()
    assert isinstance(second, BytesMessage)
    assert second.data == payload[:3]


@pytest.mark.parametrize("how", FEEDS)
@pytest.mark.parametrize("deflate", [False, True])
def test_wsproto_server_messages_read(how: str, deflate: bool) -> None:
    server, negotiated = _wsproto_server(deflate)
    assert (negotiated is not None) is deflate
    sizes = SIZES if how != "bytes" else [0, 1, 125, 126, 1000]  # byte by byte: kept short
    wire = b"".join(server.send(Message(data=text(size).decode())) for size in sizes)
    # A message in three fragments (RFC 6455 §5.4), compressed as one when deflate is on.
    wire += server.send(Message(data="frag", message_finished=False))
    wire += server.send(Message(data="ment", message_finished=False))
    wire += server.send(Message(data="ed", message_finished=True))
    assert read_all(Reader(negotiated), wire, how) == [(TEXT, text(size)) for size in sizes] + [
        (TEXT, b"fragmented")
    ]


def test_partial_frame_is_kept_until_complete() -> None:
    reader = Reader()
    frame = bytes((0x81, 126)) + (300).to_bytes(2, "big") + text(300)
    assert reader.receive_data(frame + frame[:1]) == [(TEXT, text(300))]
    assert reader.receive_data(frame[1:3]) == []
    assert reader.receive_data(frame[3:200]) == []
    assert reader.receive_data(frame[200:] + frame) == [(TEXT, text(300)), (TEXT, text(300))]


# RFC 6455 §5.7 examples, as a server sends them (unmasked).
RFC6455_EXAMPLES = [
    (bytes.fromhex("810548656c6c6f"), [(TEXT, b"Hello")]),
    (bytes.fromhex("010348656c") + bytes.fromhex("80026c6f"), [(TEXT, b"Hello")]),
    (bytes.fromhex("890548656c6c6f"), [(PING, b"Hello")]),
    (bytes.fromhex("827e0100") + bytes(256), [(BINARY, bytes(256))]),
    (bytes.fromhex("827f0000000000010000") + bytes(65536), [(BINARY, bytes(65536))]),
    # A ping between the fragments of a message (RFC 6455 §5.4: control frames may interleave).
    (
        bytes.fromhex("010348656c") + bytes.fromhex("8900") + bytes.fromhex("80026c6f"),
        [(PING, b""), (TEXT, b"Hello")],
    ),
    (bytes.fromhex("880203e8"), [(CLOSE, b"\x03\xe8")]),
]


@pytest.mark.parametrize("how", FEEDS)
@pytest.mark.parametrize(("wire", "want"), RFC6455_EXAMPLES)
def test_rfc6455_examples(wire: bytes, want: list[tuple[int, bytes]], how: str) -> None:
    assert read_all(Reader(), wire, how) == want
    # With the start of the next frame behind it: the same events, the rest kept.
    reader = Reader()
    assert reader.receive_data(wire + b"\x81") == want
    assert reader.receive_data(b"\x02ok") == [(TEXT, b"ok")]


# RFC 7692 §7.2.3 examples: "Hello" compressed, twice with the LZ77 window shared, and fragmented.
RFC7692_EXAMPLES = [
    (bytes.fromhex("c107f248cdc9c90700"), [(TEXT, b"Hello")]),
    (bytes.fromhex("c107f248cdc9c90700") + bytes.fromhex("c105f200110000"), [(TEXT, b"Hello")] * 2),
    (bytes.fromhex("4103f248cd") + bytes.fromhex("8004c9c90700"), [(TEXT, b"Hello")]),
]


@pytest.mark.parametrize("how", FEEDS)
@pytest.mark.parametrize(("wire", "want"), RFC7692_EXAMPLES)
def test_rfc7692_examples(wire: bytes, want: list[tuple[int, bytes]], how: str) -> None:
    assert read_all(Reader(Deflate()), wire, how) == want


def test_server_no_context_takeover_resets_the_decompressor() -> None:
    # Two messages each compressed from a fresh compressor, read one after the other.
    one = compress(b"Hello", Deflate())
    frames = (bytes((0xC1, len(one))) + one) * 2
    reader = Reader(Deflate(server_no_context_takeover=True))
    assert reader.receive_data(frames) == [(TEXT, b"Hello")] * 2


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (bytes.fromhex("818037fa213d"), "masked"),
        (bytes.fromhex("a100"), "RSV2/RSV3"),
        (bytes.fromhex("c100"), "RSV1"),
        (bytes.fromhex("817e0005") + b"Hello", "shortest form"),
        (bytes.fromhex("817f0000000000000005") + b"Hello", "shortest form"),
        (bytes.fromhex("0900"), "control frame"),
        (bytes.fromhex("89") + bytes((126,)) + (126).to_bytes(2, "big") + bytes(126), "control frame"),
        (bytes.fromhex("8000"), "no message to continue"),
        (bytes.fromhex("0100") + bytes.fromhex("8100"), "before the last one"),
        (bytes.fromhex("8300"), "reserved data opcode"),
        (bytes.fromhex("8b00"), "reserved control opcode"),
    ],
)
def test_what_a_server_must_not_send(wire: bytes, error: str) -> None:
    with pytest.raises(WebSocketError, match=error):
        Reader().receive_data(wire)


def test_corrupt_compressed_data() -> None:
    with pytest.raises(WebSocketError, match="cannot decompress"):
        Reader(Deflate()).receive_data(bytes.fromhex("c103ffffff"))


# ---------------------------------------------------------------------------------------------- handshake


def test_accept_token() -> None:
    assert accept_token(KEY) == ACCEPT  # RFC 6455 §1.3


def test_handshake_request() -> None:
    request = handshake_request("127.0.0.1:8000", "/echo", KEY, DEFLATE_OFFER)
    assert request.startswith(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert b"\r\nSec-WebSocket-Key: " + KEY.encode() + b"\r\n" in request
    assert b"\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" in request
    assert request.endswith(b"\r\n\r\n")
    assert b"Extensions" not in handshake_request("h", "/", KEY)


def _head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_handshake_response() -> None:
    head = _head(
        "HTTP/1.1 101 ",  # Hypercorn sends no reason phrase
        "upgrade: WebSocket",
        "connection: keep-alive, Upgrade",
        f"sec-websocket-accept: {ACCEPT}",
        "sec-websocket-extensions: permessage-deflate; server_max_window_bits=12",
        "Sec-WebSocket-Extensions: x-other",  # a second field line continues the list
    )
    deflate, raw = parse_handshake_response(head, KEY)
    assert deflate == Deflate(server_max_window_bits=12, client_max_window_bits=15)
    assert raw == "permessage-deflate; server_max_window_bits=12, x-other"
    plain = _head(
        "HTTP/1.1 101 OK", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}"
    )
    assert parse_handshake_response(plain, KEY) == (None, None)


OK, UPGRADE, CONNECTION = "HTTP/1.1 101 OK", "Upgrade: websocket", "Connection: Upgrade"


@pytest.mark.parametrize(
    ("head", "error"),
    [
        (_head("HTTP/1.1 403 Forbidden"), "not 101"),
        (_head(OK, CONNECTION, f"Sec-WebSocket-Accept: {ACCEPT}"), "Upgrade"),
        (_head(OK, UPGRADE, f"Sec-WebSocket-Accept: {ACCEPT}"), "Connection"),
        (_head(OK, UPGRADE, CONNECTION, "Sec-WebSocket-Accept: x"), "Accept"),
        (_head(OK, "Upgrade websocket"), "malformed"),
    ],
)
def test_bad_handshake_responses(head: bytes, error: str) -> None:
    with pytest.raises(HandshakeFailed, match=error):
        parse_handshake_response(head, KEY)


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("permessage-deflate", Deflate()),
        ("x-other, permessage-deflate; client_max_window_bits=9", Deflate(client_max_window_bits=9)),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            Deflate(server_no_context_takeover=True, client_no_context_takeover=True),
        ),
        ('permessage-deflate; server_max_window_bits="10"', Deflate(server_max_window_bits=10)),
        ("x-other", None),
    ],
)
def test_parse_deflate(value: str, want: Deflate | None) -> None:
    assert parse_deflate(value) == want


@pytest.mark.parametrize(
    "value",
    [
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; mystery",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    ],
)
def test_parse_deflate_refuses(value: str) -> None:
    with pytest.raises(WebSocketError):
        parse_deflate(value)


@pytest.mark.parametrize("bits", [9, 12, 15])
def test_compress_fits_the_window(bits: int) -> None:
    payload = text(70_000)
    data = compress(payload, Deflate(client_max_window_bits=bits))
    assert len(data) < len(payload) // 10
    inflater = zlib.decompressobj(-bits)  # a reader with exactly that window reads it
    assert inflater.decompress(data + b"\x00\x00\xff\xff") == payload


def test_compress_refuses_a_window_zlib_cannot_keep() -> None:
    with pytest.raises(WebSocketError, match="256-byte"):
        compress(b"x", Deflate(client_max_window_bits=8))


def test_round_trip_with_websockets_as_uvicorn_configures_it() -> None:
    """Uvicorn's default websocket implementation: the sans-I/O core of `websockets`, with a 12-bit
    window each way. Our compressed frames must reach it intact, and its compressed answers us."""
    server = ServerProtocol(
        extensions=[
            ServerPerMessageDeflateFactory(
                server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5}
            )
        ]
    )
    server.receive_data(handshake_request("127.0.0.1:8000", "/echo", KEY, DEFLATE_OFFER))
    (request,) = server.events_received()
    server.send_response(server.accept(request))  # type: ignore[arg-type] # it is a Request
    deflate, _ = parse_handshake_response(b"".join(server.data_to_send()), KEY)
    assert deflate == Deflate(client_max_window_bits=12, server_max_window_bits=12)
    reader = Reader(deflate)
    for size in (10, 1024, 65536):
        payload = text(size)
        server.receive_data(client_frame(TEXT, compress(payload, deflate), rsv1=True))
        (frame,) = server.events_received()
        assert frame.opcode is Opcode.TEXT  # type: ignore[union-attr]
        assert frame.data == payload  # type: ignore[union-attr]
        server.send_text(payload)  # compressed, the window carried over from the last message
        assert read_all(reader, b"".join(server.data_to_send()), "chunks") == [(TEXT, payload)]


def test_text_messages_are_what_wsproto_decodes() -> None:
    # A compressed frame of ours, read by wsproto with permessage-deflate negotiated.
    server, negotiated = _wsproto_server(deflate=True)
    assert negotiated is not None
    payload = text(5000)
    server.receive_data(client_frame(TEXT, compress(payload, negotiated), rsv1=True))
    (event,) = server.events()
    assert isinstance(event, TextMessage)
    assert event.data == payload.decode()
