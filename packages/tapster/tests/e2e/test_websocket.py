"""WebSockets end to end: real sockets, the `websockets` client library, on asyncio, uvloop and trio."""

from __future__ import annotations

import base64
import os
import socket

import pytest
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from tapster.asgi._types import Receive, Scope, Send
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from conftest import RunningServer, ServeFactory


def ws_url(running: RunningServer, path: str = "/") -> str:
    return "ws://" + running.url.split("//", 1)[1] + path


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Raw ASGI: accept (with the first offered subprotocol), echo every message, stop at disconnect."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    if scope["path"] == "/deny":
        await send({"type": "websocket.close"})
        return
    subprotocols = scope["subprotocols"]
    await send({"type": "websocket.accept", "subprotocol": subprotocols[0] if subprotocols else None})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")})


def test_text_and_binary_echo_with_compression(serve: ServeFactory) -> None:
    running = serve(echo)
    with connect(ws_url(running, "/echo")) as ws:
        assert ws.response is not None
        assert ws.response.headers["sec-websocket-extensions"].startswith("permessage-deflate")
        ws.send("héllo")
        assert ws.recv() == "héllo"
        ws.send(b"\x00\x01\xff")
        assert ws.recv() == b"\x00\x01\xff"
        big = "tapster " * 50_000  # 400 KB, compresses well, arrives in many reads
        ws.send(big)
        assert ws.recv() == big
        fragments = [os.urandom(1000) for _ in range(5)]
        ws.send(iter(fragments))  # a fragmented message is delivered whole
        assert ws.recv() == b"".join(fragments)


def test_compression_can_be_turned_off(serve: ServeFactory) -> None:
    running = serve(echo, ws_per_message_deflate=False)
    with connect(ws_url(running)) as ws:
        assert ws.response is not None
        assert "sec-websocket-extensions" not in ws.response.headers
        ws.send("plain")
        assert ws.recv() == "plain"


def test_subprotocol_negotiation(serve: ServeFactory) -> None:
    running = serve(echo)
    with connect(ws_url(running), subprotocols=["v2.chat", "v1.chat"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "v2.chat"
    with connect(ws_url(running)) as ws:
        assert ws.subprotocol is None


def test_message_too_big_is_closed_1009(serve: ServeFactory) -> None:
    running = serve(echo, ws_max_message_size=10_000)
    for compression in ("deflate", None):
        with connect(ws_url(running), compression=compression) as ws:
            ws.send(b"x" * 10_000)
            assert ws.recv() == b"x" * 10_000
            ws.send(b"x" * 10_001)
            with pytest.raises(ConnectionClosedError) as closed:
                ws.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009


def test_close_before_accept_is_a_403(serve: ServeFactory) -> None:
    running = serve(echo)
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(running, "/deny"))
    assert refused.value.response.status_code == 403


def test_client_close_code_reaches_the_app(serve: ServeFactory) -> None:
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        seen.append(await receive())

    running = serve(app, lifespan="off")
    ws: ClientConnection
    with connect(ws_url(running)) as ws:
        ws.close(4321, "bye")
    running.stop()
    assert seen == [{"type": "websocket.disconnect", "code": 4321, "reason": "bye"}]


def test_server_shutdown_closes_with_1001(serve: ServeFactory) -> None:
    running = serve(echo)
    with connect(ws_url(running)) as ws:
        ws.send("before")
        assert ws.recv() == "before"
        running.server.shutdown()
        with pytest.raises(ConnectionClosedOK) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
    running.thread.join(15)  # the drain ended with the close handshake, long before shutdown_timeout
    assert not running.thread.is_alive()
    assert not running.errors


# ----------------------------------------------------------------------------- Starlette


class Echo(WebSocketEndpoint):
    encoding = "text"

    async def on_receive(self, websocket: WebSocket, data: str) -> None:
        await websocket.send_text("echo: " + data)


async def shout(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="shout")
    async for message in websocket.iter_text():
        await websocket.send_text(message.upper())
    # the client closed: iter_text() ended


async def denied(websocket: WebSocket) -> None:
    await websocket.send_denial_response(PlainTextResponse("members only", status_code=401))


starlette_app = Starlette(
    routes=[
        WebSocketRoute("/endpoint", Echo),
        WebSocketRoute("/shout", shout),
        WebSocketRoute("/denied", denied),
    ]
)


def test_starlette_websocket_endpoint_and_route(serve: ServeFactory) -> None:
    running = serve(starlette_app)
    with connect(ws_url(running, "/endpoint")) as ws:
        ws.send("one")
        assert ws.recv() == "echo: one"
        ws.send("two")
        assert ws.recv() == "echo: two"
    with connect(ws_url(running, "/shout"), subprotocols=["shout"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "shout"
        ws.send("quiet")
        assert ws.recv() == "QUIET"


def test_starlette_denial_response(serve: ServeFactory) -> None:
    running = serve(starlette_app)
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(running, "/denied"))
    response = refused.value.response
    assert response.status_code == 401
    assert response.body == b"members only"


# ----------------------------------------------------------------------------- raw sockets


def raw_upgrade(running: RunningServer, *fields: bytes) -> bytes:
    sock = running.connect()
    with sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + b"".join(fields)
            + b"\r\n"
        )
        sock.settimeout(5)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
        return b"".join(chunks)


KEY = b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\n"


def test_raw_socket_bad_upgrades(serve: ServeFactory) -> None:
    running = serve(echo)
    wrong_version = raw_upgrade(running, KEY, b"Sec-WebSocket-Version: 8\r\n")
    assert wrong_version.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nsec-websocket-version: 13\r\n" in wrong_version
    no_key = raw_upgrade(running, b"Sec-WebSocket-Version: 13\r\n")
    assert no_key.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Sec-WebSocket-Key" in no_key
    bad_key = raw_upgrade(running, b"Sec-WebSocket-Key: short\r\n", b"Sec-WebSocket-Version: 13\r\n")
    assert bad_key.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_raw_socket_handshake_and_unmasked_frame_is_1002(serve: ServeFactory) -> None:
    running = serve(echo)
    sock: socket.socket = running.connect()
    with sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        sock.sendall(b"\x81\x02hi")  # unmasked: RFC 6455 §5.1 says the server must close
        while len(rest) < 4:
            chunk = sock.recv(65536)
            assert chunk
            rest += chunk
        assert rest[0] == 0x88  # a close frame
        assert int.from_bytes(rest[2:4], "big") == 1002


async def patient(scope: Scope, receive: Receive, send: Send) -> None:
    """Waits for a message with a timeout that expires (a cancelled receive()), then receives again;
    and two tasks waiting at once, one of them cancelled."""
    import anyio

    if scope["type"] == "lifespan":
        await echo(scope, receive, send)
        return
    await receive()
    await send({"type": "websocket.accept"})
    for _ in range(3):
        with anyio.move_on_after(0.05):
            await receive()
            raise AssertionError("nothing was sent yet")
    await send({"type": "websocket.send", "text": "timed out"})
    message = await receive()
    await send({"type": "websocket.send", "text": "got " + message["text"]})
    got: list[str] = []
    async with anyio.create_task_group() as group:

        async def reader() -> None:
            got.append((await receive())["text"])

        group.start_soon(reader)
        with anyio.move_on_after(0.05):
            await receive()  # waits beside the reader, then is cancelled: the reader must not be
        await send({"type": "websocket.send", "text": "ready"})
    await send({"type": "websocket.send", "text": "reader got " + got[0]})


def test_a_cancelled_receive_leaves_the_next_one_working(serve: ServeFactory) -> None:
    running = serve(patient)
    with connect(ws_url(running)) as ws:
        assert ws.recv(timeout=5) == "timed out"
        ws.send("hello")
        assert ws.recv(timeout=5) == "got hello"
        assert ws.recv(timeout=5) == "ready"
        ws.send("again")
        assert ws.recv(timeout=5) == "reader got again"
