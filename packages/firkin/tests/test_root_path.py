"""An app mounted under a prefix (ASGI `root_path`), as a Quart app sees it: routing below the prefix,
`request.script_root` / `url_root`, URLs and redirects built with it, websockets too; and the app's
own `root_path` (its folder), which relative file paths are resolved against. Where firkin differs
from Quart 0.22 on purpose, the test says so (docs/firkin/coming-from-quart.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from firkin import Firkin, redirect, request, send_file, session, url_for, websocket
from firkin.wrappers import BaseRequestWebsocket, Response

pytestmark = pytest.mark.anyio


def make_app() -> Firkin:
    app = Firkin(__name__)
    app.secret_key = "secret"

    @app.route("/")
    async def index() -> dict[str, Any]:
        return where()

    @app.route("/x")
    async def x() -> dict[str, Any]:
        return where()

    @app.route("/slash/")
    async def slash() -> str:
        return "slash"

    @app.route("/go")
    async def go() -> Response:
        session["seen"] = True
        return redirect(url_for("x"))

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.send(f"{websocket.path} {websocket.script_root} {url_for('x', _external=True)}")

    return app


def where() -> dict[str, Any]:
    assert isinstance(request._get_current_object(), BaseRequestWebsocket)  # type: ignore[attr-defined]
    return {
        "path": request.path,
        "root_path": request.root_path,
        "script_root": request.script_root,
        "url": request.url,
        "url_root": request.url_root,
        "url_for": url_for("x"),
        "external": url_for("x", _external=True),
        "static": url_for("static", filename="a.css"),
    }


MOUNTED = {
    "path": "/x",
    "root_path": "/bob",
    "script_root": "/bob",
    "url": "http://localhost/bob/x",
    "url_root": "http://localhost/bob/",
    "url_for": "/bob/x",
    "external": "http://localhost/bob/x",
    "static": "/bob/static/a.css",
}  # what Quart 0.22 answers for the same request


@pytest.mark.parametrize("root_path", ["/bob", "/bob/"])
async def test_a_request_under_the_root_path(root_path: str) -> None:
    response = await make_app().test_client().get("/bob/x", root_path=root_path)
    assert await response.get_json() == MOUNTED


async def test_redirects_and_cookies_under_the_root_path() -> None:
    client = make_app().test_client()
    response = await client.get("/bob/slash", root_path="/bob")
    assert response.status_code == 308
    assert response.headers["Location"] == "http://localhost/bob/slash/"
    response = await client.get("/bob/go", root_path="/bob")
    assert response.headers["Location"] == "/bob/x"
    assert response.headers["Set-Cookie"].endswith("; Path=/")  # SESSION_COOKIE_PATH, else APPLICATION_ROOT


async def test_a_websocket_under_the_root_path() -> None:
    async with make_app().test_client().websocket("/bob/ws", root_path="/bob") as ws:
        assert await ws.receive() == "/ws /bob http://localhost/bob/x"  # as Quart builds it


async def test_the_test_client_takes_the_path_with_or_without_the_root_path() -> None:
    """Quart's form includes the root path (as ASGI's `path` does); Flask's does not. Both request
    /bob/x (Quart answers 404 to the second)."""
    client = make_app().test_client()
    for path in ("/bob/x", "/x"):
        response = await client.get(path, root_path="/bob")
        assert await response.get_json() == MOUNTED


async def test_a_path_that_only_starts_like_the_root_path_is_not_under_it() -> None:
    app = make_app()

    @app.route("/bobby")
    async def bobby() -> str:
        return request.path

    # As a server sends it: the path is /bobby, the app is mounted at /bob.
    response = await app.test_client().get(
        "/bobby", root_path="/bob", scope_base={"path": "/bobby", "root_path": "/bob"}
    )
    assert response.status_code == 200  # not "by" under /bob; routed as it is, like any path outside
    assert await response.get_data(as_text=True) == "/bobby"


async def test_the_root_path_itself_is_the_apps_root() -> None:
    """Different from Quart on purpose: GET /bob for an app mounted at /bob is its `/` (as a WSGI
    app sees SCRIPT_NAME=/bob with an empty PATH_INFO); Quart answers 404."""
    response = await make_app().test_client().get("/bob", root_path="/bob")
    assert (await response.get_json())["path"] == "/"


async def test_a_path_outside_the_root_path_is_routed_as_it_is() -> None:
    """Different from Quart on purpose: a server that sets root_path without prefixing the path
    (older ASGI servers did) still reaches the app's routes; Quart answers 404."""
    response = await make_app().test_client().get("/x", scope_base={"path": "/x", "root_path": "/bob"})
    assert (await response.get_json())["url_for"] == "/bob/x"


async def test_relative_file_paths_are_relative_to_the_apps_root_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's folder (`Firkin(root_path=...)`, else its module's) anchors relative paths, wherever
    the server was started. Quart's send_file reads a relative path from the current directory."""
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_text("from the app's folder")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "files").mkdir(parents=True)
    (elsewhere / "files" / "a.txt").write_text("from the current directory")
    monkeypatch.chdir(elsewhere)
    app = Firkin(__name__, root_path=str(tmp_path))

    @app.route("/")
    async def index() -> Response:
        return await send_file("files/a.txt")

    response = await app.test_client().get("/")
    assert await response.get_data(as_text=True) == "from the app's folder"
