"""The benchmark app on Flask (plain views, WSGI): ``gunicorn bench.fw_apps.flask_app:app``."""

from __future__ import annotations

from typing import Any

from flask import Flask

from bench.fw_apps import HELLO, JSON_BODY, user_body

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return HELLO


@app.get("/json")
def json() -> dict[str, Any]:
    return JSON_BODY


@app.get("/user/<int:user_id>")
def user(user_id: int) -> dict[str, Any]:
    return user_body(user_id)
