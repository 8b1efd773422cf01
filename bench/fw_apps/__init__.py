"""The same small app in four frameworks, for bench/frameworks.py and bench/inprocess.py.

Every app has three routes: ``GET /`` the text ``Hello, world!``, ``GET /json`` a small JSON object
(``JSON_BODY``) and ``GET /user/<int:id>`` a JSON object with the id (``user_body(id)``). Each is written
the way that framework's documentation writes it: Flask, Quart and firkin return a str and dicts,
Starlette returns ``PlainTextResponse`` and ``JSONResponse``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HELLO", "JSON_BODY", "user_body"]

HELLO = "Hello, world!"
JSON_BODY: dict[str, Any] = {"message": "Hello, world!", "id": 1, "ok": True}


def user_body(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "name": f"user {user_id}"}
