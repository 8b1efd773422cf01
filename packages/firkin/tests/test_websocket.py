"""Websockets through the test client (on asyncio and trio): the Websocket object, accept/receive/send,
refusals, errors, disconnects, routing, hooks, contexts and the bounded inbox."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import anyio
import firkin
import pytest
from firkin import (
    Blueprint,
    Firkin,
    Response,
    WebsocketDisconnected,
    abort,
    after_this_websocket,
    copy_current_websocket_context,
    g,
    has_request_context,
    has_websocket_context,
    session,
    url_for,
    websocket,
    websocket_finished,
    websocket_started,
    websocket_tearing_down,
)
from firkin.testing import TestWebsocketConnection, WebsocketResponseError

pytestmark = pytest.mark.anyio


def echo_app(**config: Any) -> Firkin:
    app = Firkin(__name__)
    app.config.update(config)

    @app.websocket("/echo")
    async def echo() -> None:
        while True:
            data = await websocket.receive()
            await websocket.send(data)

    return app


# ----------------------------------------------------------------- messages


async def test_echo_text_and_bytes() -> None:
    client = echo_app().test_client()
    async with client.websocket("/echo") as ws:
        await ws.send("hello")
        assert await ws.receive() == "hello"
        await ws.send(b"\x00\xff")
        assert await ws.receive() == b"\x00\xff"
        await ws.send("")
        assert await ws.receive() == ""
        assert ws.accepted


async def test_json_both_ways() -> None:
    app = Firkin(__name__)

    @app.websocket("/json")
    async def handler() -> None:
        data = await websocket.receive_json()
        await websocket.send_json({"got": data})
        await websocket.send_json(a=1)
        await websocket.send_json([1, 2])

    async with app.test_client().websocket("/json") as ws:
        await ws.send_json({"x": [1, "two"]})
        assert await ws.receive_json() == {"got": {"x": [1, "two"]}}
        assert await ws.receive_json() == {"a": 1}
        assert await ws.receive_json() == [1, 2]


async def test_send_refuses_other_types() -> None:
    app = Firkin(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = True

    @app.websocket("/")
    async def handler() -> None:
        await websocket.send({"a": 1})  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="send_json"):
        async with app.test_client().websocket("/") as ws:
            await ws.receive()


# ----------------------------------------------------------------- the handshake's data


async def test_handshake_properties() -> None:
    app = Firkin(__name__)
    bp = Blueprint("live", __name__, url_prefix="/live")
    seen: dict[str, Any] = {}

    @bp.websocket("/room/<int:room>")
    async def room(room: int) -> None:
        seen.update(
            room=room,
            path=websocket.path,
            full_path=websocket.full_path,
            args=websocket.args.to_dict(),
            header=websocket.headers["X-Token"],
            cookie=websocket.cookies.get("flavour"),
            host=websocket.host,
            scheme=websocket.scheme,
            url=websocket.url,
            remote_addr=websocket.remote_addr,
            subprotocols=websocket.requested_subprotocols,
            endpoint=websocket.endpoint,
            view_args=websocket.view_args,
            blueprint=websocket.blueprint,
            blueprints=websocket.blueprints,
            method=websocket.method,
            is_secure=websocket.is_secure,
            has_ws=has_websocket_context(),
            has_req=has_request_context(),
        )
        await websocket.accept(subprotocol="chat.v2")
        await websocket.send("ok")

    app.register_blueprint(bp)
    client = app.test_client()
    client.set_cookie("flavour", "lemon")
    async with client.websocket(
        "/live/room/7?who=ann",
        headers={"X-Token": "t"},
        subprotocols=["chat.v1", "chat.v2"],
        scheme="wss",
    ) as ws:
        assert await ws.receive() == "ok"
        assert ws.subprotocol == "chat.v2"
    assert seen == {
        "room": 7,
        "path": "/live/room/7",
        "full_path": "/live/room/7?who=ann",
        "args": {"who": "ann"},
        "header": "t",
        "cookie": "lemon",
        "host": "localhost",
        "scheme": "wss",
        "url": "wss://localhost/live/room/7?who=ann",
        "remote_addr": "127.0.0.1",
        "subprotocols": ["chat.v1", "chat.v2"],
        "endpoint": "live.room",
        "view_args": {"room": 7},
        "blueprint": "live",
        "blueprints": ["live"],
        "method": "GET",
        "is_secure": True,
        "has_ws": True,
        "has_req": False,
    }


async def test_accept_with_headers_and_auto_accept() -> None:
    app = Firkin(__name__)

    @app.websocket("/manual")
    async def manual() -> None:
        await websocket.accept(headers={"X-Hello": "there"})
        await websocket.accept()  # a second accept does nothing
        await websocket.send("after accept")

    @app.websocket("/auto")
    async def auto() -> None:
        assert not websocket.accepted
        await websocket.send("accepted by send")
        assert websocket.accepted

    client = app.test_client()
    async with client.websocket("/manual") as ws:
        assert await ws.receive() == "after accept"
        assert ws.headers is not None
        assert ws.headers["X-Hello"] == "there"
        assert ws.subprotocol is None
    async with client.websocket("/auto") as ws:
        assert await ws.receive() == "accepted by send"


async def test_accepting_a_subprotocol_the_client_did_not_offer_is_an_error() -> None:
    app = Firkin(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = True

    @app.websocket("/")
    async def handler() -> None:
        await websocket.accept(subprotocol="mqtt")

    with pytest.raises(ValueError, match="was not requested"):
        async with app.test_client().websocket("/", subprotocols=["chat"]) as ws:
            await ws.receive()


# ----------------------------------------------------------------- ends and refusals


async def test_handler_closes_with_code_and_reason() -> None:
    app = Firkin(__name__)
    after: list[str] = []

    @app.websocket("/")
    async def handler() -> None:
        await websocket.send("bye")
        await websocket.close(4001, "go away")
        with pytest.raises(RuntimeError, match="closed"):
            await websocket.send("too late")
        after.append("ran on")

    async with app.test_client().websocket("/") as ws:
        assert await ws.receive() == "bye"
        with pytest.raises(WebsocketDisconnected) as info:
            await ws.receive()
        assert (info.value.code, info.value.reason) == (4001, "go away")
    assert after == ["ran on"]


async def test_return_after_accept_is_ignored_and_closes_normally() -> None:
    app = Firkin(__name__)

    @app.websocket("/")
    async def handler() -> str:
        await websocket.send("hi")
        return "ignored"

    async with app.test_client().websocket("/") as ws:
        assert await ws.receive() == "hi"
        with pytest.raises(WebsocketDisconnected) as info:
            await ws.receive()
        assert info.value.code == 1000


async def test_return_none_without_accepting_closes_the_handshake() -> None:
    # Quart: a close before accepting, which servers answer with 403.
    app = Firkin(__name__)

    @app.websocket("/")
    async def handler() -> None:
        return None

    async with app.test_client().websocket("/") as ws:
        with pytest.raises(WebsocketDisconnected):
            await ws.receive()
        assert not ws.accepted


async def test_abort_and_responses_before_accepting_refuse_the_handshake() -> None:
    app = Firkin(__name__)
    app.secret_key = "s"

    @app.websocket("/abort")
    async def aborts() -> None:
        abort(403)

    @app.websocket("/response")
    async def responds() -> Response:
        session["tried"] = True
        return Response("members only", status=401, headers={"WWW-Authenticate": "Bearer"})

    @app.websocket("/tuple")
    def sync_tuple() -> tuple[str, int]:
        return "teapot", 418

    client = app.test_client()
    with pytest.raises(WebsocketResponseError) as info:
        async with client.websocket("/abort") as ws:
            await ws.receive()
    assert info.value.response.status_code == 403
    assert b"Forbidden" in await info.value.response.get_data()

    async with client.websocket("/response") as ws:
        with pytest.raises(WebsocketResponseError) as info:
            await ws.receive()
    response = info.value.response
    assert (response.status_code, await response.get_data()) == (401, b"members only")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "session=" in response.headers["Set-Cookie"]  # the session is saved with a refusal

    with pytest.raises(WebsocketResponseError) as info:
        async with client.websocket("/tuple") as ws:
            await ws.receive()
    assert info.value.response.status_code == 418


async def test_refusal_without_the_http_response_extension_is_a_close() -> None:
    app = Firkin(__name__)

    @app.websocket("/")
    async def handler() -> None:
        abort(403)

    sent = await call_raw(app, extensions={})
    assert sent == [{"type": "websocket.close", "code": 1000, "reason": ""}]


async def test_error_handlers_apply_to_websockets() -> None:
    app = Firkin(__name__)
    bp = Blueprint("bp", __name__)

    class Forbidden(Exception):
        pass

    @app.errorhandler(403)
    async def forbidden(error: Exception) -> tuple[str, int]:
        return "app says no", 403

    @bp.errorhandler(Forbidden)
    async def bp_forbidden(error: Exception) -> tuple[str, int]:
        return "blueprint says no", 451

    @app.websocket("/a")
    async def a() -> None:
        abort(403)

    @bp.websocket("/b")
    async def b() -> None:
        raise Forbidden()

    app.register_blueprint(bp)
    client = app.test_client()
    for path, status, body in (("/a", 403, b"app says no"), ("/b", 451, b"blueprint says no")):
        with pytest.raises(WebsocketResponseError) as info:
            async with client.websocket(path) as ws:
                await ws.receive()
        assert info.value.response.status_code == status
        assert await info.value.response.get_data() == body


async def test_unhandled_errors_500_before_accepting_1011_after(caplog: pytest.LogCaptureFixture) -> None:
    app = Firkin(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    torn: list[BaseException | None] = []

    @app.teardown_websocket
    def teardown(exc: BaseException | None) -> None:
        torn.append(exc)

    @app.websocket("/early")
    async def early() -> None:
        raise KeyError("early")

    @app.websocket("/late")
    async def late() -> None:
        await websocket.send("accepted")
        raise KeyError("late")

    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        with pytest.raises(WebsocketResponseError) as info:
            async with client.websocket("/early") as ws:
                await ws.receive()
        assert info.value.response.status_code == 500
        async with client.websocket("/late") as ws:
            assert await ws.receive() == "accepted"
            with pytest.raises(WebsocketDisconnected) as closed:
                await ws.receive()
            assert closed.value.code == 1011
    assert [r.getMessage() for r in caplog.records if r.name == app.logger.name] == [
        "Exception on websocket /early",
        "Exception on websocket /late",
    ]
    assert [type(exc) for exc in torn] == [KeyError, KeyError]


async def test_testing_mode_propagates_the_handlers_error() -> None:
    app = Firkin(__name__)
    app.testing = True

    @app.websocket("/")
    async def handler() -> None:
        await websocket.receive()
        raise LookupError("boom")

    async with app.test_client().websocket("/") as ws:
        await ws.send("go")
        with pytest.raises(LookupError, match="boom"):
            await ws.receive()
    with pytest.raises(LookupError, match="boom"):  # not received: raised when the block ends
        async with app.test_client().websocket("/") as ws:
            await ws.send("go")


# ----------------------------------------------------------------- the client leaving


async def test_client_close_ends_the_handler_cleanly() -> None:
    app = Firkin(__name__)
    events: list[Any] = []

    @app.teardown_websocket
    def teardown(exc: BaseException | None) -> None:
        events.append(("teardown", exc))

    @app.websocket("/")
    async def handler() -> None:
        try:
            while True:
                events.append(await websocket.receive())
        except Exception:  # the disconnect is no Exception: a broad handler does not swallow it
            events.append("swallowed")
        except WebsocketDisconnected as gone:
            events.append(("gone", gone.code, gone.reason))
            raise

    async with app.test_client().websocket("/") as ws:
        await ws.send("one")
        await ws.send("two")
        await ws.close(4000, "done")
    assert events == ["one", "two", ("gone", 4000, "done"), ("teardown", None)]


async def test_a_handler_waiting_elsewhere_is_cancelled_when_the_client_leaves() -> None:
    app = Firkin(__name__)
    feed: list[str] = []
    ended = anyio.Event()

    @app.teardown_websocket
    async def teardown(exc: BaseException | None) -> None:
        await anyio.sleep(0)  # teardowns run after the cancellation, not inside it
        feed.append(f"teardown {exc}")
        ended.set()

    @app.websocket("/feed")
    async def handler() -> None:
        await websocket.send("subscribed")
        try:
            await anyio.sleep_forever()  # waiting for news that never comes
        finally:
            feed.append("handler ended")

    async with app.test_client().websocket("/feed") as ws:
        assert await ws.receive() == "subscribed"
        await ws.disconnect()
        with anyio.fail_after(5):
            await ended.wait()
    assert feed == ["handler ended", "teardown None"]


async def test_send_after_the_client_left_raises_disconnected() -> None:
    app = Firkin(__name__)
    outcome: list[Any] = []
    sending = anyio.Event()

    @app.websocket("/")
    async def handler() -> None:
        await websocket.accept()
        try:
            with anyio.CancelScope(shield=True):  # keep going after the disconnect, to send
                await sending.wait()
                await websocket.send("anyone?")
        except WebsocketDisconnected as gone:
            outcome.append(gone.code)

    async with app.test_client().websocket("/") as ws:
        await ws.send("accepted?")  # (the accept is sent before the handler waits)
        await ws.close(1001)
        for _ in range(20):  # the server hears of the disconnect
            await anyio.sleep(0)
        sending.set()
    assert outcome == [1001]


async def test_messages_sent_before_leaving_are_still_received() -> None:
    app = Firkin(__name__)
    got: list[Any] = []
    go = anyio.Event()

    @app.websocket("/")
    async def handler() -> None:
        await websocket.accept()
        with anyio.CancelScope(shield=True):
            await go.wait()
        try:
            while True:
                got.append(await websocket.receive())
        except WebsocketDisconnected:
            got.append("end")

    async with app.test_client().websocket("/") as ws:
        await ws.send("a")
        await ws.send("b")
        await ws.close()
        go.set()
    assert got == ["a", "b", "end"]


async def test_receiving_from_a_task_group_ends_cleanly_when_the_client_leaves() -> None:
    app = Firkin(__name__)
    torn: list[BaseException | None] = []

    @app.teardown_websocket
    def teardown(exc: BaseException | None) -> None:
        torn.append(exc)

    @app.websocket("/")
    async def handler() -> None:
        @copy_current_websocket_context
        async def consume() -> None:
            while True:
                data = await websocket.receive()
                assert isinstance(data, str)
                await websocket.send(f"echo {data}")

        async with anyio.create_task_group() as group:
            group.start_soon(consume)

    async with app.test_client().websocket("/") as ws:
        await ws.send("x")
        assert await ws.receive() == "echo x"
    assert torn == [None]


async def test_the_inbox_is_bounded(streams: list[Any]) -> None:
    # The handler reads nothing: the receiving task stops reading from the server once the inbox
    # (WEBSOCKET_MAX_QUEUE messages) is full.
    app = Firkin(__name__)
    app.config["WEBSOCKET_MAX_QUEUE"] = 3
    release = anyio.Event()
    pulled = 0
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](100)
    streams.extend((to_app, app_inbox))
    to_app.send_nowait({"type": "websocket.connect"})
    for i in range(50):
        to_app.send_nowait({"type": "websocket.receive", "text": str(i)})
    received: list[str | bytes] = []

    @app.websocket("/")
    async def handler() -> None:
        await websocket.accept()
        await release.wait()
        received.extend([await websocket.receive() for _ in range(50)])

    async def receive() -> MutableMapping[str, Any]:
        nonlocal pulled
        pulled += 1
        return await app_inbox.receive()

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    async with anyio.create_task_group() as group:
        group.start_soon(run_app, app, ws_scope(app, "/"), receive, send)
        for _ in range(100):
            await anyio.sleep(0)
        assert pulled == 1 + 3  # the connect and a full inbox
        release.set()
        with anyio.fail_after(5):
            while len(received) < 50:
                await anyio.sleep(0.01)
        to_app.send_nowait({"type": "websocket.disconnect", "code": 1000})
    assert received == [str(i) for i in range(50)]


async def test_server_cancellation_closes_with_1011(streams: list[Any]) -> None:
    app = Firkin(__name__)
    started = anyio.Event()
    sent: list[dict[str, Any]] = []

    @app.websocket("/")
    async def handler() -> None:
        await websocket.accept()
        started.set()
        await anyio.sleep_forever()

    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](10)
    streams.extend((to_app, app_inbox))
    to_app.send_nowait({"type": "websocket.connect"})

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    async with anyio.create_task_group() as group:
        group.start_soon(run_app, app, ws_scope(app, "/"), app_inbox.receive, send)
        await started.wait()
        group.cancel_scope.cancel()
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert sent[-1]["code"] == 1011


# ----------------------------------------------------------------- routing and URLs


async def test_http_and_websocket_routes_share_a_path() -> None:
    app = Firkin(__name__)

    @app.route("/live")
    async def page() -> str:
        return "the page"

    @app.websocket("/live")
    async def live() -> None:
        await websocket.send("the socket")

    @app.websocket("/only-ws")
    async def only_ws() -> None:
        await websocket.send("x")

    @app.route("/only-http")
    async def only_http() -> str:
        return "x"

    client = app.test_client()
    assert (await client.get("/live")).text == "the page"
    async with client.websocket("/live") as ws:
        assert await ws.receive() == "the socket"
    # Quart (werkzeug's WebsocketMismatch): a request of the other kind is a 400 Bad Request.
    assert (await client.get("/only-ws")).status_code == 400
    for path, status in (("/only-http", 400), ("/nowhere", 404)):
        with pytest.raises(WebsocketResponseError) as info:
            async with client.websocket(path) as ws:
                await ws.receive()
        assert info.value.response.status_code == status


async def test_add_websocket_refuses_methods() -> None:
    app = Firkin(__name__)

    async def handler() -> None:
        pass

    with pytest.raises(TypeError, match="methods"):
        app.add_websocket("/", "h", handler, methods=["POST"])
    app.add_websocket("/", "h", handler)
    assert [rule.websocket for rule in app.url_map.iter_rules("h")] == [True]


async def test_url_for_websocket_endpoints() -> None:
    app = Firkin(__name__)
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    built: list[str] = []

    @app.websocket("/ws/<name>")
    async def named(name: str) -> None:
        built.append(url_for("named", name="x"))
        built.append(url_for("page", _external=True))
        await websocket.send("done")

    @bp.websocket("/sock")
    async def sock() -> None:
        built.append(url_for(".sock"))
        await websocket.send("done")

    @app.route("/page")
    async def page() -> str:
        return url_for("named", name="y")

    app.register_blueprint(bp)
    client = app.test_client()
    assert (await client.get("/page")).text == "ws://localhost/ws/y"  # websocket URLs are absolute
    assert (await client.get("/page", scheme="https")).text == "wss://localhost/ws/y"
    async with client.websocket("/ws/a") as ws:
        assert await ws.receive() == "done"
    async with client.websocket("/bp/sock", scheme="wss") as ws:
        assert await ws.receive() == "done"
    assert built == ["ws://localhost/ws/x", "http://localhost/page", "wss://localhost/bp/sock"]


async def test_url_value_preprocessors_and_defaults_see_the_websocket() -> None:
    # Quart runs url_value_preprocessors with `request`, which does not exist in a websocket.
    app = Firkin(__name__)
    bp = Blueprint("rooms", __name__, url_prefix="/<lang>")
    seen: list[Any] = []

    @bp.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, Any] | None) -> None:
        assert values is not None
        g.lang = values.pop("lang")
        seen.append(endpoint)

    @bp.url_defaults
    def add_lang(endpoint: str, values: dict[str, Any]) -> None:
        values.setdefault("lang", g.lang)

    @bp.websocket("/room/<int:room>")
    async def room(room: int) -> None:
        await websocket.send_json({"lang": g.lang, "room": room, "next": url_for(".room", room=room + 1)})

    app.register_blueprint(bp)
    async with app.test_client().websocket("/fr/room/1") as ws:
        # werkzeug builds websocket URLs absolute (browsers need the scheme), as in Quart.
        assert await ws.receive_json() == {"lang": "fr", "room": 1, "next": "ws://localhost/fr/room/2"}
    assert seen == ["rooms.room"]


# ----------------------------------------------------------------- hooks and signals


async def test_hooks_run_in_order_on_app_and_blueprints() -> None:
    app = Firkin(__name__)
    parent = Blueprint("parent", __name__, url_prefix="/p")
    child = Blueprint("child", __name__, url_prefix="/c")
    calls: list[str] = []

    def record(name: str) -> Any:
        async def hook(*args: Any) -> Any:
            calls.append(name)
            return args[0] if name.startswith("after") else None

        return hook

    app.before_websocket(record("before app"))
    parent.before_websocket(record("before parent"))
    child.before_websocket(record("before child"))
    child.before_app_websocket(record("before app (from child)"))
    app.after_websocket(record("after app"))
    parent.after_websocket(record("after parent"))
    child.after_websocket(record("after child"))
    app.teardown_websocket(record("teardown app"))
    parent.teardown_websocket(record("teardown parent"))
    child.teardown_websocket(record("teardown child"))
    child.teardown_app_websocket(record("teardown app (from child)"))
    child.after_app_websocket(record("after app (from child)"))
    app.before_request(record("before_request: never for websockets"))

    @child.websocket("/ws")
    async def handler() -> None:
        @after_this_websocket
        def just_this(response: Response | None) -> Response | None:
            calls.append("after this websocket")
            return response

        calls.append("handler")
        await websocket.send("x")

    parent.register_blueprint(child)
    app.register_blueprint(parent)
    async with app.test_client().websocket("/p/c/ws") as ws:
        assert await ws.receive() == "x"
    assert calls == [
        "before app",
        "before app (from child)",
        "before parent",
        "before child",
        "handler",
        "after this websocket",
        "after child",
        "after parent",
        "after app (from child)",
        "after app",
        "teardown child",
        "teardown parent",
        "teardown app (from child)",
        "teardown app",
    ]


async def test_before_websocket_can_refuse() -> None:
    app = Firkin(__name__)
    ran: list[str] = []

    @app.before_websocket
    async def check_token() -> Response | None:
        if websocket.args.get("token") != "secret":
            return Response("bad token", status=403)
        return None

    @app.websocket("/")
    async def handler() -> None:
        ran.append("handler")
        await websocket.send("in")

    client = app.test_client()
    with pytest.raises(WebsocketResponseError) as info:
        async with client.websocket("/") as ws:
            await ws.receive()
    assert info.value.response.status_code == 403
    async with client.websocket("/?token=secret") as ws:
        assert await ws.receive() == "in"
    assert ran == ["handler"]


async def test_signals() -> None:
    app = echo_app()
    heard: list[str] = []

    def started(sender: Firkin) -> None:
        heard.append("started")

    def finished(sender: Firkin, response: Response | None) -> None:
        heard.append(f"finished {response}")

    async def tearing_down(sender: Firkin, exc: BaseException | None) -> None:
        heard.append(f"tearing down {exc}")

    with (
        websocket_started.connected_to(started, app),
        websocket_finished.connected_to(finished, app),
        websocket_tearing_down.connected_to(tearing_down, app),
    ):
        async with app.test_client().websocket("/echo") as ws:
            await ws.send("x")
            assert await ws.receive() == "x"
    assert heard == ["started", "finished None", "tearing down None"]


async def test_setup_methods_refuse_after_the_first_websocket() -> None:
    app = echo_app()
    async with app.test_client().websocket("/echo") as ws:
        await ws.send("x")
        assert await ws.receive() == "x"
    with pytest.raises(AssertionError, match="before_websocket"):
        app.before_websocket(lambda: None)


# ----------------------------------------------------------------- contexts


async def test_outside_a_websocket_context_the_error_says_what_to_do() -> None:
    with pytest.raises(
        RuntimeError, match=r"(?s)Working outside of websocket context.*test_websocket_context"
    ):
        _ = websocket.path
    with pytest.raises(RuntimeError, match="request and websocket context"):
        _ = session.get("x")
    assert not has_websocket_context()


async def test_test_websocket_context_async_and_sync() -> None:
    app = echo_app()
    app.secret_key = "s"
    torn: list[object] = []
    app.teardown_websocket(torn.append)

    async with app.test_websocket_context("/echo?x=1", headers={"X-A": "b"}) as ctx:
        assert websocket.path == "/echo"
        assert websocket.args["x"] == "1"
        assert websocket.headers["X-A"] == "b"
        assert websocket.endpoint == "echo"
        assert websocket.url == "ws://localhost/echo?x=1"
        assert ctx.websocket is websocket._get_current_object()  # type: ignore[attr-defined]
        session["seen"] = True
        assert url_for("echo") == "ws://localhost/echo"
        with pytest.raises(RuntimeError, match="no connection"):
            await websocket.receive()
    with app.test_websocket_context("/echo", subprotocols=["a"]):
        assert has_websocket_context()
        assert websocket.requested_subprotocols == ["a"]
        assert websocket.headers["Sec-WebSocket-Protocol"] == "a"
    assert len(torn) == 2
    assert not has_websocket_context()


async def test_session_from_the_handshake_cookie() -> None:
    app = Firkin(__name__)
    app.secret_key = "s"

    @app.post("/login")
    async def login() -> str:
        session["user"] = "ann"
        return "ok"

    @app.websocket("/who")
    async def who() -> None:
        await websocket.send(session.get("user", "nobody"))

    client = app.test_client()
    async with client.websocket("/who") as ws:
        assert await ws.receive() == "nobody"
    await client.post("/login")
    async with client.websocket("/who") as ws:
        assert await ws.receive() == "ann"


async def test_copy_current_websocket_context_sends_from_another_task() -> None:
    app = Firkin(__name__)

    @app.websocket("/")
    async def handler() -> None:
        g.who = "handler's g"

        @copy_current_websocket_context
        async def ticker() -> None:
            await websocket.send(f"tick from {websocket.path} with {g.who}")

        async with anyio.create_task_group() as group:
            group.start_soon(ticker)

    async with app.test_client().websocket("/") as ws:
        assert await ws.receive() == "tick from / with handler's g"
    with pytest.raises(RuntimeError, match="websocket context"):
        copy_current_websocket_context(lambda: None)


# ----------------------------------------------------------------- the public surface


async def test_public_names() -> None:
    for name in (
        "Websocket",
        "WebsocketDisconnected",
        "websocket",
        "has_websocket_context",
        "copy_current_websocket_context",
        "after_this_websocket",
        "websocket_started",
        "websocket_finished",
        "websocket_tearing_down",
        "got_websocket_exception",
    ):
        assert name in firkin.__all__
    from firkin.ctx import WebsocketContext
    from firkin.globals import websocket_ctx
    from firkin.testing.connections import TestWebsocketConnection as FromConnections
    from firkin.wrappers import Websocket

    assert FromConnections is TestWebsocketConnection
    assert firkin.Websocket is Websocket
    assert WebsocketContext.__module__ == "firkin.ctx"  # one context module
    assert websocket_ctx is not None
    assert issubclass(WebsocketDisconnected, BaseException)
    assert not issubclass(WebsocketDisconnected, Exception)


# ----------------------------------------------------------------- helpers


@pytest.fixture
def streams() -> Iterator[list[Any]]:
    """Memory streams a test makes: closed at teardown."""
    made: list[Any] = []
    yield made
    for stream in made:
        stream.close()


async def run_app(app: Firkin, scope: dict[str, Any], receive: Any, send: Any) -> None:
    await app(scope, receive, send)


def ws_scope(app: Firkin, path: str, **kwargs: Any) -> dict[str, Any]:
    from firkin.testing.connections import make_websocket_scope

    return make_websocket_scope(app, path, **kwargs)


async def call_raw(app: Firkin, *, extensions: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one websocket through the ASGI interface with a scope of our making; what the app sent."""
    scope = ws_scope(app, "/")
    scope["extensions"] = extensions
    messages: list[dict[str, Any]] = [{"type": "websocket.connect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    with anyio.fail_after(5):
        await app(scope, receive, send)
    return sent


async def test_a_handler_that_only_sends_does_not_starve_the_test() -> None:
    """A feed sending in a loop, never receiving: the test still receives and closes (a Quart test)."""
    app = Firkin(__name__)
    sent = 0

    @app.websocket("/feed")
    async def feed() -> None:
        nonlocal sent
        while True:
            await websocket.send(b"tick")
            sent += 1

    with anyio.fail_after(5):
        async with app.test_client().websocket("/feed") as connection:
            assert await connection.receive() == b"tick"
    assert sent >= 1
