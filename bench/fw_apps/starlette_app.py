"""The benchmark app on Starlette (async endpoints): ``uvicorn bench.fw_apps.starlette_app:app``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from bench.fw_apps import HELLO, JSON_BODY, user_body


async def index(request: Request) -> PlainTextResponse:
    return PlainTextResponse(HELLO)


async def json(request: Request) -> JSONResponse:
    return JSONResponse(JSON_BODY)


async def user(request: Request) -> JSONResponse:
    return JSONResponse(user_body(request.path_params["user_id"]))


app = Starlette(
    routes=[
        Route("/", index, methods=["GET"]),
        Route("/json", json, methods=["GET"]),
        Route("/user/{user_id:int}", user, methods=["GET"]),
    ]
)
