"""The server the Autobahn fuzzing client expects: a WebSocket echo. A raw ASGI app (no framework),
so what Autobahn sees is tapster's WebSocket layer alone: every text message comes back as text,
every binary message as binary, exactly as it arrived; plain HTTP requests get 426.

    tapster conformance.autobahn._app:app --ws-max-message-size 16777216 --ws-ping-interval 0
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["SERVER_OPTIONS", "app"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# tapster's Config for the run, and why each differs from the default:
SERVER_OPTIONS: dict[str, Any] = {
    # 9.1.6 and 9.2.6 echo a 16 MiB message (the default limit, 1 MiB, would close them with 1009).
    "ws_max_message_size": 16 * 1024 * 1024,
    # A ping of the server's own would land among the frames a case compares with what it expects
    # (the long 9.* cases outlast the 20 s default interval).
    "ws_ping_interval": 0.0,
}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _echo(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
        elif kind == "websocket.disconnect":
            return


async def _not_websocket(send: Send) -> None:
    body = b"This server only speaks WebSocket.\n"
    headers = [
        (b"content-type", b"text/plain"),
        (b"content-length", str(len(body)).encode()),
        (b"upgrade", b"websocket"),  # RFC 9110 §15.5.22: a 426 says what to upgrade to
    ]
    await send({"type": "http.response.start", "status": 426, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "websocket":
        await _echo(receive, send)
    elif scope["type"] == "http":
        await _not_websocket(send)
