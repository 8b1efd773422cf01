"""The benchmark app on Starlette (async endpoints): ``uvicorn bench.fw_apps.starlette_app:app``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.templating import Jinja2Templates

from bench.fw_apps import HELLO, JSON_BODY, SECRET_KEY, TEMPLATE_CONTEXT, TEMPLATES, user_body


async def index(request: Request) -> PlainTextResponse:
    return PlainTextResponse(HELLO)


async def json(request: Request) -> JSONResponse:
    return JSONResponse(JSON_BODY)


async def user(request: Request) -> JSONResponse:
    return JSONResponse(user_body(request.path_params["user_id"]))


# The idioms rows (bench/fw_apps/__init__.py), as Starlette's documentation writes them.
templates = Jinja2Templates(directory=TEMPLATES)


async def as_tuple(request: Request) -> Response:
    return Response(HELLO, 200, {"Content-Type": "text/plain"})


async def as_response(request: Request) -> PlainTextResponse:
    return PlainTextResponse(HELLO)


async def as_template(request: Request) -> Response:
    return templates.TemplateResponse(request, "hello.html", TEMPLATE_CONTEXT)


async def as_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("/", status_code=302)


async def as_abort(request: Request) -> Response:
    raise HTTPException(status_code=404)


async def form(request: Request) -> PlainTextResponse:
    async with request.form() as data:
        name = data["name"]
    assert isinstance(name, str)
    return PlainTextResponse(name)


async def echo(request: Request) -> Response:
    return Response(await request.body())


async def upload(request: Request) -> PlainTextResponse:
    async with request.form() as data:
        file = data["file"]
        assert not isinstance(file, str)
        size = len(await file.read())
    return PlainTextResponse(str(size))


async def whoami(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"Hello, {request.session.get('user', 'anonymous')}!")


# The session only where it is read, as the other apps' blueprint hook reads it only there.
sessions = Starlette(
    routes=[Route("/session", whoami)], middleware=[Middleware(SessionMiddleware, secret_key=SECRET_KEY)]
)

app = Starlette(
    routes=[
        Route("/", index, methods=["GET"]),
        Route("/json", json, methods=["GET"]),
        Route("/user/{user_id:int}", user, methods=["GET"]),
        Route("/tuple", as_tuple, methods=["GET"]),
        Route("/response", as_response, methods=["GET"]),
        Route("/jsonify", json, methods=["GET"]),
        Route("/template", as_template, methods=["GET"]),
        Route("/redirect", as_redirect, methods=["GET"]),
        Route("/abort", as_abort, methods=["GET"]),
        Route("/form", form, methods=["POST"]),
        Route("/echo", echo, methods=["POST"]),
        Route("/upload", upload, methods=["POST"]),
        Mount("/s", app=sessions),
    ]
)
