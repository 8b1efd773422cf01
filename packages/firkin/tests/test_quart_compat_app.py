"""Behaviours a Quart (or Flask) app relies on: abort(response), werkzeug responses, asgi_app
middleware, subdomain routing."""

from __future__ import annotations

from typing import Any

import pytest
from firkin import Blueprint, Firkin, Response, abort, jsonify
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as WerkzeugResponse

pytestmark = pytest.mark.anyio


async def test_abort_with_a_response_sends_that_response() -> None:
    app = Firkin(__name__)

    @app.get("/json")
    async def json_error() -> str:
        abort(jsonify(error="nope"))

    @app.get("/teapot")
    async def teapot() -> str:
        abort(Response("short and stout", 418))

    client = app.test_client()
    response = await client.get("/json")
    assert response.status_code == 200
    assert await response.get_json() == {"error": "nope"}
    response = await client.get("/teapot")
    assert response.status_code == 418
    assert await response.get_data() == b"short and stout"


async def test_a_werkzeug_response_is_converted() -> None:
    app = Firkin(__name__)

    @app.get("/plain")
    async def plain() -> Any:
        return WerkzeugResponse("from werkzeug", status=201, headers={"X-From": "wz"})

    @app.get("/tuple")
    async def in_tuple() -> Any:
        return WerkzeugResponse("body"), 202

    client = app.test_client()
    response = await client.get("/plain")
    assert (response.status_code, await response.get_data()) == (201, b"from werkzeug")
    assert response.headers["X-From"] == "wz"
    assert response.headers["Content-Length"] == "13"
    response = await client.get("/tuple")
    assert (response.status_code, await response.get_data()) == (202, b"body")


async def test_asgi_app_can_be_wrapped_by_middleware() -> None:
    app = Firkin(__name__)
    seen: list[str] = []

    @app.get("/")
    async def index() -> str:
        return "ok"

    inner = app.asgi_app

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        await inner(scope, receive, send)

    app.asgi_app = middleware  # type: ignore[method-assign]
    response = await app.test_client().get("/")
    assert await response.get_data() == b"ok"
    assert seen == ["http"]


async def test_a_subclass_may_override_asgi_app() -> None:
    seen: list[str] = []

    class Wrapped(Firkin):
        async def asgi_app(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["path"])
            await super().asgi_app(scope, receive, send)

    app = Wrapped(__name__)

    @app.get("/")
    async def index() -> str:
        return "ok"

    response = await app.test_client().get("/")
    assert await response.get_data() == b"ok"
    assert seen == ["/"]


async def test_subdomain_routing() -> None:
    app = Firkin(__name__, subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.com"
    api = Blueprint("api", __name__, subdomain="api")

    @api.get("/")
    async def api_index() -> str:
        return "api"

    @app.get("/")
    async def index() -> str:
        return "www"

    @app.get("/", subdomain="<user>")
    async def user_home(user: str) -> str:
        return f"home of {user}"

    app.register_blueprint(api)
    client = app.test_client()
    assert await (await client.get("/", headers={"Host": "example.com"})).get_data() == b"www"
    assert await (await client.get("/", headers={"Host": "api.example.com"})).get_data() == b"api"
    assert await (await client.get("/", headers={"Host": "ada.example.com"})).get_data() == b"home of ada"
    # A host outside SERVER_NAME is bound to the subdomain "<invalid>" (werkzeug's, as in Flask): it
    # reaches neither the plain rules nor a named subdomain's, but a wildcard subdomain takes it, in
    # Flask too (which also warns).
    other = await client.get("/", headers={"Host": "api.other.org"})
    assert (other.status_code, await other.get_data()) == (200, b"home of <invalid>")
    without_wildcard = Firkin(__name__, subdomain_matching=True)
    without_wildcard.config["SERVER_NAME"] = "example.com"
    without_wildcard.add_url_rule("/", view_func=index)
    without_wildcard.register_blueprint(api)
    client = without_wildcard.test_client()
    assert await (await client.get("/", headers={"Host": "api.example.com"})).get_data() == b"api"
    for host in ("api.other.org", "other.org"):
        response = await client.get("/", headers={"Host": host})
        assert (response.status_code, await response.get_data(as_text=True)) == (404, NotFound().get_body())
