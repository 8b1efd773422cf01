"""The app every server in the peer comparison runs: raw ASGI 3, no framework.

Routes: ``GET /`` plaintext, ``GET /json`` a small JSON object, ``POST /echo`` the request body back,
``GET /1mib`` 1 MiB of bytes (for the HTTP/2 benchmark's large-response row).
Anything else is a 404. The ``lifespan`` scope is completed so every server starts it the same way.

WebSockets (bench/websocket.py, bench/memory.py ``--websocket``): ``/echo`` sends every message back
as it came (text as text, bytes as bytes); ``/broadcast`` sends every message any client sends to all
clients connected to ``/broadcast`` (the sender included), one ``await send()`` after the other. Any
other path is refused (a close before the accept: servers answer 403).

Serve it with e.g. ``tapster bench.apps:app`` or ``uvicorn bench.apps:app`` from the repository root.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["LARGE_SIZE", "app"]

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PLAIN_BODY = b"Hello, world!"
_PLAIN_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_PLAIN_BODY)).encode("ascii")),
]
_JSON_BODY = json.dumps({"message": "Hello, world!", "id": 1, "ok": True}, separators=(",", ":")).encode()
_JSON_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_JSON_BODY)).encode("ascii")),
]
# One body built at import: the row measures the server sending 1 MiB, not the app making it.
LARGE_SIZE = 1024 * 1024
_LARGE_BODY = b"x" * LARGE_SIZE
_LARGE_HEADERS = [
    (b"content-type", b"application/octet-stream"),
    (b"content-length", str(LARGE_SIZE).encode("ascii")),
]
_NOT_FOUND_BODY = b"Not Found"
_NOT_FOUND_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_NOT_FOUND_BODY)).encode("ascii")),
]


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# The sends of the websockets connected to /broadcast (one server process, one event loop).
_subscribers: set[Send] = set()


async def _websocket_echo(receive: Receive, send: Send) -> None:
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return  # websocket.disconnect
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def _websocket_broadcast(receive: Receive, send: Send) -> None:
    # Subscribed before the accept: a client that has its 101 is sure to get the next broadcast.
    _subscribers.add(send)
    try:
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            text = message.get("text")
            out: Message = {"type": "websocket.send"}
            if text is not None:
                out["text"] = text
            else:
                out["bytes"] = message["bytes"]
            for subscriber in list(_subscribers):  # a copy: subscribers come and go during the awaits
                try:
                    await subscriber(out)
                except Exception:  # noqa: BLE001 - that client left; the others still get it
                    _subscribers.discard(subscriber)
    finally:
        _subscribers.discard(send)


async def _websocket(scope: Scope, receive: Receive, send: Send) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    path = scope["path"]
    if path == "/echo":
        await _websocket_echo(receive, send)
    elif path == "/broadcast":
        await _websocket_broadcast(receive, send)
    else:
        await send({"type": "websocket.close", "code": 1008})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "lifespan":
        await _lifespan(receive, send)
        return
    if kind != "http":
        if kind == "websocket":
            await _websocket(scope, receive, send)
            return
        raise RuntimeError(f"bench app: unsupported scope type {kind!r}")
    path = scope["path"]
    method = scope["method"]
    if path == "/" and method == "GET":
        await _respond(send, 200, _PLAIN_HEADERS, _PLAIN_BODY)
    elif path == "/json" and method == "GET":
        await _respond(send, 200, _JSON_HEADERS, _JSON_BODY)
    elif path == "/echo" and method == "POST":
        body = await _read_body(receive)
        if body is None:
            return
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(len(body)).encode("ascii")),
        ]
        await _respond(send, 200, headers, body)
    elif path == "/1mib" and method == "GET":
        await _respond(send, 200, _LARGE_HEADERS, _LARGE_BODY)
    else:
        await _respond(send, 404, _NOT_FOUND_HEADERS, _NOT_FOUND_BODY)
