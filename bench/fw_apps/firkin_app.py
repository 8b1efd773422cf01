"""The benchmark app on firkin (async views): ``tapster bench.fw_apps.firkin_app:app``."""

from __future__ import annotations

from typing import Any

from firkin import Firkin

from bench.fw_apps import HELLO, JSON_BODY, user_body

app = Firkin(__name__)


@app.get("/")
async def index() -> str:
    return HELLO


@app.get("/json")
async def json() -> dict[str, Any]:
    return JSON_BODY


@app.get("/user/<int:user_id>")
async def user(user_id: int) -> dict[str, Any]:
    return user_body(user_id)
