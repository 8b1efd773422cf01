"""Websockets end to end: a firkin app on a real server over a real socket, with the `websockets` client.

Parametrized by server: tapster on asyncio and on trio (what `firkin run` serves with), and
uvicorn (its sans-I/O websockets protocol, which also offers the "websocket.http.response"
extension): firkin runs on any ASGI server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import uvicorn
from firkin import Firkin, Response, WebsocketDisconnected, abort, websocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import start_server

SERVERS = ["tapster-asyncio", "tapster-trio", "uvicorn"]


def make_app() -> tuple[Firkin, list[Any]]:
    app = Firkin(__name__)
    events: list[Any] = []

    @app.route("/echo")
    async def page() -> str:
        return "the page"

    @app.websocket("/echo")
    async def echo() -> None:
        await websocket.accept(headers={"X-Echo": "yes"}, subprotocol=_pick(websocket.requested_subprotocols))
        try:
            while True:
                data = await websocket.receive()
                if data == "close please":
                    await websocket.close(4001, "as you wish")
                    return
                await websocket.send(data)
        except WebsocketDisconnected as gone:
            events.append(("echo gone", gone.code))
            raise

    @app.websocket("/private")
    async def private() -> Response:
        if websocket.args.get("token") != "secret":
            abort(403)
        return Response("no", status=400)  # (a token never reaches here in these tests)

    @app.websocket("/feed")
    async def feed() -> None:
        await websocket.send("subscribed")
        try:
            await anyio.Event().wait()  # news that never comes
        finally:
            events.append("feed ended")

    @app.websocket("/broken")
    async def broken() -> None:
        await websocket.send("about to fail")
        raise RuntimeError("the handler broke")

    @app.teardown_websocket
    def teardown(exc: BaseException | None) -> None:
        events.append(("teardown", websocket.path, exc is None))

    return app, events


def _pick(offered: list[str]) -> str | None:
    return "chat" if "chat" in offered else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_uvicorn(app: Firkin) -> tuple[str, Callable[[], None]]:
    port = _free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        ws="websockets-sansio",
        lifespan="on",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        thread.join(0.01)
    assert server.started, "uvicorn did not start"

    def stop() -> None:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "uvicorn did not stop"

    return f"127.0.0.1:{port}", stop


@pytest.fixture(params=SERVERS)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[Any]]]:
    """(host:port, the app's event log) of the test app, on each server."""
    app, events = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False
    if request.param == "uvicorn":
        address, stop = serve_uvicorn(app)
        yield address, events
        stop()
        return
    server = start_server(app, request.param.removeprefix("tapster-"))
    yield f"{server.host}:{server.port}", events
    server.stop()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 10))


def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("the condition did not come true")


def test_echo_with_subprotocol_and_accept_headers(served: tuple[str, list[Any]]) -> None:
    address, events = served

    async def talk() -> None:
        async with connect(f"ws://{address}/echo", subprotocols=["chat"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "chat"
            assert ws.response is not None
            assert ws.response.headers["X-Echo"] == "yes"
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x01\x02")
            assert await ws.recv() == b"\x01\x02"

    run(talk())
    wait_for(lambda: ("teardown", "/echo", True) in events)
    assert ("echo gone", 1000) in events


def test_http_request_on_the_same_path(served: tuple[str, list[Any]]) -> None:
    address, _ = served
    with urllib.request.urlopen(f"http://{address}/echo", timeout=5) as response:
        assert response.read() == b"the page"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://{address}/feed", timeout=5)
    info.value.close()
    assert info.value.code == 400  # a websocket-only path


def test_the_handler_closes_with_code_and_reason(served: tuple[str, list[Any]]) -> None:
    address, _ = served

    async def talk() -> None:
        async with connect(f"ws://{address}/echo") as ws:
            await ws.send("close please")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "as you wish")

    run(talk())


def test_refusal_is_an_http_response(served: tuple[str, list[Any]]) -> None:
    address, _ = served

    async def talk() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"ws://{address}/private"):
                pass
        assert info.value.response.status_code == 403
        assert b"Forbidden" in info.value.response.body
        with pytest.raises(InvalidStatus) as missing:
            async with connect(f"ws://{address}/nowhere"):
                pass
        assert missing.value.response.status_code == 404

    run(talk())


def test_a_feed_handler_ends_when_the_client_leaves(served: tuple[str, list[Any]]) -> None:
    address, events = served

    async def talk() -> None:
        async with connect(f"ws://{address}/feed") as ws:
            assert await ws.recv() == "subscribed"

    run(talk())
    wait_for(lambda: ("teardown", "/feed", True) in events)
    assert "feed ended" in events


def test_an_unhandled_error_closes_with_1011(served: tuple[str, list[Any]]) -> None:
    address, events = served

    async def talk() -> None:
        async with connect(f"ws://{address}/broken") as ws:
            assert await ws.recv() == "about to fail"
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1011

    run(talk())
    wait_for(lambda: ("teardown", "/broken", False) in events)
