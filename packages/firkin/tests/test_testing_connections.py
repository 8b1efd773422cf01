"""`client.request()` (a streamed request and response, Quart's TestHTTPConnection), the test client's
Quart attributes, and that firkin's testing classes are what `firkin.typing`'s protocols describe
(mypy checks the assignments below: a Quart test suite annotated with those protocols type-checks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookiejar import CookieJar

import pytest
from firkin import Firkin, request, websocket
from firkin import typing as ft
from firkin.testing import FirkinClient, TestApp, TestHTTPConnection
from firkin.testing.connections import HTTPDisconnectError
from werkzeug.exceptions import ClientDisconnected

pytestmark = pytest.mark.anyio


def make_app() -> Firkin:
    app = Firkin(__name__)
    app.config["SERVER_NAME"] = "example.com"

    @app.post("/echo")
    async def echo() -> AsyncIterator[bytes]:
        body = request.body  # the generator runs after the view returned, outside the request

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in body:
                yield chunk.upper()

        return chunks()

    @app.get("/stream")
    async def stream() -> AsyncIterator[bytes]:
        async def forever() -> AsyncIterator[bytes]:
            number = 0
            while True:
                number += 1
                yield f"data: {number}\n\n".encode()

        return forever()

    @app.post("/wait")
    async def wait() -> str:
        try:
            await request.get_data()
        except ClientDisconnected:
            app.extensions["left"] = True
            raise
        return "read"

    @app.get("/boom")
    async def boom() -> str:
        raise ValueError("boom")

    @app.get("/who", subdomain="api")
    async def who() -> str:
        auth = request.authorization
        user = auth.username if auth is not None else None
        return f"{request.host} {user} {request.cookies.get('c')} {request.scope['client'][0]}"

    @app.websocket("/ws", subdomain="api")
    async def ws() -> None:
        auth = websocket.authorization
        await websocket.send(
            f"{websocket.host} {auth.username if auth else None} {websocket.cookies.get('c')}"
        )

    return app


async def test_a_request_body_streamed_up_and_the_response_down() -> None:
    client = make_app().test_client()
    async with client.request("/echo", method="POST") as connection:
        await connection.send(b"abc")
        await connection.send(b"def")
        await connection.send_complete()
        chunks = [await connection.receive(), await connection.receive()]
    assert chunks == [b"ABC", b"DEF"]
    response = await connection.as_response()
    assert response.status_code == 200
    assert await response.get_data() == b"ABCDEF"


async def test_receive_after_the_last_chunk_raises_http_disconnect() -> None:
    client = make_app().test_client()
    async with client.request("/echo", method="POST") as connection:
        await connection.send_complete()
        assert await connection.receive() == b""  # the final, empty chunk
        with pytest.raises(HTTPDisconnectError):
            await connection.receive()
    assert connection.status_code == 200


async def test_an_endless_stream_ends_when_the_client_disconnects() -> None:
    client = make_app().test_client()
    async with client.request("/stream") as connection:
        await connection.send_complete()
        assert await connection.receive() == b"data: 1\n\n"
        assert await connection.receive() == b"data: 2\n\n"
        await connection.disconnect()
    assert connection.headers is not None
    assert connection.headers["Content-Type"].startswith("text/html")


async def test_a_disconnect_while_the_app_reads_the_body() -> None:
    app = make_app()
    async with app.test_client().request("/wait", method="POST") as connection:
        await connection.send(b"part")
        await connection.disconnect()
    assert app.extensions["left"] is True


async def test_the_apps_error_reaches_the_test() -> None:
    app = make_app()
    app.testing = True
    with pytest.raises(ValueError, match="boom"):
        async with app.test_client().request("/boom") as connection:
            await connection.send_complete()
    async with app.test_client().request("/boom") as connection:
        await connection.send_complete()
        with pytest.raises(ValueError, match="boom"):
            await connection.receive()  # seen here: not raised again at the end of the block


async def test_request_and_websocket_take_auth_subdomain_scope_base_and_cookies() -> None:
    client = make_app().test_client()
    client.set_cookie("api.example.com", "c", "cookie")
    async with client.request(
        "/who", subdomain="api", auth=("ada", "pw"), scope_base={"client": ("10.0.0.1", 1)}
    ) as connection:
        await connection.send_complete()
    response = await connection.as_response()
    assert await response.get_data(as_text=True) == "api.example.com ada cookie 10.0.0.1"
    async with client.websocket("/ws", subdomain="api", auth=("bob", "pw")) as ws:
        assert await ws.receive() == "api.example.com bob cookie"


def test_cookie_jar_is_quarts_view_of_the_cookies() -> None:
    client = make_app().test_client()
    client.set_cookie("example.com", "a", "1")
    jar = client.cookie_jar
    assert jar is not None
    assert [(cookie.name, cookie.value, cookie.domain) for cookie in jar] == [("a", "1", "example.com")]
    replacement = CookieJar()
    for cookie in jar:
        cookie.value = "2"
        replacement.set_cookie(cookie)
    client.cookie_jar = replacement
    assert client.get_cookie("a") == "2"
    client.cookie_jar = None
    assert client.cookie_jar is None
    assert not client.use_cookies
    assert make_app().test_client(use_cookies=False).cookie_jar is None


def test_delete_cookie_takes_quarts_four_positional_arguments() -> None:
    client = make_app().test_client()
    client.set_cookie("example.com", "a", "1")
    client.delete_cookie("example.com", "a", "/", None)
    assert client.get_cookie("a") is None


async def test_a_connection_class_that_is_not_firkins_is_refused() -> None:
    client = make_app().test_client()
    client.http_connection_class = ft.TestHTTPConnectionProtocol  # type: ignore[type-abstract]
    with pytest.raises(TypeError, match="http_connection_class"):
        client.request("/")


async def test_test_app_startup_and_shutdown() -> None:
    app = make_app()
    events: list[str] = []

    @app.before_serving
    async def up() -> None:
        events.append("up")

    @app.after_serving
    async def down() -> None:
        events.append("down")

    test_app = app.test_app()
    await test_app.startup()
    assert events == ["up"]
    await test_app.shutdown()
    assert events == ["up", "down"]


async def test_firkins_classes_are_what_the_protocols_describe() -> None:
    """Checked by mypy: each assignment fails type checking if a class stops matching its protocol."""
    app = make_app()
    client: ft.TestClientProtocol = app.test_client()
    test_app: ft.TestAppProtocol = app.test_app()
    http_class: type[ft.TestHTTPConnectionProtocol] = TestHTTPConnection
    connection: ft.TestHTTPConnectionProtocol = client.request("/who", subdomain="api")
    ws: ft.TestWebsocketConnectionProtocol = client.websocket("/ws", subdomain="api")
    assert isinstance(client, FirkinClient)
    assert isinstance(test_app, TestApp)
    assert isinstance(connection, http_class)
    async with connection:
        await connection.send_complete()
    assert (await connection.as_response()).status_code == 200
    async with ws:
        assert await ws.receive() == "api.example.com None None"
    async with test_app:
        pass
