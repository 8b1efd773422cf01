"""Small raw ASGI apps the end-to-end tests serve."""

from __future__ import annotations

import json
import threading
from typing import Any

from tapster.asgi._types import Receive, Scope, Send


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client went away")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


def _jsonable_scope(scope: Scope) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in scope.items():
        if key == "headers":
            out[key] = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in value]
        elif isinstance(value, bytes):
            out[key] = value.decode("latin-1")
        elif key == "state":
            out[key] = sorted(value)
        else:
            out[key] = value
    return out


class Recorder:
    """An app that routes on path and records what it saw (for assertions from the test thread)."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.disconnected = threading.Event()
        self.cancelled = threading.Event()
        self.started = threading.Event()
        self.lifespan: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.lifespan.append(message["type"])
                if message["type"] == "lifespan.startup":
                    scope["state"]["greeting"] = "hello"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"][len(scope["root_path"]) :]
        if path == "/scope":
            await respond(
                send,
                200,
                json.dumps(_jsonable_scope(scope)).encode(),
                [(b"content-type", b"application/json")],
            )
        elif path == "/echo":
            body = await read_body(receive)
            await respond(send, 200, body, [(b"content-type", b"application/octet-stream")])
        elif path == "/stream":
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
            )
            for i in range(5):
                await send({"type": "http.response.body", "body": b"chunk %d\n" % i, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif path == "/error":
            raise RuntimeError("boom")
        elif path == "/error-after-start":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"partial", "more_body": True})
            raise RuntimeError("boom after start")
        elif path == "/no-response":
            return
        elif path == "/bad-header":
            await respond(send, 200, b"x", [(b"x-evil", b"a\r\nset-cookie: stolen=1")])
        elif path == "/status":
            status = int(scope["query_string"] or b"200")
            await respond(send, status, b"body-that-must-not-be-sent" if status in (204, 304) else b"ok")
        elif path == "/wait-disconnect":
            self.started.set()
            message = await receive()
            while message["type"] != "http.disconnect":
                message = await receive()
            self.disconnected.set()
        elif path == "/stream-until-gone":
            # Streams until send() raises: ASGI 2.4 servers raise an OSError once the client left.
            await send({"type": "http.response.start", "status": 200, "headers": []})
            self.started.set()
            try:
                while True:
                    await send({"type": "http.response.body", "body": b"tick\n" * 100, "more_body": True})
                    await pause()
            except OSError:
                self.disconnected.set()
        elif path == "/forever":
            # Waits for a disconnect that a patient client never sends: only cancellation ends it.
            self.started.set()
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass
                self.disconnected.set()
            except BaseException:
                self.cancelled.set()
                raise
        else:
            await respond(send, 404, b"not found")


async def pause() -> None:
    """Let the loop run for a moment, on whichever loop the server runs."""
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        await trio.sleep(0.005)
    else:
        import asyncio

        await asyncio.sleep(0.005)
