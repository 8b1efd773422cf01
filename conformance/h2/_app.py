"""The application the conformance cases assume, as a raw ASGI app (no framework, so any ASGI server
can serve it): GET / answers 200 "hello" (5 octets, content-length set), HEAD / the same head without
content, POST echoes the request body. Every other method answers 405.

    hypercorn conformance.h2._app:app --bind 127.0.0.1:8000
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HELLO = b"hello"


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away first."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    method = scope["method"]
    request_body = await _read_body(receive)
    if request_body is None:
        return
    status, body = 200, HELLO
    if method == "POST":
        body = request_body
    elif method not in ("GET", "HEAD"):
        status, body = 405, b""
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
