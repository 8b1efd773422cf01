"""The first requests through the test client, on both loops."""

from __future__ import annotations

import pytest
from firkin import Firkin, request

pytestmark = pytest.mark.anyio


async def test_hello_and_json() -> None:
    app = Firkin(__name__)

    @app.get("/")
    async def index() -> str:
        return "hello"

    @app.post("/echo")
    async def echo() -> tuple[dict[str, object], int]:
        return {"got": await request.get_json()}, 201

    client = app.test_client()
    response = await client.get("/")
    assert response.status_code == 200
    assert await response.get_data() == b"hello"
    response = await client.post("/echo", json={"a": 1})
    assert response.status_code == 201
    assert await response.get_json() == {"got": {"a": 1}}
