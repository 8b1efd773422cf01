"""Test connections (Quart's `quart.testing.connections`): `client.websocket(path)` talks to a websocket
handler, `client.request(path)` streams a request's body and its response, both through the app's ASGI
interface, in process. `app.test_websocket_context(path)` has no connection."""

from __future__ import annotations

import base64
import math
import os
from collections.abc import MutableMapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.lowlevel
from werkzeug.datastructures import Headers

from firkin.wrappers import DataBody
from firkin.wrappers.websocket import WebsocketDisconnected

from .utils import make_test_scope, query_bytes, with_auth, with_host

if TYPE_CHECKING:
    from werkzeug.datastructures import Authorization

    from firkin.app import Firkin
    from firkin.typing import HTTPScope, WebsocketScope
    from firkin.wrappers import Response, Websocket

__all__ = [
    "HTTPDisconnectError",
    "TestHTTPConnection",
    "TestWebsocketConnection",
    "WebsocketDisconnectError",
    "WebsocketResponseError",
    "make_test_websocket",
    "make_websocket_scope",
]


class HTTPDisconnectError(Exception):
    """`TestHTTPConnection.receive()` after the response's last body chunk: there is nothing more."""


class WebsocketDisconnectError(Exception):
    """Quart's name for a websocket that disconnected; firkin raises `firkin.WebsocketDisconnected`
    (with the close code and reason), which this is not a base of. Kept so code importing it runs."""


class WebsocketResponseError(Exception):
    """The app refused the handshake with an HTTP response (`.response`: status, headers, body)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response)
        self.response = response


def make_websocket_scope(
    app: Firkin,
    path: str,
    *,
    headers: dict[str, str] | Headers | list[tuple[str, str]] | None = None,
    query_string: dict[str, Any] | str | bytes | None = None,
    scheme: str = "ws",
    subprotocols: list[str] | None = None,
    root_path: str = "",
    http_version: str = "1.1",
    scope_base: dict[str, Any] | None = None,
    auth: Authorization | tuple[str, str] | None = None,
    subdomain: str | None = None,
) -> dict[str, Any]:
    """An ASGI websocket scope for a test handshake, with the headers a client sends (RFC 6455 §4.1)
    and the "websocket.http.response" extension (so a refusal comes back as a response). `auth`,
    `subdomain` and `scope_base` are as for an HTTP test request."""
    if scheme not in ("ws", "wss"):
        raise ValueError(f"a websocket's scheme is 'ws' or 'wss', not {scheme!r}")
    header_map = Headers(headers) if headers is not None else Headers()
    header_map.setdefault("Upgrade", "websocket")
    header_map.setdefault("Connection", "Upgrade")
    header_map.setdefault("Sec-WebSocket-Version", "13")
    header_map.setdefault("Sec-WebSocket-Key", base64.b64encode(os.urandom(16)).decode("ascii"))
    if subprotocols:
        header_map.setdefault("Sec-WebSocket-Protocol", ", ".join(subprotocols))
    with_auth(header_map, auth)
    path_only, query = query_bytes(path, query_string)
    with_host(app, header_map, subdomain)
    scope = make_test_scope(
        "websocket", path_only, "GET", header_map, query, scheme, root_path, http_version, None
    )
    scope["subprotocols"] = list(subprotocols or ())
    if scope_base is not None:
        scope.update(scope_base)
    return scope


class _Unconnected:
    """The connection of a websocket that never connected (`app.test_websocket_context`)."""

    accepted = False
    closed = False
    disconnect_code = 1006
    disconnect_reason = ""

    @staticmethod
    def _refuse() -> RuntimeError:
        return RuntimeError(
            "a test websocket context has no connection: to talk to a websocket handler, use"
            " `async with app.test_client().websocket(path) as ws:`"
        )

    async def accept(self, headers: Headers, subprotocol: str | None) -> None:
        raise self._refuse()

    async def receive(self) -> str | bytes:
        raise self._refuse()

    async def send(self, data: str | bytes) -> None:
        raise self._refuse()

    async def close(self, code: int, reason: str) -> None:
        raise self._refuse()

    def cancel_on_disconnect(self) -> anyio.CancelScope:
        return anyio.CancelScope()


def make_test_websocket(app: Firkin, path: str = "/", **kwargs: Any) -> Websocket:
    """A Websocket for `path` that never connected (for `app.test_websocket_context`)."""
    from firkin.asgi import websocket_from_scope

    return websocket_from_scope(app, make_websocket_scope(app, path, **kwargs), _Unconnected())


class _Closed:
    """The app closed the websocket (websocket.close) with this code and reason."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class TestWebsocketConnection:
    """`async with client.websocket("/ws") as ws:` runs the handler in a task; `await ws.send(...)`,
    `await ws.receive()`, `send_json` / `receive_json`, `await ws.close(code)`.

    `receive()` raises `WebsocketResponseError` when the app refused the handshake with a response,
    `WebsocketDisconnected` (with the app's code and reason) once the app closed the websocket, and
    the app's own exception if it raised one (testing mode propagates them). Leaving the block
    disconnects the client, waits for the handler to end, and raises what `receive()` would have.
    Messages wait in unbounded buffers both ways: a test sends and reads as many as it means to.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, app: Firkin, scope: WebsocketScope | dict[str, Any]) -> None:
        self.app = app
        self.scope: dict[str, Any] = dict(scope)
        self.accepted = False
        #: The subprotocol and extra headers the app accepted with.
        self.subprotocol: str | None = None
        self.headers: Headers | None = None
        #: The refusal response's status (None unless the app refused the handshake with one).
        self.status_code: int | None = None
        self.response_data = bytearray()
        self._to_app, self._app_inbox = anyio.create_memory_object_stream[dict[str, Any]](math.inf)
        self._app_outbox, self._from_app = anyio.create_memory_object_stream[Any](math.inf)
        self._group: anyio.abc.TaskGroup | None = None
        self._end: BaseException | None = None  # what receive() raises from now on
        self._disconnected = False
        self._app_done = anyio.Event()
        self._app_error: Exception | None = None

    # ----------------------------------------------------------------- the app's side

    async def _run_app(self) -> None:
        async def receive() -> MutableMapping[str, Any]:
            return await self._app_inbox.receive()

        async def send(message: MutableMapping[str, Any]) -> None:
            # Yield, as a server's send does: a handler that only sends (a feed in a loop) must not
            # starve the test, which could then never receive, nor close the connection.
            await anyio.lowlevel.checkpoint()
            await self._on_app_message(dict(message))

        try:
            await self.app(self.scope, receive, send)
        except Exception as exc:  # noqa: BLE001 - the app's error: the test gets it from receive() or at exit
            self._app_error = exc
            self._app_outbox.send_nowait(exc)
        finally:
            self._app_outbox.send_nowait(_Closed(1006, "the app returned"))
            self._app_done.set()

    async def _on_app_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self.accepted = True
            self.subprotocol = message.get("subprotocol")
            self.headers = Headers(
                [
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in message.get("headers", [])
                ]
            )
        elif kind == "websocket.send":
            if self._disconnected:  # ASGI: sending on a closed connection raises an OSError
                raise OSError("the test client has disconnected")
            text = message.get("text")
            self._app_outbox.send_nowait(text if text is not None else message.get("bytes") or b"")
        elif kind == "websocket.close":
            self._app_outbox.send_nowait(_Closed(message.get("code", 1000), message.get("reason") or ""))
            self._disconnect_app(message.get("code", 1000), message.get("reason") or "")
        elif kind == "websocket.http.response.start":
            self.status_code = message["status"]
            self.headers = Headers(
                [
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in message.get("headers", [])
                ]
            )
        elif kind == "websocket.http.response.body":
            self.response_data.extend(message.get("body", b""))
            if not message.get("more_body", False):
                response = self.app.response_class(status=self.status_code)
                response.response = DataBody(bytes(self.response_data))
                response.headers = self.headers if self.headers is not None else Headers()
                self._app_outbox.send_nowait(WebsocketResponseError(response))
                self._disconnect_app(1006, "")
        else:
            raise RuntimeError(f"the app sent an unexpected ASGI message {kind!r}")

    def _disconnect_app(self, code: int, reason: str) -> None:
        if not self._disconnected:
            self._disconnected = True
            self._to_app.send_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})

    # ----------------------------------------------------------------- the test's side

    async def __aenter__(self) -> TestWebsocketConnection:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._to_app.send_nowait({"type": "websocket.connect"})
        self._group.start_soon(self._run_app)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._group is not None
        self._disconnect_app(1000, "")
        try:
            await self._group.__aexit__(None, None, None)  # the handler ends on the disconnect
            if exc is not None:
                return  # the test's own error wins
            ended_before = self._end is not None
            while self._end is None:  # the app has finished: all it sent is buffered
                try:
                    await self.receive()
                except BaseException:  # noqa: BLE001 - receive() records what it raises in _end
                    break
            if (
                not ended_before
                and self._end is not None
                and not isinstance(self._end, WebsocketDisconnected)
            ):
                raise self._end  # a refusal, or the app's error, that the test never received
        finally:
            for stream in (self._to_app, self._app_inbox, self._app_outbox, self._from_app):
                stream.close()

    async def send(self, data: str | bytes) -> None:
        """Send a text (`str`) or binary (`bytes`) message to the handler."""
        if self._disconnected:
            raise WebsocketDisconnected(1006, "the websocket is closed")
        if isinstance(data, str):
            self._to_app.send_nowait({"type": "websocket.receive", "text": data})
        else:
            self._to_app.send_nowait({"type": "websocket.receive", "bytes": bytes(data)})

    async def receive(self) -> str | bytes:
        """The next message the handler sent; raises as the class docstring says once there is none."""
        if self._end is not None:
            raise self._end
        try:
            item = await self._from_app.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            item = _Closed(1006, "")
        if isinstance(item, str | bytes):
            return item
        if isinstance(item, _Closed):
            if item.code == 1011:  # an internal error: the app's exception, if it propagates, says more
                await self._app_done.wait()
            self._end = self._app_error or WebsocketDisconnected(item.code, item.reason)
        else:
            self._end = item
        raise self._end

    async def send_json(self, data: Any) -> None:
        await self.send(self.app.json.dumps(data))

    async def receive_json(self) -> Any:
        return self.app.json.loads(await self.receive())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the client's side: the handler's `receive()` raises WebsocketDisconnected."""
        self._disconnect_app(code, reason)

    async def disconnect(self) -> None:
        """The connection drops without a close frame (code 1006)."""
        self._disconnect_app(1006, "")


_END = object()  # the response's last body chunk was received


class TestHTTPConnection:
    """`async with client.request(path, method="POST") as connection:` runs the request in a task
    while the test streams the body, `await connection.send(b"...")` then
    `await connection.send_complete()`, and reads the response as it comes: `await
    connection.receive()` gives each body chunk the app sends, then raises `HTTPDisconnectError`.
    `status_code` and `headers` are set once the response has started; `await
    connection.as_response()` is the response with the body received so far.

    `await connection.disconnect()` is the client leaving: the app's next read of the body raises
    werkzeug's ClientDisconnected, and a streamed response stops at its next chunk. Leaving the block
    waits for the app to finish (disconnect first from an endless stream), then raises the app's
    error if it raised one (testing mode propagates them) and the test never received it.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self, app: Firkin, scope: HTTPScope | dict[str, Any], _preserve_context: bool = False
    ) -> None:
        self.app = app
        self.scope: dict[str, Any] = dict(scope)
        self.headers: Headers | None = None
        self.status_code: int | None = None
        self.push_promises: list[tuple[str, Headers]] = []
        #: The body chunks received from the app by `as_response()` or at the end of the block.
        self.response_data = bytearray()
        # _preserve_context is Quart's: firkin keeps a request's contexts with `async with client:`.
        self._to_app, self._app_inbox = anyio.create_memory_object_stream[dict[str, Any]](math.inf)
        self._app_outbox, self._from_app = anyio.create_memory_object_stream[Any](math.inf)
        self._group: anyio.abc.TaskGroup | None = None
        self._disconnected = False
        self._ended = False  # receive() has seen the end (or the app's error)

    async def _run_app(self) -> None:
        async def receive() -> MutableMapping[str, Any]:
            return await self._app_inbox.receive()

        async def send(message: MutableMapping[str, Any]) -> None:
            await anyio.lowlevel.checkpoint()  # as a server's send: a streaming app yields to the test
            if self._disconnected:  # ASGI: sending to a client that left raises an OSError
                raise OSError("the test client has disconnected")
            kind = message["type"]
            if kind == "http.response.start":
                self.status_code = message["status"]
                self.headers = _headers(message.get("headers", []))
            elif kind == "http.response.body":
                self._app_outbox.send_nowait(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    self._app_outbox.send_nowait(_END)
            elif kind == "http.response.push":
                self.push_promises.append((message["path"], _headers(message["headers"])))

        try:
            await self.app(self.scope, receive, send)
        except Exception as exc:  # noqa: BLE001 - the app's error: the test gets it from receive() or at exit
            self._app_outbox.send_nowait(exc)
        finally:
            self._app_outbox.send_nowait(_END)

    async def __aenter__(self) -> TestHTTPConnection:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._run_app)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._group is not None
        if exc is not None:
            await self.disconnect()
        try:
            await self._group.__aexit__(None, None, None)  # the app runs to its end
            if exc is not None:
                return  # the test's own error wins
            unseen = self._collect()
            if unseen is not None:
                raise unseen
        finally:
            for stream in (self._to_app, self._app_inbox, self._app_outbox, self._from_app):
                stream.close()

    def _collect(self) -> Exception | None:
        """Move what the app sent and the test did not receive into `response_data`; the app's
        error, if the test has not seen it."""
        error: Exception | None = None
        while True:
            try:
                item = self._from_app.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return error
            if isinstance(item, bytes):
                self.response_data.extend(item)
            elif isinstance(item, Exception) and not self._ended:
                error = item

    async def send(self, data: bytes) -> None:
        """Send a chunk of the request body (more may follow)."""
        self._to_app.send_nowait({"type": "http.request", "body": bytes(data), "more_body": True})

    async def send_complete(self) -> None:
        """End the request body."""
        self._to_app.send_nowait({"type": "http.request", "body": b"", "more_body": False})

    async def receive(self) -> bytes:
        """The next chunk of the response body; `HTTPDisconnectError` after the last one, or the
        app's error if it raised one."""
        if self._ended:
            raise HTTPDisconnectError("the response is complete")
        try:
            item = await self._from_app.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            item = _END
        if isinstance(item, bytes):
            self.response_data.extend(item)
            return item
        self._ended = True
        if isinstance(item, Exception):
            raise item
        raise HTTPDisconnectError("the response is complete")

    async def disconnect(self) -> None:
        """The client leaves (ASGI `http.disconnect`)."""
        if not self._disconnected:
            self._disconnected = True
            self._to_app.send_nowait({"type": "http.disconnect"})

    async def as_response(self) -> Response:
        """The response so far: status, headers and the body received (by `receive()` or not)."""
        self._collect()
        response = self.app.response_class(status=self.status_code)
        response.response = DataBody(bytes(self.response_data))
        response.headers = self.headers if self.headers is not None else Headers()
        return response


def _headers(raw: Any) -> Headers:
    return Headers([(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw])
