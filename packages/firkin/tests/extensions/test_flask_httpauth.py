"""Flask-HTTPAuth on firkin, unpatched: Basic and token (Bearer) authentication around async and
sync views, `current_user()`, roles, and its 401 with the `WWW-Authenticate` challenge."""

from __future__ import annotations

import base64

import httpx
import pytest
from firkin import Firkin
from flask_httpauth import HTTPBasicAuth, HTTPTokenAuth

from conftest import ServeFactory

anyio = pytest.mark.anyio

USERS = {"ada": ("lovelace", ["admin"]), "bob": ("builder", [])}
TOKENS = {"t0k3n": "ada"}


def make_app() -> Firkin:
    app = Firkin(__name__)
    basic = HTTPBasicAuth()
    token = HTTPTokenAuth(scheme="Bearer")

    @basic.verify_password
    def verify_password(username: str, password: str) -> str | None:
        known = USERS.get(username)
        return username if known is not None and known[0] == password else None

    @basic.get_user_roles
    def roles(user: str) -> list[str]:
        return USERS[user][1]

    @token.verify_token
    def verify_token(value: str) -> str | None:
        return TOKENS.get(value)

    @app.get("/")
    @basic.login_required
    async def index() -> str:
        return f"hello {basic.current_user()}"

    @app.get("/admin")
    @basic.login_required(role="admin")
    def admin() -> str:
        return "admin area"

    @app.get("/api")
    @token.login_required
    async def api() -> dict[str, str]:
        return {"user": token.current_user()}

    return app


def basic_header(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@anyio
async def test_basic_and_token_auth() -> None:
    client = make_app().test_client()
    refused = await client.get("/")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="Authentication Required"'
    assert (await client.get("/", headers=basic_header("ada", "wrong"))).status_code == 401
    response = await client.get("/", headers=basic_header("ada", "lovelace"))
    assert await response.get_data() == b"hello ada"
    assert (await client.get("/admin", headers=basic_header("ada", "lovelace"))).status_code == 200
    assert (await client.get("/admin", headers=basic_header("bob", "builder"))).status_code == 403
    response = await client.get("/api", headers={"Authorization": "Bearer t0k3n"})
    assert await response.get_json() == {"user": "ada"}
    assert (await client.get("/api", headers={"Authorization": "Bearer nope"})).status_code == 401


def test_flask_httpauth_over_tapster(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        assert client.get("/", auth=("bob", "builder")).text == "hello bob"
        assert client.get("/").status_code == 401
