"""The websocket: werkzeug's sans-I/O request for the handshake, with async accept/receive/send/close.

The I/O goes through a `WebsocketIO` (the ASGI connection in `firkin.asgi.websocket`, or nothing at all in
`app.test_websocket_context()`), so this module knows no transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from werkzeug.datastructures import Headers

from firkin.globals import _cv_app

from .base import BaseRequestWebsocket

if TYPE_CHECKING:
    from collections.abc import Mapping

    import anyio

__all__ = ["Websocket", "WebsocketDisconnected", "WebsocketIO"]


class WebsocketDisconnected(BaseException):
    """The client closed the websocket, or the connection dropped.

    Raised by `websocket.receive()` and `websocket.send()` once the client is gone; when it leaves a
    websocket handler, firkin ends the handler cleanly (no error is logged, the teardown hooks get
    `None`). Like `asyncio.CancelledError` it derives from `BaseException`, so a broad
    `except Exception:` in a handler does not swallow it by accident: catch it by name to clean up.

    `code` and `reason` are those of the client's close frame (1005 "no status" when it sent none;
    1006 when the connection dropped without one).
    """

    def __init__(self, code: int = 1005, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class WebsocketIO(Protocol):
    """What a `Websocket` needs from its connection (firkin's ASGI driver implements it)."""

    #: The client's close code and reason, once it has gone.
    disconnect_code: int
    disconnect_reason: str

    @property
    def accepted(self) -> bool: ...

    @property
    def closed(self) -> bool: ...

    async def accept(self, headers: Headers, subprotocol: str | None) -> None: ...

    async def receive(self) -> str | bytes: ...

    async def send(self, data: str | bytes) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...

    def cancel_on_disconnect(self) -> anyio.CancelScope: ...


class Websocket(BaseRequestWebsocket):
    """The websocket being handled (`firkin.websocket` in a handler): the handshake's path, args,
    headers and cookies as on a request, and the connection as awaitables.

    `receive()` and `send()` accept the connection first when the handler has not (as in Quart); call
    `await websocket.accept(headers=..., subprotocol=...)` first to choose what the handshake answers.
    """

    def __init__(
        self,
        scheme: str,
        server: tuple[str, int | None] | None,
        root_path: str,
        path: str,
        query_string: bytes,
        headers: Headers,
        remote_addr: str | None,
        io: WebsocketIO,
        *,
        subprotocols: list[str] | None = None,
        http_version: str = "1.1",
        scope: dict[str, Any] | None = None,
    ) -> None:
        super().__init__("GET", scheme, server, root_path, path, query_string, headers, remote_addr)
        self.http_version = http_version
        self.scope = scope if scope is not None else {}
        self._io = io
        self._subprotocols = list(subprotocols or ())

    @property
    def requested_subprotocols(self) -> list[str]:
        """The subprotocols the client offered (Sec-WebSocket-Protocol), in its order of preference."""
        return self._subprotocols

    @property
    def host_header(self) -> str | None:
        """The raw Host header, or None (as on Request)."""
        return self.headers.get("host")

    @property
    def accepted(self) -> bool:
        """Whether the handshake was accepted (by `accept()`, or the first `receive()`/`send()`)."""
        return self._io.accepted

    # ----------------------------------------------------------------- the connection

    async def accept(
        self,
        headers: Mapping[str, str] | Headers | list[tuple[str, str]] | None = None,
        subprotocol: str | None = None,
    ) -> None:
        """Accept the handshake, with extra response `headers` and the chosen `subprotocol` (one of
        `requested_subprotocols`). Accepting twice does nothing the second time (as in Quart)."""
        if subprotocol is not None and subprotocol not in self._subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not requested by the client"
                f" (it offered {self._subprotocols!r})"
            )
        if self._io.accepted:
            return
        await self._io.accept(Headers(headers) if headers is not None else Headers(), subprotocol)

    async def receive(self) -> str | bytes:
        """The next message: `str` for a text frame, `bytes` for a binary one. Waits for one.

        Raises `WebsocketDisconnected` once the client has gone (after the messages it sent before)."""
        if not self._io.accepted:
            await self.accept()
        return await self._io.receive()

    async def send(self, data: str | bytes) -> None:
        """Send a text (`str`) or binary (`bytes`) message. Raises `WebsocketDisconnected` when the
        client has gone."""
        if not isinstance(data, str | bytes | bytearray):
            raise TypeError(
                f"websocket.send() takes str or bytes, not {type(data).__name__}; use send_json() for"
                " other values"
            )
        if not self._io.accepted:
            await self.accept()
        await self._io.send(bytes(data) if isinstance(data, bytearray) else data)

    async def receive_json(self) -> Any:
        """The next message, parsed as JSON (with the app's JSON provider)."""
        return self._json_loads(await self.receive())

    async def send_json(self, *args: Any, **kwargs: Any) -> None:
        """Send a value as a JSON text message: `send_json(value)`, or `send_json(key=value, ...)`
        for an object (the arguments of `jsonify`)."""
        if args and kwargs:
            raise TypeError("send_json() takes one value or keyword arguments, not both")
        data: Any = args[0] if len(args) == 1 else (list(args) if args else kwargs)
        await self.send(self._json_dumps(data))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the websocket with a close `code` (RFC 6455 §7.4) and `reason`. Before the
        handshake was accepted, this refuses it (servers answer 403)."""
        await self._io.close(code, reason)

    # ----------------------------------------------------------------- JSON

    @staticmethod
    def _json_loads(data: str | bytes) -> Any:
        ctx = _cv_app.get(None)
        if ctx is not None:
            return ctx.app.json.loads(data)
        import json

        return json.loads(data)

    @staticmethod
    def _json_dumps(data: Any) -> str:
        ctx = _cv_app.get(None)
        if ctx is not None:
            return ctx.app.json.dumps(data)
        import json

        return json.dumps(data)
