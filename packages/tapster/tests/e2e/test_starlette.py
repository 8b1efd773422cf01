"""A real Starlette app served by tapster: routing, JSON, bodies, streaming, lifespan state."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from conftest import ServeFactory


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
    yield {"db": "connected"}


async def home(request: Request) -> Response:
    return PlainTextResponse("home")


async def user(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["user_id"], "db": request.state.db})


async def upload(request: Request) -> Response:
    form = await request.form()
    return JSONResponse({key: str(value) for key, value in form.items()})


async def echo_json(request: Request) -> Response:
    return JSONResponse(await request.json())


async def stream(request: Request) -> Response:
    async def numbers() -> AsyncIterator[bytes]:
        for i in range(100):
            yield b"%d\n" % i

    return StreamingResponse(numbers(), media_type="text/plain")


app = Starlette(
    routes=[
        Route("/", home),
        Route("/users/{user_id:int}", user),
        Route("/form", upload, methods=["POST"]),
        Route("/json", echo_json, methods=["POST"]),
        Route("/stream", stream),
    ],
    lifespan=lifespan,
)


def test_starlette_app(serve: ServeFactory) -> None:
    running = serve(app)
    with httpx.Client(base_url=running.url) as client:
        assert client.get("/").text == "home"
        assert client.get("/users/42").json() == {"id": 42, "db": "connected"}
        assert client.get("/users/nope").status_code == 404
        assert client.post("/form", data={"name": "tap", "kind": "ster"}).json() == {
            "name": "tap",
            "kind": "ster",
        }
        assert client.post("/json", json={"a": [1, 2, 3]}).json() == {"a": [1, 2, 3]}
        assert client.get("/stream").text == "".join(f"{i}\n" for i in range(100))
        assert client.delete("/").status_code == 405
