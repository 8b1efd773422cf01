"""The benchmark app on Quart (async views): ``hypercorn bench.fw_apps.quart_app:app``."""

from __future__ import annotations

from typing import Any

from quart import Quart

from bench.fw_apps import HELLO, JSON_BODY, user_body

app = Quart(__name__)


@app.get("/")
async def index() -> str:
    return HELLO


@app.get("/json")
async def json() -> dict[str, Any]:
    return JSON_BODY


@app.get("/user/<int:user_id>")
async def user(user_id: int) -> dict[str, Any]:
    return user_body(user_id)
