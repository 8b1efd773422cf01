"""Where Quart's API and Flask's differ in form, both work: contexts pushed and popped with and without
`await`, `make_default_options_response` called, awaited, and overridden either way, and the serving
hooks in Quart 0.22's order (it changed from 0.21's). Quart 0.22 is the newest release."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from firkin import Firkin, g, has_app_context, has_request_context, has_websocket_context, request, websocket
from firkin.ctx import AppContext
from firkin.wrappers import Response


def make_app(torn_down: list[str] | None = None) -> Firkin:
    app = Firkin(__name__)

    @app.route("/", methods=["GET", "POST"])
    async def index() -> str:
        return "index"

    if torn_down is not None:

        @app.teardown_appcontext
        def app_teardown(exc: BaseException | None) -> None:
            torn_down.append("app")

        @app.teardown_request
        def request_teardown(exc: BaseException | None) -> None:
            torn_down.append("request")

    return app


# ---------------------------------------------------------------------------- contexts


@pytest.mark.anyio
async def test_contexts_pushed_and_popped_with_await_quarts_form() -> None:
    torn_down: list[str] = []
    app = make_app(torn_down)
    app_ctx = app.app_context()
    await app_ctx.push()
    assert has_app_context()
    await app_ctx.pop()
    assert not has_app_context()
    request_ctx = app.test_request_context("/?q=1")
    await request_ctx.push()
    assert request.args["q"] == "1"
    await request_ctx.pop()
    assert not has_request_context()
    assert torn_down == ["app", "request", "app"]


def test_contexts_pushed_and_popped_without_await_flasks_form() -> None:
    """In sync code (a plain test function, no event loop) push() and pop() do their work at once."""
    torn_down: list[str] = []
    app = make_app(torn_down)
    app_ctx = app.app_context()
    app_ctx.push()
    g.value = 1
    assert has_app_context()
    app_ctx.pop()
    assert not has_app_context()
    request_ctx = app.test_request_context("/?q=2")
    request_ctx.push()
    assert request.args["q"] == "2"
    request_ctx.pop()
    assert not has_request_context()
    assert torn_down == ["app", "request", "app"]


@pytest.mark.anyio
async def test_a_websocket_context_pushed_and_popped_with_await() -> None:
    app = make_app()

    @app.websocket("/ws")
    async def ws() -> None: ...

    ctx = app.test_websocket_context("/ws?q=3")
    await ctx.push()
    assert websocket.args["q"] == "3"
    await ctx.pop()
    assert not has_websocket_context()


def test_a_websocket_context_pushed_and_popped_without_await() -> None:
    app = make_app()
    ctx = app.test_websocket_context("/ws?q=4")
    ctx.push()
    assert websocket.args["q"] == "4"
    ctx.pop()
    assert not has_websocket_context()


@pytest.mark.anyio
async def test_in_async_code_pop_must_be_awaited() -> None:
    app = make_app()
    ctx = app.test_request_context("/")
    await ctx.push()
    pending = ctx.pop()  # a coroutine here: nothing is popped until it is awaited
    assert has_request_context()
    await pending
    assert not has_request_context()


@pytest.mark.anyio
async def test_app_context_copy_shares_g() -> None:
    app = make_app()
    async with app.app_context() as ctx:
        g.name = "shared"
        copied = ctx.copy()
    assert isinstance(copied, AppContext)
    assert copied is not ctx
    async with copied:
        assert g.name == "shared"


# ---------------------------------------------------------------------------- OPTIONS


@pytest.mark.anyio
async def test_make_default_options_response_called_or_awaited() -> None:
    app = make_app()
    async with app.test_request_context("/", method="OPTIONS"):
        called = app.make_default_options_response()  # Flask's form
        awaited = await app.make_default_options_response()  # Quart's form
    for response in (called, awaited):
        assert isinstance(response, Response)
        assert response.allow.as_set() == {"get", "head", "options", "post"}


class QuartStyle(Firkin):
    async def make_default_options_response(self) -> Response:  # type: ignore[override]
        response = self.response_class("quart form")
        response.allow.update(["GET"])
        return response


class FlaskStyle(Firkin):
    def make_default_options_response(self) -> Response:
        response = super().make_default_options_response()
        response.headers["X-Form"] = "flask"
        return response


@pytest.mark.anyio
async def test_an_async_override_quarts_form() -> None:
    app = QuartStyle(__name__)
    app.add_url_rule("/", "index", lambda: "x")
    response = await app.test_client().options("/")
    assert response.status_code == 200
    assert await response.get_data(as_text=True) == "quart form"
    assert response.headers["Allow"] == "GET"


@pytest.mark.anyio
async def test_a_sync_override_flasks_form() -> None:
    app = FlaskStyle(__name__)
    app.add_url_rule("/", "index", lambda: "x")
    response = await app.test_client().options("/")
    assert response.headers["X-Form"] == "flask"
    assert response.allow.as_set() == {"get", "head", "options"}


# ---------------------------------------------------------------------------- serving


@pytest.mark.anyio
async def test_shutdown_is_startup_reversed() -> None:
    app = Firkin(__name__)
    events: list[str] = []

    @app.before_serving
    async def before() -> None:
        events.append("before")

    for name in ("one", "two"):

        async def serving(name: str = name) -> AsyncGenerator[None, None]:
            events.append(f"{name} up")
            yield
            events.append(f"{name} down")

        app.while_serving(serving)

    @app.after_serving
    async def after() -> None:
        events.append("after")

    async with app.test_app():
        assert events == ["before", "one up", "two up"]
    assert events == ["before", "one up", "two up", "two down", "one down", "after"]


# ---------------------------------------------------------------------------- response.data


@pytest.mark.anyio
async def test_response_data_read_or_awaited() -> None:
    response = await make_app().test_client().get("/")
    assert response.data == b"index"  # Flask's form
    assert await response.data == b"index"  # type: ignore[misc]  # Quart's form
