"""Flask-CORS on firkin, unpatched: preflight and simple requests, error responses (Flask-CORS wraps
the app's exception handlers), and the `cross_origin` decorator around an async view."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from firkin import Firkin, abort, request
from flask_cors import CORS, cross_origin

from conftest import ServeFactory

ORIGIN = "https://app.example"


def make_app() -> Firkin:
    app = Firkin(__name__)
    # Flask-CORS types its argument as flask.Flask; a Firkin app is not one, though it works the same.
    CORS(app, resources={r"/api/*": {"origins": [ORIGIN], "supports_credentials": True}})  # type: ignore[arg-type]

    @app.route("/api/items", methods=["GET", "POST"])
    async def items() -> Any:
        if request.method == "POST":
            return {"created": await request.get_json()}, 201
        return {"items": [1, 2]}

    @app.get("/api/teapot")
    async def teapot() -> Any:
        abort(418)

    @app.get("/private")
    async def private() -> str:
        return "no CORS here"

    @app.get("/open")
    @cross_origin(origins="*")
    async def open_view() -> str:
        return "anyone"

    return app


def preflight_headers(method: str = "POST") -> dict[str, str]:
    return {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "Content-Type",
    }


anyio = pytest.mark.anyio


@anyio
async def test_preflight() -> None:
    client = make_app().test_client()
    response = await client.options("/api/items", headers=preflight_headers())
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"].lower() == "content-type"


@anyio
async def test_simple_requests() -> None:
    client = make_app().test_client()
    response = await client.get("/api/items", headers={"Origin": ORIGIN})
    assert await response.get_json() == {"items": [1, 2]}
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    response = await client.post("/api/items", json={"a": 1}, headers={"Origin": ORIGIN})
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN

    other = await client.get("/api/items", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    outside = await client.get("/private", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in outside.headers


@anyio
async def test_error_responses_carry_the_cors_headers() -> None:
    client = make_app().test_client()
    response = await client.get("/api/teapot", headers={"Origin": ORIGIN})
    assert response.status_code == 418
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    response = await client.get("/api/missing", headers={"Origin": ORIGIN})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


@anyio
async def test_cross_origin_decorator_around_an_async_view() -> None:
    client = make_app().test_client()
    response = await client.get("/open", headers={"Origin": "https://anywhere.example"})
    assert await response.get_data(as_text=True) == "anyone"
    # Any origin is allowed, and Flask-CORS answers with the one asking (send_wildcard is off).
    assert response.headers["Access-Control-Allow-Origin"] == "https://anywhere.example"
    response = await client.options(
        "/open", headers=preflight_headers("GET") | {"Origin": "https://x.example"}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://x.example"


def test_flask_cors_over_tapster(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        response = client.options("/api/items", headers=preflight_headers())
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ORIGIN
        response = client.post("/api/items", json=[1], headers={"Origin": ORIGIN})
        assert response.json() == {"created": [1]}
        assert response.headers["access-control-allow-origin"] == ORIGIN
        response = client.get("/api/missing", headers={"Origin": ORIGIN})
        assert response.status_code == 404
        assert response.headers["access-control-allow-origin"] == ORIGIN
