"""Message flashing: flash() in one request, get_flashed_messages() in a later one."""

from __future__ import annotations

from typing import Any

import pytest
from firkin import (
    Firkin,
    flash,
    get_flashed_messages,
    message_flashed,
    redirect,
    render_template_string,
    session,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def app() -> Firkin:
    app = Firkin(__name__)
    app.config["SECRET_KEY"] = "test secret"
    return app


async def test_flash_then_show_in_the_next_request(app: Firkin) -> None:
    @app.post("/login")
    async def login() -> Any:
        flash("Welcome back")  # Flask's form
        await flash("<b>bold</b>", "info")  # Quart's form
        return redirect("/")

    @app.get("/")
    async def index() -> str:
        return await render_template_string(
            "{% for m in get_flashed_messages() %}[{{ m }}]{% endfor %}"
            "{% for m in get_flashed_messages() %}({{ m }}){% endfor %}"
        )

    client = app.test_client()
    response = await client.post("/login")
    assert response.status_code == 302
    assert client.get_cookie("session") is not None
    first = await client.get("/")
    # Shown (escaped), and the same list again within the request.
    assert await first.get_data(as_text=True) == (
        "[Welcome back][&lt;b&gt;bold&lt;/b&gt;](Welcome back)(&lt;b&gt;bold&lt;/b&gt;)"
    )
    second = await client.get("/")
    assert await second.get_data(as_text=True) == ""  # shown once only


async def test_categories_and_filters(app: Firkin) -> None:
    @app.get("/flash")
    async def do_flash() -> str:
        flash("plain")
        flash("careful", "warning")
        flash("broken", "error")
        flash("more broken", "error")
        return "ok"

    @app.get("/all")
    async def all_with_categories() -> Any:
        return {"messages": get_flashed_messages(with_categories=True)}

    @app.get("/errors")
    async def errors() -> Any:
        return {
            "errors": get_flashed_messages(category_filter=["error"]),
            "problems": get_flashed_messages(with_categories=True, category_filter=("error", "warning")),
            "left": "_flashes" in session,
        }

    client = app.test_client()
    await client.get("/flash")
    response = await client.get("/all")
    assert await response.get_json() == {
        "messages": [
            ["message", "plain"],
            ["warning", "careful"],
            ["error", "broken"],
            ["error", "more broken"],
        ]
    }
    await client.get("/flash")
    response = await client.get("/errors")
    assert await response.get_json() == {
        "errors": ["broken", "more broken"],
        "problems": [["warning", "careful"], ["error", "broken"], ["error", "more broken"]],
        "left": False,  # a filter does not keep the other categories in the session
    }
    assert await (await client.get("/all")).get_json() == {"messages": []}


async def test_flash_in_a_sync_view(app: Firkin) -> None:
    @app.get("/sync")
    def sync_view() -> str:  # runs in a worker thread
        flash("from a thread")
        return "ok"

    @app.get("/show")
    def show() -> Any:
        return {"messages": get_flashed_messages()}

    client = app.test_client()
    await client.get("/sync")
    assert await (await client.get("/show")).get_json() == {"messages": ["from a thread"]}


async def test_flash_without_a_secret_key_fails() -> None:
    app = Firkin(__name__)

    @app.get("/")
    async def index() -> Any:
        assert get_flashed_messages() == []  # reading works: there is nothing
        flash("lost")
        return "unreachable"

    app.testing = True
    with pytest.raises(RuntimeError, match="secret key"):
        await app.test_client().get("/")


async def test_flash_needs_a_request_context(app: Firkin) -> None:
    with pytest.raises(RuntimeError, match="request context"):
        flash("nowhere")
    async with app.app_context():
        with pytest.raises(RuntimeError, match="request context"):
            get_flashed_messages()


async def test_message_flashed_signal(app: Firkin) -> None:
    recorded: list[tuple[str, Any, str, str]] = []

    def sync_receiver(sender: Any, message: str, category: str) -> None:
        recorded.append(("sync", sender, message, category))

    async def async_receiver(sender: Any, message: str, category: str) -> None:
        recorded.append(("async", sender, message, category))

    async with app.test_request_context("/"):
        with message_flashed.connected_to(sync_receiver, app):
            result = flash("one", "info")
            assert recorded == [("sync", app, "one", "info")]  # at once, awaited or not
            await result
            assert len(recorded) == 1
        recorded.clear()
        with message_flashed.connected_to(async_receiver, app):
            result = flash("two")
            assert recorded == []
            await result  # async receivers run when the flash is awaited
            assert recorded == [("async", app, "two", "message")]
            await result  # and only once
            assert len(recorded) == 1

            unawaited = flash("three")
            with pytest.warns(RuntimeWarning, match="await flash"):
                del unawaited  # CPython: collected here, by reference counting
        assert session["_flashes"] == [("info", "one"), ("message", "two"), ("message", "three")]
