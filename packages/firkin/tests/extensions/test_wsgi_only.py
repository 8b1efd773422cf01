"""Code that needs WSGI cannot run on firkin (ASGI); the error names that code and says why:
`request.environ` and `app.wsgi_app` raise a `WSGIOnlyError` (an AttributeError, so probing code
goes its other way) naming the caller's distribution and module."""

from __future__ import annotations

import io
import re
from typing import Any

import flask
import httpx
import pytest
from firkin import Firkin, request, websocket
from firkin.wrappers import WSGIOnlyError
from werkzeug.middleware.proxy_fix import ProxyFix

from conftest import ServeFactory

pytestmark = pytest.mark.anyio


def make_app() -> Firkin:
    app = Firkin(__name__)

    @app.get("/send-file")
    def flask_send_file() -> Any:  # Flask's own send_file builds a WSGI response from the environ
        return flask.send_file(io.BytesIO(b"data"), mimetype="text/plain")

    @app.get("/probe")
    async def probe() -> dict[str, Any]:
        return {"has": hasattr(request, "environ"), "got": getattr(flask.request, "environ", None)}

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        await websocket.send(str(hasattr(websocket, "environ")))

    return app


async def test_flask_send_file_names_flask_and_says_why() -> None:
    app = make_app()
    app.testing = True  # the error reaches the test
    with pytest.raises(WSGIOnlyError) as raised:
        await app.test_client().get("/send-file")
    message = str(raised.value)
    assert re.match(r"Flask \(in flask\.helpers, line \d+\) uses `request\.environ`", message)
    assert "firkin serves ASGI" in message
    assert "`request.scope`" in message
    assert isinstance(raised.value, AttributeError)


async def test_probing_for_the_environ_finds_none() -> None:
    client = make_app().test_client()
    assert await (await client.get("/probe")).get_json() == {"has": False, "got": None}
    async with client.websocket("/ws") as ws:
        assert await ws.receive() == "False"


def test_wsgi_middleware_is_refused_with_what_to_do_instead() -> None:
    app = make_app()
    with pytest.raises(
        WSGIOnlyError, match=r"^Code in test_wsgi_only, line \d+ uses `app\.wsgi_app`"
    ) as raised:
        app.wsgi_app = ProxyFix(app.wsgi_app)
    assert "app.asgi_app = Middleware(app.asgi_app)" in str(raised.value)
    with pytest.raises(WSGIOnlyError, match=re.escape("`app.wsgi_app`")):
        app.wsgi_app = object()  # set without reading it first
    assert not hasattr(app, "wsgi_app")


def test_over_tapster_the_request_fails_and_the_connection_goes_on(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        assert client.get("/send-file").status_code == 500
        assert client.get("/probe").json() == {"has": False, "got": None}
