"""The notes example through firkin's test client, on asyncio and trio: configuration, the database
made on first run, signing up and logging in, the pages and their forms (CSRF included), the JSON
API, the CSV export, the live feed, the bounds, the command line."""

from __future__ import annotations

import functools
import inspect
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from firkin import Firkin, WebsocketDisconnected
from firkin._sync import in_event_loop
from firkin.testing import FirkinClient
from firkin.testing.connections import WebsocketResponseError
from werkzeug.security import check_password_hash

from examples.notes import app as app_module
from examples.notes.app import DEFAULTS, create_app
from examples.notes.conftest import (
    PASSWORD,
    TEST_CONFIG,
    csrf,
    login,
    make_app,
    member,
    signup,
    token_in,
)
from examples.notes.database import SQLITE_FILE, Database, database_url, get_database
from examples.notes.forms import MAX_BODY, MAX_TITLE
from examples.notes.live import FEED_KEY, LiveFeed, TooManyFeeds, get_feed

pytestmark = pytest.mark.anyio


async def add_note(client: FirkinClient, token: str, title: str, body: str = "") -> dict[str, Any]:
    response = await client.post(
        "/api/notes", json={"title": title, "body": body}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201, response.text
    note: dict[str, Any] = response.json
    return note


async def titles(client: FirkinClient, **params: Any) -> list[str]:
    response = await client.get("/api/notes", query_string=params)
    assert response.status_code == 200, response.text
    return [note["title"] for note in response.json["notes"]]


# ----------------------------------------------------------------- configuration, the database


def test_config_from_defaults_environment_and_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "FIRKIN_SECRET_KEY", "FIRKIN_NOTES_PER_PAGE", "FIRKIN_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    app = create_app()
    assert app.config["SECRET_KEY"] == "dev"
    assert app.config["DATABASE_URL"] is None
    assert app.instance_path == str(Path(app_module.__file__).parent / "instance")
    monkeypatch.setenv("DATABASE_URL", "postgresql://notes@db.example/notes")
    monkeypatch.setenv("FIRKIN_NOTES_PER_PAGE", "50")  # values are parsed as JSON
    from_env = create_app()
    assert from_env.config["DATABASE_URL"] == "postgresql://notes@db.example/notes"
    assert from_env.config["NOTES_PER_PAGE"] == 50
    assert create_app({"SECRET_KEY": "given"}).config["SECRET_KEY"] == "given"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"NOTES_PER_PAGE": 0}, "NOTES_PER_PAGE must be an integer >= 1; got 0"),
        ({"NOTES_LIVE_QUEUE": "16"}, "NOTES_LIVE_QUEUE must be an integer >= 1; got '16'"),
        ({"NOTES_DB_POOL_TIMEOUT": 0}, "NOTES_DB_POOL_TIMEOUT must be a number of seconds > 0; got 0"),
        ({"NOTES_PER_PAGE": 200}, "NOTES_PER_PAGE must not be above NOTES_MAX_PER_PAGE"),
    ],
)
def test_bad_config_is_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        create_app(config)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://notes:pw@db.example:5433/notes",
            "postgresql+psycopg://notes:***@db.example:5433/notes",
        ),
        ("postgres://notes@db.example/notes", "postgresql+psycopg://notes@db.example/notes"),
        (
            "postgresql+psycopg://notes@/notes?host=/run/pg",
            "postgresql+psycopg://notes@/notes?host=%2Frun%2Fpg",
        ),
        ("sqlite:////var/lib/notes.sqlite", "sqlite:////var/lib/notes.sqlite"),
    ],
)
def test_database_urls(tmp_path: Path, url: str, expected: str) -> None:
    app = make_app(tmp_path, DATABASE_URL=url)
    assert str(database_url(app)) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "DATABASE_URL is not a database URL: 'not a url'"),
        ("mysql://db.example/notes", "DATABASE_URL names 'mysql'; the notes app runs on sqlite"),
    ],
)
def test_bad_database_urls_say_what_to_use(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        database_url(make_app(tmp_path, DATABASE_URL=url))


async def test_the_first_run_makes_the_sqlite_file_in_the_instance_folder(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    app = make_app(instance)
    assert not instance.exists()  # making the app touches nothing
    async with app.app_context():
        for get in (get_database, get_feed):
            with pytest.raises(RuntimeError, match=r"`async with app\.test_app\(\):`"):
                get()
    async with app.test_app() as served:
        assert (instance / SQLITE_FILE).is_file()
        assert app.extensions["notes.database"].dialect == "sqlite"
        await member(served.test_client(), "alice")
    with sqlite3.connect(instance / SQLITE_FILE) as db:
        tables = {
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        assert tables == {"users", "notes"}
        assert db.execute("SELECT username FROM users").fetchall() == [("alice",)]

    again = make_app(instance)  # a restart: the same file, the same users
    async with again.test_app() as served:
        client = served.test_client()
        assert (await login(client, "alice")).status_code == 302
        await add_note(client, await csrf(client), "kept")
    async with make_app(instance).test_app() as served:
        client = served.test_client()
        await login(client, "alice")
        assert await titles(client) == ["kept"]


async def test_no_database_call_runs_on_the_event_loop(
    client: FirkinClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Database method blocks; each call is watched here, through a whole session of pages,
    API calls, the export and the live feed, and none may run in the event loop's thread."""
    calls: list[tuple[str, bool]] = []
    for name, method in inspect.getmembers(Database, inspect.isfunction):
        if name.startswith("__"):
            continue

        def watched(*args: Any, __method: Any = method, __name: str = name, **kwargs: Any) -> Any:
            calls.append((__name, in_event_loop()))
            return __method(*args, **kwargs)

        monkeypatch.setattr(Database, name, functools.wraps(method)(watched))

    token = await member(client, "alice")
    async with client.websocket("/api/live") as feed:
        assert (await feed.receive_json())["type"] == "ready"
        form = token_in((await client.get("/notes/new")).text)
        await client.post("/notes/new", form={"csrf_token": form, "title": "from the page"})
        note = await add_note(client, token, "from the API")
        await client.put(note["url"], json={"title": "edited"}, headers={"X-CSRFToken": token})
        await client.get("/")
        await client.get("/api/notes")
        await client.get("/api/notes/export")
        await client.get("/health")
        await client.get("/livez")
        await client.post(f"/notes/{note['id']}/delete", form={"csrf_token": form})
        kinds = [(await feed.receive_json())["type"] for _ in range(4)]
        assert kinds == ["created", "created", "updated", "deleted"]
    names = {name for name, _ in calls}
    assert {"add_user", "user_by_id", "user_by_name", "add_note", "update_note", "notes_page"} <= names
    assert {"notes_after", "delete_note", "ping"} <= names
    assert [name for name, on_loop in calls if on_loop] == []


# ----------------------------------------------------------------- signing up, logging in and out


async def test_sign_up_then_log_in_and_out(client: FirkinClient, app: Firkin) -> None:
    anonymous = await client.get("/")
    assert (anonymous.status_code, anonymous.headers["Location"]) == (302, "/login?next=%2F")
    page = await client.get("/login?next=%2F")
    assert '<li class="flash error">Please log in to access this page.</li>' in page.text

    signed_up = await signup(client, " Alice ")
    assert (signed_up.status_code, signed_up.headers["Location"]) == (302, "/login")
    assert "Welcome, alice: your account is ready. Log in." in (await client.get("/login")).text

    logged_in = await login(client, "ALICE")  # user names are kept in lowercase
    assert (logged_in.status_code, logged_in.headers["Location"]) == (302, "/")
    home = await client.get("/")
    assert '<span class="user" id="user">alice</span>' in home.text
    assert "Logged in as alice." in home.text
    assert '<p class="empty" id="empty">No notes yet' in home.text
    assert (await client.get("/login")).headers["Location"] == "/"  # logged in already

    logout = await client.post("/logout", form={"csrf_token": token_in(home.text)})
    assert (logout.status_code, logout.headers["Location"]) == (302, "/login")
    assert (await client.get("/")).status_code == 302

    async with app.app_context():
        record = get_database().user_by_name("alice")
    assert record is not None
    assert record.password_hash.startswith("pbkdf2:sha256:1000$")  # salted and hashed, never stored
    assert check_password_hash(record.password_hash, PASSWORD)


async def test_the_default_password_hash_is_werkzeugs_scrypt(tmp_path: Path) -> None:
    assert DEFAULTS["NOTES_PASSWORD_METHOD"] == "scrypt"
    app = create_app({**TEST_CONFIG, "NOTES_PASSWORD_METHOD": "scrypt"}, instance_path=tmp_path)
    async with app.test_app() as served:
        await member(served.test_client(), "slow")
        record = app.extensions["notes.database"].user_by_name("slow")
    assert record.password_hash.startswith("scrypt:32768:8:1$")


@pytest.mark.parametrize(
    ("username", "password", "confirm", "message"),
    [
        ("", PASSWORD, PASSWORD, "Choose a user name."),
        (
            "bob smith",
            PASSWORD,
            PASSWORD,
            "A user name is 1 to 32 letters, digits, &#39;_&#39; or &#39;-&#39;.",
        ),
        ("x" * 33, PASSWORD, PASSWORD, "A user name is 1 to 32 letters"),
        ("<b>", PASSWORD, PASSWORD, "A user name is 1 to 32 letters"),
        ("bob", "short", "short", "A password is 8 to 200 characters."),
        ("bob", "p" * 201, "p" * 201, "A password is 8 to 200 characters."),
        ("bob", PASSWORD, "something else", "The two passwords differ."),
    ],
)
async def test_sign_up_is_checked_on_the_server(
    client: FirkinClient, app: Firkin, username: str, password: str, confirm: str, message: str
) -> None:
    token = token_in((await client.get("/signup")).text)
    form = {"csrf_token": token, "username": username, "password": password, "confirm": confirm}
    response = await client.post("/signup", form=form)
    assert response.status_code == 400
    assert message in response.text
    assert 'class="error"' in response.text
    database: Database = app.extensions["notes.database"]
    assert await anyio.to_thread.run_sync(database.notes_page, 1, 1, 1) == ([], 0)
    assert await anyio.to_thread.run_sync(database.user_by_name, username.lower()) is None


async def test_a_user_name_is_taken_once(client: FirkinClient) -> None:
    assert (await signup(client, "alice")).status_code == 302
    again = await signup(client, "Alice", "another password")
    assert again.status_code == 400
    assert "That user name is taken. Choose another." in again.text
    assert (await login(client, "alice", "another password")).status_code == 401
    assert (await login(client, "alice")).status_code == 302


async def test_wrong_passwords_and_unknown_users_get_one_answer(client: FirkinClient) -> None:
    await signup(client, "alice")
    for name, password in (("alice", "wrong password"), ("nobody", PASSWORD)):
        response = await login(client, name, password)
        assert response.status_code == 401
        assert "Wrong user name or password." in response.text
    assert (await client.get("/")).status_code == 302


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/notes/new", "/notes/new"),
        ("/?page=2", "/?page=2"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
async def test_login_goes_back_to_local_pages_only(client: FirkinClient, target: str, location: str) -> None:
    await signup(client, "alice")
    token = token_in((await client.get("/login")).text)
    response = await client.post(
        "/login",
        form={"csrf_token": token, "username": "alice", "password": PASSWORD},
        query_string={"next": target},
    )
    assert (response.status_code, response.headers["Location"]) == (302, location)


# ----------------------------------------------------------------- CSRF


async def test_every_form_needs_its_csrf_token(client: FirkinClient) -> None:
    token = await member(client, "alice")
    note = await add_note(client, token, "mine")
    for path, form in (
        ("/notes/new", {"title": "forged"}),
        (f"/notes/{note['id']}/delete", {}),
        ("/logout", {}),
        ("/login", {"username": "alice", "password": PASSWORD}),
        ("/signup", {"username": "eve", "password": PASSWORD, "confirm": PASSWORD}),
    ):
        for forged in ({}, {"csrf_token": "forged"}):
            response = await client.post(path, form={**form, **forged})
            assert response.status_code == 400, path
            assert response.mimetype == "text/html"
            assert "The CSRF token is" in response.text
    assert await titles(client) == ["mine"]  # nothing was added, deleted, or logged out


async def test_the_api_needs_the_csrf_header_for_changes(client: FirkinClient) -> None:
    token = await member(client, "alice")
    note = await add_note(client, token, "mine")
    for method, path, body in (
        ("POST", "/api/notes", {"title": "forged"}),
        ("PUT", note["url"], {"title": "forged"}),
        ("DELETE", note["url"], None),
        ("POST", "/api/logout", None),
        ("POST", "/api/login", {"username": "alice", "password": PASSWORD}),
    ):
        for headers in ({}, {"X-CSRFToken": "forged"}):
            response = await client.open(path, method=method, json=body, headers=headers)
            assert response.status_code == 400, (method, path)
            assert response.json["error"] == "Bad Request"
            assert response.json["message"].startswith("The CSRF token is")
    assert await titles(client) == ["mine"]


# ----------------------------------------------------------------- the pages


async def test_add_a_note_through_the_form_and_delete_it(client: FirkinClient) -> None:
    await member(client, "alice")
    form = await client.get("/notes/new")
    assert form.status_code == 200
    token = token_in(form.text)
    response = await client.post(
        "/notes/new", form={"csrf_token": token, "title": " Groceries ", "body": "milk, <eggs>"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/#note-1"
    home = await client.get("/")
    assert "Added “Groceries”." in home.text
    assert '<article class="note" id="note-1" data-id="1">' in home.text
    assert '<p class="body">milk, &lt;eggs&gt;</p>' in home.text  # escaped
    assert 'action="/notes/1/delete"' in home.text

    deleted = await client.post("/notes/1/delete", form={"csrf_token": token})
    assert (deleted.status_code, deleted.headers["Location"]) == (302, "/")
    assert await titles(client) == []
    missing = await client.post("/notes/1/delete", form={"csrf_token": token})
    assert missing.status_code == 404
    assert "You have no note 1." in missing.text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"title": "", "body": "no title"}, "A note needs a title."),
        ({"title": "   ", "body": ""}, "A note needs a title."),
        ({"title": "x" * (MAX_TITLE + 1), "body": ""}, f"The title is longer than {MAX_TITLE} characters."),
        ({"title": "ok", "body": "x" * (MAX_BODY + 1)}, f"The text is longer than {MAX_BODY} characters."),
    ],
)
async def test_the_note_form_is_checked_on_the_server(
    client: FirkinClient, form: dict[str, str], message: str
) -> None:
    await member(client, "alice")
    token = token_in((await client.get("/notes/new")).text)
    response = await client.post("/notes/new", form={"csrf_token": token, **form})
    assert response.status_code == 400
    assert '<p class="error" data-field="' in response.text
    assert message in response.text
    assert f"{form['body']}</textarea>" in response.text  # what was typed is kept
    assert await titles(client) == []


async def test_each_user_sees_only_their_notes(client: FirkinClient, app: Firkin) -> None:
    alice = await member(client, "alice")
    await add_note(client, alice, "alice's")
    bob_client = app.test_client()
    bob = await member(bob_client, "bob")
    await add_note(bob_client, bob, "bob's")
    assert await titles(client) == ["alice's"]
    assert await titles(bob_client) == ["bob's"]
    home = (await bob_client.get("/")).text
    assert "bob&#39;s" in home
    assert "alice" not in home.split("<main>")[1]
    # alice's note, as seen by bob: absent (not forbidden: its id tells bob nothing).
    for response in (
        await bob_client.get("/api/notes/1"),
        await bob_client.put("/api/notes/1", json={"title": "mine now"}, headers={"X-CSRFToken": bob}),
        await bob_client.delete("/api/notes/1", headers={"X-CSRFToken": bob}),
    ):
        assert response.status_code == 404
        assert response.json == {"error": "Not Found", "message": "You have no note 1."}
    assert (await bob_client.post("/notes/1/delete", form={"csrf_token": bob})).status_code == 404
    assert await titles(client) == ["alice's"]


async def test_the_list_is_paged(tmp_path: Path) -> None:
    app = make_app(tmp_path, NOTES_PER_PAGE=2, NOTES_MAX_PER_PAGE=3)
    async with app.test_app() as served:
        client = served.test_client()
        token = await member(client, "alice")
        for number in range(5):
            await add_note(client, token, f"note {number}")
        first = (await client.get("/")).text
        assert first.count('<article class="note" id=') == 2
        assert "page 1 of 3 (5 notes)" in first
        assert 'href="/?page=2">Older</a>' in first
        last = (await client.get("/?page=3")).text
        assert "note 0" in last
        assert 'href="/?page=2">Newer</a>' in last

        listed = (await client.get("/api/notes")).json
        assert [n["title"] for n in listed["notes"]] == ["note 4", "note 3"]
        assert (listed["page"], listed["per_page"], listed["total"]) == (1, 2, 5)
        assert listed["next"] == "/api/notes?page=2&per_page=2"
        assert await titles(client, page=2, per_page=3) == ["note 1", "note 0"]
        assert (await client.get("/api/notes", query_string={"page": 2, "per_page": 3})).json["next"] is None
        assert await titles(client, page=9) == []
        for bad in ({"per_page": 4}, {"per_page": 0}, {"page": "x"}, {"page": "-1"}, {"page": "9" * 5000}):
            response = await client.get("/api/notes", query_string=bad)
            assert response.status_code == 400, bad
            assert "is a whole number from 1 to" in response.json["message"]
        page = await client.get("/?page=0")
        assert page.status_code == 400
        assert "?page= is a whole number from 1 to 1000000" in page.text


async def test_errors_on_pages_are_pages(client: FirkinClient) -> None:
    missing = await client.get("/nothing/here")
    assert (missing.status_code, missing.mimetype) == (404, "text/html")
    assert "<h1>Not Found</h1>" in missing.text
    wrong = await client.delete("/")
    assert wrong.status_code == 405
    assert wrong.headers["Allow"]


async def test_a_websocket_to_nowhere_is_refused_with_json(client: FirkinClient) -> None:
    with pytest.raises(WebsocketResponseError) as refused:
        async with client.websocket("/nothing/here") as feed:
            await feed.receive()
    assert refused.value.response.status_code == 404
    assert (await refused.value.response.get_json())["error"] == "Not Found"


async def test_static_files(client: FirkinClient) -> None:
    static = Path(app_module.__file__).parent / "static"
    for name, mimetype in (("notes.css", "text/css"), ("notes.js", "text/javascript")):
        response = await client.get(f"/static/{name}")
        assert (response.status_code, response.mimetype) == (200, mimetype)
        assert response.data == (static / name).read_bytes()


# ----------------------------------------------------------------- the JSON API


async def test_api_log_in_create_read_update_delete(client: FirkinClient) -> None:
    await signup(client, "alice")
    token = await csrf(client)
    anonymous = await client.get("/api/notes")
    assert anonymous.status_code == 401
    assert anonymous.json["message"].startswith("Log in first: POST /api/login")

    wrong = await client.post(
        "/api/login", json={"username": "alice", "password": "nope"}, headers={"X-CSRFToken": token}
    )
    assert (wrong.status_code, wrong.json["message"]) == (401, "Wrong user name or password.")
    logged_in = await client.post(
        "/api/login", json={"username": "Alice", "password": PASSWORD}, headers={"X-CSRFToken": token}
    )
    assert logged_in.status_code == 200
    assert logged_in.json == {"user": {"id": 1, "username": "alice"}}

    created = await client.post(
        "/api/notes", json={"title": " First ", "body": "hello"}, headers={"X-CSRFToken": token}
    )
    assert created.status_code == 201
    assert created.headers["Location"] == "/api/notes/1"
    assert {k: created.json[k] for k in ("id", "title", "body", "url")} == {
        "id": 1,
        "title": "First",
        "body": "hello",
        "url": "/api/notes/1",
    }
    assert created.json["created"] == created.json["updated"]
    assert created.json["created"].endswith("+00:00")
    assert (await add_note(client, token, "Second"))["body"] == ""
    # Line breaks as browsers send them (CRLF) are kept as "\n".
    assert (await add_note(client, token, "Lines", "one\r\ntwo\rthree"))["body"] == "one\ntwo\nthree"
    assert (await client.delete("/api/notes/3", headers={"X-CSRFToken": token})).status_code == 204
    assert await titles(client) == ["Second", "First"]  # newest first
    assert (await client.get("/api/notes/1")).json["title"] == "First"

    updated = await client.put(
        "/api/notes/1", json={"title": "First, edited", "body": "bye"}, headers={"X-CSRFToken": token}
    )
    assert updated.status_code == 200
    assert (updated.json["title"], updated.json["body"]) == ("First, edited", "bye")
    assert updated.json["updated"] > updated.json["created"]

    deleted = await client.delete("/api/notes/1", headers={"X-CSRFToken": token})
    assert (deleted.status_code, deleted.data) == (204, b"")
    assert (await client.get("/api/notes/1")).json == {"error": "Not Found", "message": "You have no note 1."}
    assert (await client.delete("/api/notes/1", headers={"X-CSRFToken": token})).status_code == 404
    assert (await add_note(client, token, "Fourth"))["id"] == 4  # ids are not reused

    assert (await client.post("/api/logout", headers={"X-CSRFToken": token})).status_code == 204
    assert (await client.get("/api/notes")).status_code == 401


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, "Send a JSON object"),
        ({"data": "title=form"}, "Send a JSON object"),
        ({"json": ["a", "list"]}, "Send a JSON object"),
        ({"json": {"title": 5}}, "Every field is a string"),
        ({"json": {"title": "ok", "body": None}}, "Every field is a string"),
        ({"json": {"body": "no title"}}, "A note needs a title."),
        ({"json": {"title": " "}}, "A note needs a title."),
        ({"json": {"title": "x" * (MAX_TITLE + 1)}}, f"The title is longer than {MAX_TITLE} characters."),
        (
            {"json": {"title": "ok", "body": "x" * (MAX_BODY + 1)}},
            f"The text is longer than {MAX_BODY} characters.",
        ),
    ],
)
async def test_api_refuses_bad_input_with_400(
    client: FirkinClient, kwargs: dict[str, Any], message: str
) -> None:
    token = await member(client, "alice")
    headers = {"X-CSRFToken": token, **kwargs.pop("headers", {})}
    response = await client.post("/api/notes", headers=headers, **kwargs)
    assert response.status_code == 400
    assert response.json["error"] == "Bad Request"
    assert message in response.json["message"]
    assert await titles(client) == []


async def test_request_bodies_are_bounded(client: FirkinClient) -> None:
    token = await member(client, "alice")
    too_big = {"title": "big", "body": "x" * (64 * 1024)}  # MAX_CONTENT_LENGTH: 64 KiB
    response = await client.post("/api/notes", json=too_big, headers={"X-CSRFToken": token})
    assert (response.status_code, response.json["error"]) == (413, "Request Entity Too Large")
    page = await client.post("/notes/new", form={"csrf_token": token, **too_big})
    assert (page.status_code, page.mimetype) == (413, "text/html")
    assert await titles(client) == []


async def test_api_field_errors_are_listed(client: FirkinClient) -> None:
    token = await member(client, "alice")
    response = await client.post(
        "/api/notes", json={"title": "", "body": "x" * (MAX_BODY + 1)}, headers={"X-CSRFToken": token}
    )
    assert response.json["fields"] == {
        "title": ["A note needs a title."],
        "body": [f"The text is longer than {MAX_BODY} characters."],
    }


async def test_api_not_found_and_method_not_allowed(client: FirkinClient) -> None:
    missing = await client.get("/api/nothing/here")
    assert (missing.status_code, missing.json["error"]) == (404, "Not Found")
    patch = await client.patch("/api/notes", json={})
    assert patch.status_code == 405
    assert patch.json["error"] == "Method Not Allowed"
    assert set(patch.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    live = await client.get("/api/live")
    assert (live.status_code, live.json["error"]) == (400, "Bad Request")  # a websocket only


async def test_export_streams_csv_in_batches(tmp_path: Path) -> None:
    app = make_app(tmp_path, NOTES_EXPORT_BATCH=2)
    async with app.test_app() as served:
        client = served.test_client()
        assert (await client.get("/api/notes/export")).status_code == 401
        token = await member(client, "alice")
        titles_ = ["Plain", 'Commas, and "quotes"', "line\nbreak", "four", "five"]
        for title in titles_[:2]:
            await add_note(client, token, title)
        await add_note(client, token, "three", "line\nbreak")
        for title in titles_[3:]:
            await add_note(client, token, title)
        other = app.test_client()
        await add_note(other, await member(other, "bob"), "bob's")

        export = await client.get("/api/notes/export")
        assert export.status_code == 200
        assert export.mimetype == "text/csv"
        assert export.headers["Content-Disposition"] == "attachment; filename=notes.csv"
        assert "Content-Length" not in export.headers  # streamed, not buffered
        import csv
        import io

        rows = list(csv.reader(io.StringIO(export.text)))
        assert rows[0] == ["id", "title", "body", "created", "updated"]
        assert [(row[0], row[1], row[2]) for row in rows[1:]] == [
            ("1", "Plain", ""),
            ("2", 'Commas, and "quotes"', ""),
            ("3", "three", "line\nbreak"),
            ("4", "four", ""),
            ("5", "five", ""),
        ]


async def test_health(client: FirkinClient) -> None:
    health = await client.get("/health")  # a plain `def` view: it queries the database directly
    assert (health.status_code, health.json) == (200, {"status": "ok", "database": "sqlite"})


async def test_livez_answers_while_the_database_does_not(tmp_path: Path) -> None:
    """The liveness probe's route: 200 while /health (the readiness probe's) says 503, the pool's
    only connection held elsewhere."""
    app = make_app(tmp_path, NOTES_DB_POOL_SIZE=1, NOTES_DB_POOL_TIMEOUT=0.2)
    async with app.test_app() as served:
        client = served.test_client()
        assert ((await client.get("/livez")).status_code, (await client.get("/health")).status_code) == (
            200,
            200,
        )
        database: Database = app.extensions["notes.database"]
        held = await anyio.to_thread.run_sync(database.engine.connect)
        try:
            assert (await client.get("/health")).status_code == 503
            live = await client.get("/livez")
            assert (live.status_code, live.json) == (200, {"status": "ok"})
        finally:
            await anyio.to_thread.run_sync(held.close)


# ----------------------------------------------------------------- the live feed


async def test_live_feed_sends_the_users_own_changes(client: FirkinClient, app: Firkin) -> None:
    token = await member(client, "alice")
    bob_client = app.test_client()
    bob = await member(bob_client, "bob")
    async with client.websocket("/api/live") as feed, bob_client.websocket("/api/live") as bob_feed:
        assert await feed.receive_json() == {"type": "ready", "user": "alice"}
        assert await bob_feed.receive_json() == {"type": "ready", "user": "bob"}
        await add_note(bob_client, bob, "bob's")  # not for alice
        form = token_in((await client.get("/notes/new")).text)
        await client.post("/notes/new", form={"csrf_token": form, "title": "from the page", "body": "<b>"})
        created = await feed.receive_json()
        assert created["type"] == "created"
        assert {k: created["note"][k] for k in ("id", "title", "body", "url")} == {
            "id": 2,
            "title": "from the page",
            "body": "<b>",
            "url": "/api/notes/2",
        }
        await add_note(client, token, "from the API")
        assert (await feed.receive_json())["note"]["title"] == "from the API"
        await client.put("/api/notes/2", json={"title": "edited"}, headers={"X-CSRFToken": token})
        updated = await feed.receive_json()
        assert (updated["type"], updated["note"]["id"], updated["note"]["title"]) == ("updated", 2, "edited")
        await client.delete("/api/notes/3", headers={"X-CSRFToken": token})
        assert await feed.receive_json() == {"type": "deleted", "id": 3}
        await client.post("/notes/2/delete", form={"csrf_token": form})
        assert await feed.receive_json() == {"type": "deleted", "id": 2}
        created_for_bob = await bob_feed.receive_json()
        assert created_for_bob["note"]["title"] == "bob's"
        await add_note(bob_client, bob, "bob's second")
        assert (await bob_feed.receive_json())["note"][
            "title"
        ] == "bob's second"  # nothing of alice's between


async def test_live_feed_refuses_anonymous_and_other_sites(client: FirkinClient) -> None:
    with pytest.raises(WebsocketResponseError) as anonymous:
        async with client.websocket("/api/live") as feed:
            await feed.receive()
    assert anonymous.value.response.status_code == 401
    await member(client, "alice")
    with pytest.raises(WebsocketResponseError) as other_site:
        async with client.websocket("/api/live", headers={"Origin": "https://evil.example"}) as feed:
            await feed.receive()
    assert other_site.value.response.status_code == 403
    assert (await other_site.value.response.get_json())[
        "message"
    ] == "The live feed is for this site's own pages."
    async with client.websocket("/api/live", headers={"Origin": "http://localhost"}) as feed:
        assert (await feed.receive_json())["type"] == "ready"  # this site's page


async def test_a_user_may_have_so_many_feeds_open(tmp_path: Path) -> None:
    app = make_app(tmp_path, NOTES_LIVE_FEEDS_PER_USER=2)
    async with app.test_app() as served:
        client = served.test_client()
        await member(client, "alice")
        async with client.websocket("/api/live") as one, client.websocket("/api/live") as two:
            for feed in (one, two):
                assert (await feed.receive_json())["type"] == "ready"
            with pytest.raises(WebsocketResponseError) as third:
                async with client.websocket("/api/live") as feed:
                    await feed.receive()
            assert third.value.response.status_code == 429
            assert (await third.value.response.get_json())["message"] == (
                "You have 2 live feeds open already: close one."
            )
        async with client.websocket("/api/live") as again:  # closed ones no longer count
            assert (await again.receive_json())["type"] == "ready"
        assert app.extensions[FEED_KEY].count(1) == 0


async def test_a_feed_that_falls_behind_is_closed_with_1013(tmp_path: Path) -> None:
    app = make_app(tmp_path, NOTES_LIVE_QUEUE=2)
    async with app.test_app() as served:
        client = served.test_client()
        await member(client, "alice")
        async with client.websocket("/api/live") as feed:
            assert (await feed.receive_json())["type"] == "ready"
            live: LiveFeed = app.extensions[FEED_KEY]
            # Published without a pause, so the handler cannot send any meanwhile: two wait in its
            # queue (NOTES_LIVE_QUEUE), a third may go straight to the handler if it is waiting for
            # one already, and the fourth finds the queue full.
            for number in range(4):
                live.publish(1, {"type": "deleted", "id": number})
            received = [(await feed.receive_json())["id"], (await feed.receive_json())["id"]]
            try:
                received.append((await feed.receive_json())["id"])
            except WebsocketDisconnected:
                pass
            assert received in ([0, 1], [0, 1, 2])
            with pytest.raises(WebsocketDisconnected) as closed:
                await feed.receive()
            assert (closed.value.code, closed.value.reason) == (1013, "too far behind")
        assert live.count(1) == 0


def test_the_feed_is_bounded_per_subscriber_and_per_user() -> None:
    feed = LiveFeed(max_pending=2, max_per_user=1)
    with feed.subscribe(7) as events:
        with pytest.raises(TooManyFeeds), feed.subscribe(7):
            pass
        with feed.subscribe(8) as others:  # another user's
            for number in range(3):
                feed.publish(7, {"n": number})
            assert [events.receive_nowait(), events.receive_nowait()] == [{"n": 0}, {"n": 1}]
            with pytest.raises(anyio.EndOfStream):
                events.receive_nowait()  # dropped after the third
            with pytest.raises(anyio.WouldBlock):
                others.receive_nowait()
        assert feed.count(7) == 0
    assert feed.count(8) == 0


# ----------------------------------------------------------------- the database pool


async def test_a_request_that_finds_no_free_connection_gets_503(tmp_path: Path) -> None:
    app = make_app(tmp_path, NOTES_DB_POOL_SIZE=1, NOTES_DB_POOL_TIMEOUT=0.2)
    async with app.test_app() as served:
        client = served.test_client()
        token = await member(client, "alice")
        database: Database = app.extensions["notes.database"]
        held = await anyio.to_thread.run_sync(database.engine.connect)  # the pool's only connection
        try:
            busy = await client.get("/api/notes")
            assert (busy.status_code, busy.headers["Retry-After"]) == (503, "1")
            assert busy.json == {
                "error": "Service Unavailable",
                "message": "The database is busy. Try again in a moment.",
            }
            page = await client.get("/")
            assert (page.status_code, page.mimetype) == (503, "text/html")
            assert "The database is busy." in page.text
        finally:
            await anyio.to_thread.run_sync(held.close)
        await add_note(client, token, "the pool is free again")
        assert await titles(client) == ["the pool is free again"]


# ----------------------------------------------------------------- the command line


async def test_create_user_command(app: Firkin) -> None:
    runner = app.test_cli_runner()
    result = await anyio.to_thread.run_sync(
        lambda: runner.invoke(args=["create-user", "Carol", "--password", PASSWORD])
    )
    assert (result.exit_code, result.output) == (0, "Created the user carol.\n")
    taken = await anyio.to_thread.run_sync(
        lambda: runner.invoke(args=["create-user", "carol", "--password", PASSWORD])
    )
    assert taken.exit_code == 1
    assert "the user name 'carol' is taken" in taken.output
    bad = await anyio.to_thread.run_sync(
        lambda: runner.invoke(args=["create-user", "no spaces", "--password", PASSWORD])
    )
    assert bad.exit_code == 2
    assert "a user name is 1 to 32 letters" in bad.output
    short = await anyio.to_thread.run_sync(
        lambda: runner.invoke(args=["create-user", "dave", "--password", "short"])
    )
    assert short.exit_code == 2
    assert "a password is 8 to 200 characters" in short.output
    prompted = await anyio.to_thread.run_sync(
        lambda: runner.invoke(args=["create-user", "erin"], input=f"{PASSWORD}\n{PASSWORD}\n")
    )
    assert prompted.exit_code == 0, prompted.output
    app.extensions.pop("notes.database").dispose()
    async with app.test_app() as served:
        for name in ("carol", "erin"):
            assert (await login(served.test_client(), name)).status_code == 302


def test_routes_command_lists_both_blueprints(app: Firkin) -> None:
    result = app.test_cli_runner().invoke(args=["routes"])
    assert result.exit_code == 0, result.output
    for endpoint in (
        "web.index",
        "web.signup",
        "web.login",
        "web.new_note",
        "api.note",
        "api.live",
        "health",
        "livez",
    ):
        assert endpoint in result.output
