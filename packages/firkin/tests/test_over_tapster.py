"""A firkin app served by tapster over a real socket, on every loop, with httpx as the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from firkin import Blueprint, Firkin, g, request, session
from firkin.ctx import stream_with_context

from conftest import ServeFactory


def make_app() -> Firkin:
    app = Firkin(__name__)
    app.secret_key = "over-tapster"
    api = Blueprint("api", __name__, url_prefix="/api")
    started: list[str] = []

    @app.before_serving
    async def startup() -> None:
        started.append("yes")

    @app.get("/")
    async def index() -> str:
        return "home"

    @app.get("/started")
    async def was_started() -> dict[str, Any]:
        return {"started": started}

    @api.post("/echo")
    async def echo() -> dict[str, Any]:
        return {"json": await request.get_json(), "args": request.args.to_dict()}

    @api.get("/count")
    async def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.get("/sync")
    def sync_view() -> str:
        return f"sync {request.args.get('x', '')}"

    @app.get("/stream")
    async def stream() -> Any:
        g.tail = "end"

        @stream_with_context
        async def body() -> AsyncIterator[str]:
            for i in range(3):
                yield f"{i},"
            yield g.tail

        return body()

    app.register_blueprint(api)
    return app


def test_firkin_app_on_tapster(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        assert client.get("/").text == "home"
        assert client.get("/started").json() == {"started": ["yes"]}
        assert client.post("/api/echo?q=1", json={"a": [1, 2]}).json() == {
            "json": {"a": [1, 2]},
            "args": {"q": "1"},
        }
        assert [client.get("/api/count").text for _ in range(3)] == ["1", "2", "3"]
        assert client.get("/sync?x=thread").text == "sync thread"
        streamed = client.get("/stream")
        assert streamed.headers["transfer-encoding"] == "chunked"
        assert streamed.text == "0,1,2,end"
        assert client.get("/missing").status_code == 404
        assert client.post("/").status_code == 405
        head = client.head("/")
        assert head.status_code == 200
        assert head.content == b""
