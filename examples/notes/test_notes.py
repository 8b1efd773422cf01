"""The notes example: through the test client (on asyncio and trio), its command line, and over a real
socket with tapster on every loop."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from firkin import Firkin, Response
from firkin.testing import FirkinClient

from conftest import ServeFactory
from examples.notes import app as app_module
from examples.notes.app import create_app
from examples.notes.store import STORE_KEY, NoteStore, get_store
from examples.notes.validation import MAX_BODY, MAX_TITLE

pytestmark = pytest.mark.anyio

TEST_CONFIG = {"TESTING": True, "SECRET_KEY": "test secret", "NOTES_DEMO": False}
STATIC = Path(__file__).parent / "static"


@pytest.fixture
def app() -> Firkin:
    return create_app(TEST_CONFIG)


@pytest.fixture
async def client(app: Firkin) -> AsyncIterator[FirkinClient]:
    """A client for the app, started as a server starts it (the lifespan opens the store)."""
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def login(client: FirkinClient, username: str = "alice") -> Response:
    response = await client.post("/login", form={"username": username})
    assert response.status_code == 302, response.text
    return response


async def add_via_api(client: FirkinClient, title: str, body: str = "") -> dict[str, Any]:
    response = await client.post("/api/notes", json={"title": title, "body": body})
    assert response.status_code == 201, response.text
    note: dict[str, Any] = response.json
    return note


# ----------------------------------------------------------------- configuration and lifespan


def test_config_from_defaults_environment_and_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIRKIN_SECRET_KEY", raising=False)
    monkeypatch.delenv("FIRKIN_NOTES_DEMO", raising=False)
    assert create_app().config["SECRET_KEY"] == "dev"
    monkeypatch.setenv("FIRKIN_SECRET_KEY", "from the environment")
    monkeypatch.setenv("FIRKIN_NOTES_DEMO", "false")  # values are parsed as JSON
    from_env = create_app()
    assert from_env.config["SECRET_KEY"] == "from the environment"
    assert from_env.config["NOTES_DEMO"] is False
    assert create_app({"SECRET_KEY": "given"}).config["SECRET_KEY"] == "given"


def test_module_level_app_for_the_command_line() -> None:
    assert isinstance(app_module.app, Firkin)
    assert app_module.app.name == "examples.notes.app"
    assert set(app_module.app.blueprints) == {"web", "api"}


async def test_before_serving_opens_the_store_with_a_welcome_note() -> None:
    app = create_app({**TEST_CONFIG, "NOTES_DEMO": True})
    async with app.app_context():
        with pytest.raises(RuntimeError, match=r"app\.test_app\(\)"):
            get_store()
    async with app.test_app() as test_app:
        assert isinstance(app.extensions[STORE_KEY], NoteStore)
        notes = (await test_app.test_client().get("/api/notes")).json["notes"]
        assert [(note["title"], note["author"]) for note in notes] == [("Welcome", "firkin")]


# ----------------------------------------------------------------- HTML pages, sessions, flashing


async def test_login_flow_with_cookie_and_flash(client: FirkinClient) -> None:
    anonymous = await client.get("/")
    assert anonymous.status_code == 200
    assert anonymous.mimetype == "text/html"
    assert 'href="/login"' in anonymous.text
    assert "No notes yet." in anonymous.text

    response = await login(client)
    assert response.headers["Location"] == "/"
    assert client.get_cookie("session") is not None

    home = await client.get("/")
    assert '<li class="flash success">Logged in as alice.</li>' in home.text
    assert '<span class="user">alice</span>' in home.text
    assert 'href="/login"' not in home.text
    again = await client.get("/")
    assert "Logged in as alice." not in again.text  # a flash is shown once

    logout = await client.post("/logout", follow_redirects=True)
    assert '<li class="flash success">Logged out.</li>' in logout.text
    assert 'href="/login"' in logout.text


async def test_login_refuses_a_bad_user_name(client: FirkinClient) -> None:
    response = await client.post("/login", form={"username": "<bob>"})
    assert response.status_code == 400
    assert '<li class="flash error">A user name is 1 to 32 letters' in response.text
    assert 'value="&lt;bob&gt;"' in response.text  # kept in the form, escaped
    assert (await client.get("/")).text.count("Log in") >= 1
    async with client.session_transaction() as sess:
        assert "user" not in sess


async def test_new_note_needs_a_login(client: FirkinClient) -> None:
    response = await client.get("/notes/new")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    page = await client.get("/login")
    assert '<li class="flash error">Log in to do that.</li>' in page.text
    posted = await client.post("/notes/new", form={"title": "sneaky"})
    assert posted.status_code == 302
    assert (await client.get("/api/notes")).json == {"notes": []}


async def test_add_a_note_through_the_form(client: FirkinClient) -> None:
    await login(client)
    form = await client.get("/notes/new")
    assert form.status_code == 200
    assert '<form method="post" action="/notes/new">' in form.text
    response = await client.post("/notes/new", form={"title": " Groceries ", "body": "milk, <eggs>"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/#note-1"
    home = await client.get("/")
    assert '<li class="flash success">Added “Groceries”.</li>' in home.text
    assert '<article class="note" id="note-1">' in home.text
    assert "<p>milk, &lt;eggs&gt;</p>" in home.text
    assert 'href="/api/notes/1"' in home.text
    notes = (await client.get("/api/notes")).json["notes"]
    assert notes == [
        {"id": 1, "title": "Groceries", "body": "milk, <eggs>", "author": "alice", "url": "/api/notes/1"}
    ]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"title": "", "body": "no title"}, "A note needs a title."),
        ({"title": "   ", "body": ""}, "A note needs a title."),
        ({"title": "x" * (MAX_TITLE + 1), "body": ""}, f"The title is longer than {MAX_TITLE} characters."),
        ({"title": "ok", "body": "x" * (MAX_BODY + 1)}, f"The text is longer than {MAX_BODY} characters."),
    ],
)
async def test_the_form_is_validated_on_the_server(
    client: FirkinClient, form: dict[str, str], message: str
) -> None:
    await login(client)
    await client.get("/")  # show the login flash, so that only the errors are left
    response = await client.post("/notes/new", form=form)
    assert response.status_code == 400
    assert f'<li class="flash error">{message}</li>' in response.text
    assert f">{form['body']}</textarea>" in response.text  # what was typed is kept
    assert (await client.get("/api/notes")).json == {"notes": []}
    assert "flash" not in (await client.get("/")).text.split("<main>")[0]  # shown once, with the form


async def test_session_transaction_logs_in_and_reads_the_session(client: FirkinClient) -> None:
    async with client.session_transaction() as sess:
        sess["user"] = "carol"
    assert '<span class="user">carol</span>' in (await client.get("/")).text
    await login(client, "dave")
    async with client.session_transaction() as sess:
        assert sess["user"] == "dave"
        assert sess["_flashes"] == [("success", "Logged in as dave.")]


# ----------------------------------------------------------------- the JSON API


async def test_api_create_read_update_delete(client: FirkinClient) -> None:
    async with client.session_transaction() as sess:
        sess["user"] = "alice"
    created = await client.post("/api/notes", json={"title": "First", "body": "hello"})
    assert created.status_code == 201
    assert created.headers["Location"] == "/api/notes/1"
    assert created.json == {
        "id": 1,
        "title": "First",
        "body": "hello",
        "author": "alice",
        "url": "/api/notes/1",
    }
    second = await add_via_api(client, "Second")
    assert second["body"] == ""

    listed = await client.get("/api/notes")
    assert listed.mimetype == "application/json"
    assert [note["title"] for note in listed.json["notes"]] == ["First", "Second"]
    assert (await client.get("/api/notes/1")).json["title"] == "First"

    updated = await client.put("/api/notes/1", json={"title": "First, edited", "body": "bye"})
    assert updated.status_code == 200
    assert updated.json["title"] == "First, edited"
    assert (await client.get("/api/notes/1")).json["body"] == "bye"

    deleted = await client.delete("/api/notes/1")
    assert deleted.status_code == 204
    assert deleted.data == b""
    gone = await client.get("/api/notes/1")
    assert gone.status_code == 404
    assert gone.json == {"error": "Not Found", "message": "There is no note 1."}
    assert (await client.delete("/api/notes/1")).status_code == 404
    assert [note["id"] for note in (await client.get("/api/notes")).json["notes"]] == [2]
    assert (await add_via_api(client, "Third"))["id"] == 3  # ids are not reused


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, "Send a JSON object"),
        ({"data": "title=form"}, "Send a JSON object"),
        ({"json": ["a", "list"]}, "Send a JSON object"),
        ({"json": {"body": "no title"}}, '"title" (required) and "body" must be strings.'),
        ({"json": {"title": 5}}, '"title" (required) and "body" must be strings.'),
        ({"json": {"title": "ok", "body": None}}, '"title" (required) and "body" must be strings.'),
        ({"json": {"title": " "}}, "A note needs a title."),
        ({"json": {"title": "x" * (MAX_TITLE + 1)}}, f"longer than {MAX_TITLE} characters"),
    ],
)
async def test_api_refuses_bad_input_with_400(
    client: FirkinClient, kwargs: dict[str, Any], message: str
) -> None:
    async with client.session_transaction() as sess:
        sess["user"] = "alice"
    response = await client.post("/api/notes", **kwargs)
    assert response.status_code == 400
    assert response.json["error"] == "Bad Request"
    assert message in response.json["message"]
    assert (await client.get("/api/notes")).json == {"notes": []}


async def test_api_changes_need_the_author(client: FirkinClient) -> None:
    anonymous = await client.post("/api/notes", json={"title": "hi"})
    assert anonymous.status_code == 401
    assert anonymous.json["message"].startswith("Log in first")
    await login(client, "alice")
    await add_via_api(client, "alice's")
    await login(client, "mallory")
    for response in (
        await client.delete("/api/notes/1"),
        await client.put("/api/notes/1", json={"title": "mine now"}),
    ):
        assert response.status_code == 403
        assert response.json == {
            "error": "Forbidden",
            "message": "Only the author may change or delete a note.",
        }
    assert (await client.get("/api/notes/1")).json["title"] == "alice's"


async def test_not_found_and_method_not_allowed(client: FirkinClient) -> None:
    missing_api = await client.get("/api/nothing/here")
    assert missing_api.status_code == 404
    assert missing_api.json["error"] == "Not Found"
    missing_note = await client.get("/api/notes/12345")
    assert missing_note.json == {"error": "Not Found", "message": "There is no note 12345."}
    missing_page = await client.get("/nothing/here")
    assert missing_page.status_code == 404
    assert missing_page.mimetype == "text/html"
    assert "<title>404 Not Found</title>" in missing_page.text

    patch = await client.patch("/api/notes", json={})
    assert patch.status_code == 405
    assert patch.json["error"] == "Method Not Allowed"
    assert set(patch.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert (await client.post("/api/notes/export")).status_code == 405
    page = await client.delete("/")
    assert page.status_code == 405
    assert page.mimetype == "text/html"


async def test_method_view_for_one_note(client: FirkinClient) -> None:
    await login(client)
    await add_via_api(client, "Viewed")
    head = await client.head("/api/notes/1")
    assert head.status_code == 200
    assert head.data == b""
    assert int(head.headers["Content-Length"]) == len((await client.get("/api/notes/1")).data)
    options = await client.options("/api/notes/1")
    assert set(options.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
    assert (await client.post("/api/notes/1", json={"title": "x"})).status_code == 405


# ----------------------------------------------------------------- streaming, sync views, static files


async def test_export_streams_csv_with_the_request_context(client: FirkinClient) -> None:
    await login(client, "alice")
    await add_via_api(client, "Plain")
    await add_via_api(client, 'Commas, and "quotes"')
    await login(client, "bob")
    await add_via_api(client, "Bob's")

    export = await client.get("/api/notes/export")
    assert export.status_code == 200
    assert export.mimetype == "text/csv"
    assert export.headers["Content-Disposition"] == "attachment; filename=notes.csv"
    assert "Content-Length" not in export.headers  # streamed, not buffered
    assert export.text == (
        'id,title,author\r\n1,Plain,alice\r\n2,"Commas, and ""quotes""",alice\r\n3,Bob\'s,bob\r\n'
    )
    # `request.args` and `g.user` are read inside the generator, after the view returned.
    mine = await client.get("/api/notes/export?mine=1")
    assert mine.text == "id,title,author\r\n3,Bob's,bob\r\n"


async def test_sync_view_runs_in_a_worker_thread(client: FirkinClient) -> None:
    await login(client)
    await add_via_api(client, "one")
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["notes"] == 1  # read from the async store through anyio.from_thread
    assert response.json["thread"] != threading.current_thread().name


async def test_static_file(client: FirkinClient) -> None:
    css = await client.get("/static/notes.css")
    assert css.status_code == 200
    assert css.mimetype == "text/css"
    assert css.data == (STATIC / "notes.css").read_bytes()
    assert "/static/notes.css" in (await client.get("/")).text
    cached = await client.get("/static/notes.css", headers={"If-None-Match": css.headers["ETag"]})
    assert cached.status_code == 304
    assert (await client.get("/static/../app.py")).status_code == 404
    assert (await client.get("/static/missing.css")).status_code == 404


# ----------------------------------------------------------------- the live feed (a websocket)


async def test_live_feed_sends_new_notes(client: FirkinClient) -> None:
    await login(client)
    await add_via_api(client, "before")
    async with client.websocket("/api/live") as feed:
        assert await feed.receive_json() == {"notes": 1}
        await add_via_api(client, "while connected", "hello")
        assert await feed.receive_json() == {
            "note": {
                "id": 2,
                "title": "while connected",
                "body": "hello",
                "author": "alice",
                "url": "/api/notes/2",
            }
        }
        await add_via_api(client, "and another")
        assert (await feed.receive_json())["note"]["title"] == "and another"


async def test_live_feed_is_a_websocket_only(client: FirkinClient) -> None:
    response = await client.get("/api/live")
    assert response.status_code == 400  # an HTTP request to a websocket route, as in Quart
    assert response.json["error"] == "Bad Request"


async def test_the_store_drops_a_subscriber_that_falls_behind(client: FirkinClient, app: Firkin) -> None:
    async with app.app_context():
        store = get_store()
        with store.subscribe(max_pending=2) as added:
            for title in ("a", "b", "c"):
                await store.add(title, "", "alice")
            assert [note.title async for note in added] == ["a", "b"]  # then the stream ends
        with store.subscribe() as added:  # a new subscriber only sees what comes next
            await store.add("d", "", "alice")
            assert added.receive_nowait().title == "d"


# ----------------------------------------------------------------- the command line


def test_seed_command(app: Firkin) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed", "--count", "2"])
    assert result.exit_code == 0, result.output
    assert result.output == "Seeded 2 notes (2 in the store).\n"
    again = runner.invoke(args=["seed"])
    assert again.output == "Seeded 3 notes (5 in the store).\n"
    store = app.extensions[STORE_KEY]
    titles = [note.title for note in anyio.run(store.all)]
    assert titles == [f"Demo note {n}" for n in (1, 2, 1, 2, 3)]
    bad = runner.invoke(args=["seed", "--count", "many"])
    assert bad.exit_code == 2
    assert "'many' is not a valid integer" in bad.output


def test_routes_command_lists_both_blueprints(app: Firkin) -> None:
    result = app.test_cli_runner().invoke(args=["routes"])
    assert result.exit_code == 0, result.output
    for endpoint in (
        "web.index",
        "web.new_note",
        "api.export_notes",
        "api.note",
        "api.live",
        "health",
        "static",
    ):
        assert endpoint in result.output


# ----------------------------------------------------------------- over a real socket


def test_login_add_note_and_api_over_tapster(serve: ServeFactory) -> None:
    running = serve(create_app({"SECRET_KEY": "over tapster", "NOTES_DEMO": True}))
    with httpx.Client(base_url=running.url) as http:
        assert [n["title"] for n in http.get("/api/notes").json()["notes"]] == ["Welcome"]
        assert http.get("/static/notes.css").content == (STATIC / "notes.css").read_bytes()

        login = http.post("/login", data={"username": "alice"})
        assert login.status_code == 302
        assert login.headers["location"] == "/"
        assert "HttpOnly" in login.headers["set-cookie"]
        assert "Logged in as alice." in http.get("/").text

        invalid = http.post("/notes/new", data={"title": ""})
        assert invalid.status_code == 400
        assert "A note needs a title." in invalid.text
        added = http.post("/notes/new", data={"title": "Over the wire", "body": "via tapster"})
        assert added.status_code == 302
        assert added.headers["location"] == "/#note-2"

        notes = http.get("/api/notes").json()["notes"]
        assert notes[-1] == {
            "id": 2,
            "title": "Over the wire",
            "body": "via tapster",
            "author": "alice",
            "url": "/api/notes/2",
        }
        created = http.post("/api/notes", json={"title": "JSON"})
        assert created.status_code == 201
        assert http.delete(created.headers["location"]).status_code == 204
        bad = http.post("/api/notes", content=b"[", headers={"content-type": "application/json"})
        assert bad.status_code == 400
        assert bad.json()["error"] == "Bad Request"
        assert http.get("/api/nope").json()["error"] == "Not Found"
        health = http.get("/health").json()
        assert health["status"] == "ok"
        assert health["notes"] == 2


def test_streaming_export_over_tapster(serve: ServeFactory) -> None:
    running = serve(create_app({"SECRET_KEY": "over tapster", "NOTES_DEMO": True}))
    with httpx.Client(base_url=running.url) as http:
        http.post("/login", data={"username": "bob"})
        for number in range(50):
            assert http.post("/api/notes", json={"title": f"note {number}"}).status_code == 201
        with http.stream("GET", "/api/notes/export") as export:
            assert export.status_code == 200
            assert export.headers["transfer-encoding"] == "chunked"
            assert export.headers["content-type"] == "text/csv; charset=utf-8"
            lines = list(export.iter_lines())
        assert lines[0] == "id,title,author"
        assert lines[1] == "1,Welcome,firkin"
        assert lines[2:] == [f"{n + 2},note {n},bob" for n in range(50)]
        mine = http.get("/api/notes/export", params={"mine": "1"}).text.splitlines()
        assert len(mine) == 51


def test_live_feed_over_tapster(serve: ServeFactory) -> None:
    """The websocket feed through tapster with the `websockets` client, while notes are added over HTTP."""
    import asyncio
    import json

    from websockets.asyncio.client import connect

    running = serve(create_app({"SECRET_KEY": "over tapster", "NOTES_DEMO": True}))
    address = running.url.split("//", 1)[1]

    async def watch() -> list[dict[str, object]]:
        async with connect(f"ws://{address}/api/live") as ws:
            received = [json.loads(await ws.recv())]

            def add_note() -> None:
                with httpx.Client(base_url=running.url) as http:
                    http.post("/login", data={"username": "carol"})
                    assert http.post("/api/notes", json={"title": "live"}).status_code == 201

            await asyncio.to_thread(add_note)
            received.append(json.loads(await ws.recv()))
            return received

    first, added = asyncio.run(asyncio.wait_for(watch(), 10))
    assert first == {"notes": 1}
    assert added == {"note": {"id": 2, "title": "live", "body": "", "author": "carol", "url": "/api/notes/2"}}
