"""The test client's Quart- and Flask-compatible arguments: `async with client:`, cookies both ways,
auth / subdomain / scope_base, root_path, recorded server pushes."""

from __future__ import annotations

from typing import Any

import pytest
from firkin import Firkin, g, has_request_context, request, session
from firkin.testing import FirkinClient, make_scope_and_body
from firkin.typing import ASGIReceive, ASGIScope, ASGISend
from werkzeug.datastructures import Authorization

pytestmark = pytest.mark.anyio


def make_app() -> Firkin:
    app = Firkin(__name__)
    app.secret_key = "secret"

    @app.route("/")
    async def index() -> str:
        session["hello"] = "world"
        g.seen = request.args.get("n", "")
        return "Hello"

    @app.route("/cookie/<name>")
    async def cookie(name: str) -> str:
        return request.cookies.get(name, "<none>")

    @app.route("/who")
    async def who() -> dict[str, Any]:
        auth = request.authorization
        return {
            "user": auth.username if auth else None,
            "password": auth.password if auth else None,
            "host": request.host,
            "remote_addr": request.remote_addr,
            "path": request.path,
            "root_path": request.root_path,
        }

    return app


# ----------------------------------------------------------------- async with client


async def test_with_block_keeps_the_last_request_context() -> None:
    app = make_app()
    teardowns: list[str] = []
    app.teardown_request(lambda exc: teardowns.append(request.path))
    async with app.test_client() as client:
        await client.get("/?n=1")
        assert request.method == "GET"
        assert request.args["n"] == "1"
        assert session["hello"] == "world"
        assert g.seen == "1"  # the request's own app context, not a new one
        await client.get("/?n=2")  # replaces the kept context
        assert request.args["n"] == "2"
        assert g.seen == "2"
    assert not has_request_context()
    assert teardowns == ["/", "/"]  # once per request: not again when the kept context goes


async def test_without_a_block_nothing_is_kept() -> None:
    client = make_app().test_client()
    await client.get("/")
    assert not has_request_context()


async def test_with_blocks_do_not_nest_and_clients_keep_their_own() -> None:
    app = make_app()
    client = app.test_client()
    other = app.test_client()
    async with client:
        with pytest.raises(RuntimeError, match="nest"):
            await client.__aenter__()
        await other.get("/?n=other")  # not in a block: its context is not kept
        assert not has_request_context()
        await client.get("/?n=mine")
        assert request.args["n"] == "mine"
        async with client.session_transaction() as sess:  # still usable inside the block
            assert sess["hello"] == "world"
    assert not has_request_context()


async def test_with_block_keeps_the_context_of_a_failed_request() -> None:
    app = make_app()
    app.testing = True  # errors propagate to the test

    @app.route("/boom")
    async def boom() -> str:
        raise ValueError("boom")

    async with app.test_client() as client:
        with pytest.raises(ValueError, match="boom"):
            await client.get("/boom")
        assert request.path == "/boom"
    assert not has_request_context()


# ----------------------------------------------------------------- cookies


async def test_set_cookie_flask_and_quart_forms() -> None:
    client = make_app().test_client()
    client.set_cookie("flask", "1")  # Flask: key, value
    client.set_cookie("localhost", "quart", "2")  # Quart: server_name, key, value
    client.set_cookie(key="kw", value="3", path="/cookie")
    client.set_cookie(server_name="localhost", key="qkw", value="4")
    for name, value in (("flask", "1"), ("quart", "2"), ("kw", "3"), ("qkw", "4")):
        assert await (await client.get(f"/cookie/{name}")).get_data(as_text=True) == value
    # Headers of the test's own do not push the jar's cookies out of the request.
    assert await (await client.get("/cookie/qkw", headers={"X": "y"})).get_data() == b"4"


async def test_set_cookie_domain_path_and_expiry() -> None:
    client = make_app().test_client()
    client.set_cookie("a", "1", domain="example.com")
    client.set_cookie("other.test", "b", "2")
    client.set_cookie("c", "3", path="/elsewhere")
    client.set_cookie("d", "4", max_age=0)  # already expired: not stored
    for name in "abcd":
        assert await (await client.get(f"/cookie/{name}")).get_data() == b"<none>"
    response = await client.get("/cookie/a", headers={"Host": "www.example.com"})
    assert await response.get_data() == b"1"
    assert client.get_cookie("d") is None


async def test_delete_cookie_flask_and_quart_forms() -> None:
    client = make_app().test_client()
    client.set_cookie("a", "1")
    client.set_cookie("b", "2")
    client.delete_cookie("a")  # Flask
    client.delete_cookie("localhost", "b")  # Quart
    assert client.get_cookie("a") is None
    assert client.get_cookie("b") is None


def test_set_cookie_takes_quarts_positional_arguments() -> None:
    client = make_app().test_client()
    client.set_cookie("localhost", "gone", "1", -1)  # max_age, fourth in Quart's order: expired at once
    client.set_cookie("localhost", "kept", "1", 60, None, "/sub")
    assert client.get_cookie("gone") is None
    assert client.get_cookie("kept") == "1"
    assert client._cookie_header("/") is None
    assert client._cookie_header("/sub/x") == "kept=1"


def test_set_cookie_refuses_bad_arguments() -> None:
    client = make_app().test_client()
    with pytest.raises(TypeError, match="at most 11"):
        client.set_cookie("a", "b", "c", 1, None, "/", None, False, False, None, "utf-8", "x")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="multiple values"):
        client.set_cookie("a", "b", key="c")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="name"):
        client.set_cookie(value="x")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="name"):
        client.delete_cookie()


# ----------------------------------------------------------------- auth, subdomain, scope_base


async def test_auth_tuple_and_authorization() -> None:
    client = make_app().test_client()
    data = await (await client.get("/who", auth=("user", "pass"))).get_json()
    assert (data["user"], data["password"]) == ("user", "pass")
    auth = Authorization("basic", {"username": "ann", "password": "pw:with:colons"})
    data = await (await client.get("/who", auth=auth)).get_json()
    assert (data["user"], data["password"]) == ("ann", "pw:with:colons")
    # An explicit Authorization header wins.
    data = await (await client.get("/who", auth=("x", "y"), headers={"Authorization": "Bearer t"})).get_json()
    assert data["user"] is None


async def test_subdomain_and_scope_base() -> None:
    app = make_app()
    client = app.test_client()
    data = await (await client.get("/who", subdomain="api")).get_json()
    assert data["host"] == "api.localhost"
    app.config["SERVER_NAME"] = "example.com"
    scope, _ = make_scope_and_body(app, "/", subdomain="api")
    assert (b"host", b"api.example.com") in scope["headers"]
    app.config["SERVER_NAME"] = None
    data = await (await client.get("/who", scope_base={"client": ("127.0.0.2", 1234)})).get_json()
    assert data["remote_addr"] == "127.0.0.2"


# ----------------------------------------------------------------- root_path


@pytest.mark.parametrize("path", ["/bob/who", "/who"])
async def test_root_path_with_or_without_it_in_the_path(path: str) -> None:
    # Quart's style includes the root path in the path, as the ASGI scope does; Flask's does not.
    client = make_app().test_client()
    response = await client.get(path, root_path="/bob")
    assert response.status_code == 200
    data = await response.get_json()
    assert (data["path"], data["root_path"]) == ("/who", "/bob")
    scope, _ = make_scope_and_body(client.app, path, root_path="/bob/")
    assert (scope["path"], scope["root_path"]) == ("/bob/who", "/bob")


def test_root_path_is_only_a_whole_segment_prefix() -> None:
    scope, _ = make_scope_and_body(make_app(), "/bobcat", root_path="/bob")
    assert scope["path"] == "/bob/bobcat"


# ----------------------------------------------------------------- server push


async def test_push_promises_are_recorded_per_request() -> None:
    class Pushing(Firkin):
        # What the ASGI layer does when a view pushes: the extension is in the scope for HTTP/2.
        async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
            if scope["type"] == "http" and "http.response.push" in scope["extensions"]:
                await send({"type": "http.response.push", "path": "/style.css", "headers": [(b"a", b"b")]})
            await super().__call__(scope, receive, send)

    app = Pushing(__name__)
    app.add_url_rule("/", view_func=lambda: "hi")
    client = FirkinClient(app)
    response = await client.get("/", http_version="2")
    assert await response.get_data() == b"hi"
    [(path, headers)] = client.push_promises
    assert (path, headers["a"]) == ("/style.css", "b")
    await client.get("/")  # HTTP/1.1: no push extension, and the list starts again
    assert client.push_promises == []


async def test_early_hints_are_recorded_per_request() -> None:
    from firkin import send_early_hints

    app = Firkin(__name__)

    @app.get("/")
    async def page() -> str:
        await send_early_hints("</app.css>; rel=preload; as=style", "</app.js>; rel=preload; as=script")
        await request.send_early_hints("</font.woff2>; rel=preload; as=font")
        return "page"

    client = FirkinClient(app)
    await client.get("/")
    assert client.early_hints == []  # HTTP/1.1: not offered
    response = await client.get("/", http_version="2")
    assert await response.get_data() == b"page"
    assert client.early_hints == [
        ["</app.css>; rel=preload; as=style", "</app.js>; rel=preload; as=script"],
        ["</font.woff2>; rel=preload; as=font"],
    ]


async def test_an_early_hint_with_a_line_break_is_refused() -> None:
    app = Firkin(__name__)

    @app.get("/")
    async def page() -> str:
        await request.send_early_hints("</a>\r\nset-cookie: x=1")
        return "page"

    response = await FirkinClient(app).get("/", http_version="2")
    assert response.status_code == 500
