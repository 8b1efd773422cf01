"""What the notes example's tests share: an app on a fresh instance folder, a client that runs the
app's lifespan, and the steps of signing up and logging in (through the test client, or httpx over a
real socket)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from firkin import Firkin, Response
from firkin.testing import FirkinClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.datastructures import Headers
from websockets.typing import Origin

from examples.notes.app import create_app

# The tests sign up many users; scrypt, the default, takes about 0.1 s of CPU a hash. One test
# (test_notes.py) checks the default.
FAST_HASH = "pbkdf2:sha256:1000"
TEST_CONFIG: dict[str, Any] = {
    "TESTING": True,
    "SECRET_KEY": "test secret",
    "NOTES_PASSWORD_METHOD": FAST_HASH,
}
PASSWORD = "correct horse"
TIMEOUT = 10  # seconds for a conversation over a real socket
_TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def make_app(instance: Path, **config: Any) -> Firkin:
    return create_app({**TEST_CONFIG, **config}, instance_path=instance)


@pytest.fixture
def app(tmp_path: Path) -> Firkin:
    return make_app(tmp_path / "instance")


@pytest.fixture
async def client(app: Firkin) -> AsyncIterator[FirkinClient]:
    """A client for the app, started as a server starts it (the lifespan opens the database)."""
    async with app.test_app() as test_app:
        yield test_app.test_client()


def token_in(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _TOKEN.search(html)
    assert found is not None, html
    return found.group(1)


# ----------------------------------------------------------------- through the test client


async def signup(client: FirkinClient, username: str, password: str = PASSWORD) -> Response:
    token = token_in((await client.get("/signup")).text)
    form = {"csrf_token": token, "username": username, "password": password, "confirm": password}
    response: Response = await client.post("/signup", form=form)
    return response


async def login(client: FirkinClient, username: str, password: str = PASSWORD) -> Response:
    token = token_in((await client.get("/login")).text)
    form = {"csrf_token": token, "username": username, "password": password}
    response: Response = await client.post("/login", form=form)
    return response


async def csrf(client: FirkinClient) -> str:
    token: str = (await client.get("/api/csrf")).json["csrf_token"]
    return token


async def member(client: FirkinClient, username: str) -> str:
    """Sign `username` up and log them in; the CSRF token for their API calls."""
    assert (await signup(client, username)).status_code == 302
    response = await login(client, username)
    assert (response.status_code, response.headers["Location"]) == (302, "/"), response.text
    return await csrf(client)


# ----------------------------------------------------------------- over a real socket (httpx)


def http_member(http: httpx.Client, username: str, password: str = PASSWORD) -> str:
    """Sign up and log in through the pages, as a browser does; the CSRF token for API calls."""
    token = token_in(http.get("/signup").text)
    form = {"csrf_token": token, "username": username, "password": password, "confirm": password}
    signed_up = http.post("/signup", data=form)
    assert (signed_up.status_code, signed_up.headers["location"]) == (302, "/login"), signed_up.text
    logged_in = http.post("/login", data={"csrf_token": token, "username": username, "password": password})
    assert (logged_in.status_code, logged_in.headers["location"]) == (302, "/"), logged_in.text
    api_token: str = http.get("/api/csrf").json()["csrf_token"]
    return api_token


async def live_feed(base_url: str, http: httpx.Client) -> ClientConnection:
    """The live feed, opened as the page's script opens it: the session cookie, this site's Origin."""
    cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    feed = await connect(
        base_url.replace("http://", "ws://") + "/api/live",
        origin=Origin(base_url),
        additional_headers=Headers(Cookie=cookie),
    )
    ready = json.loads(await feed.recv())
    assert ready["type"] == "ready", ready
    return feed


async def next_event(feed: ClientConnection) -> Any:
    return json.loads(await feed.recv())


def in_thread(func: Any, *args: Any) -> Any:
    return asyncio.to_thread(func, *args)


def session_over(base_url: str, username: str) -> None:
    """Sign up and log in, watch the live feed while notes are added on the page and through the API,
    changed and deleted; read them back as JSON and as CSV."""
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as http:
        token = http_member(http, username)
        assert "Your notes" in http.get("/").text

        async def watch() -> None:
            feed = await live_feed(base_url, http)
            try:
                page_token = token_in((await in_thread(http.get, "/notes/new")).text)
                added = await in_thread(
                    lambda: http.post("/notes/new", data={"csrf_token": page_token, "title": "on the page"})
                )
                assert (added.status_code, added.headers["location"]) == (302, "/#note-1")
                event = await next_event(feed)
                assert (event["type"], event["note"]["title"]) == ("created", "on the page")

                created = await in_thread(
                    lambda: http.post(
                        "/api/notes",
                        json={"title": "by the API", "body": "é ✓"},
                        headers={"X-CSRFToken": token},
                    )
                )
                assert created.status_code == 201
                event = await next_event(feed)
                assert (event["type"], event["note"]["body"]) == ("created", "é ✓")

                changed = await in_thread(
                    lambda: http.put(
                        "/api/notes/2",
                        json={"title": "changed", "body": "é ✓"},
                        headers={"X-CSRFToken": token},
                    )
                )
                assert changed.status_code == 200
                assert (await next_event(feed))["note"]["title"] == "changed"
                gone = await in_thread(lambda: http.delete("/api/notes/1", headers={"X-CSRFToken": token}))
                assert gone.status_code == 204
                assert await next_event(feed) == {"type": "deleted", "id": 1}
            finally:
                await feed.close()

        asyncio.run(asyncio.wait_for(watch(), TIMEOUT))

        notes = http.get("/api/notes").json()
        assert [(n["id"], n["title"], n["body"]) for n in notes["notes"]] == [(2, "changed", "é ✓")]
        with http.stream("GET", "/api/notes/export") as export:
            assert export.status_code == 200
            assert export.headers["transfer-encoding"] == "chunked"
            assert export.headers["content-type"] == "text/csv; charset=utf-8"
            lines = list(export.iter_lines())
        assert lines[0] == "id,title,body,created,updated"
        assert lines[1].startswith("2,changed,é ✓,")
        forged = http.post("/api/notes", json={"title": "no token"})
        assert (forged.status_code, forged.json()["message"]) == (400, "The CSRF token is missing.")
