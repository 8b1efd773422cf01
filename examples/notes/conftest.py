"""What the notes example's tests share: an app on a fresh instance folder, a client that runs the
app's lifespan, and the steps of signing up and logging in (through the test client, or httpx over a
real socket)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from firkin import Firkin, Response
from firkin.testing import FirkinClient

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
