"""Flask-Limiter on firkin, unpatched: default and per-route limits on async and sync views, the
429 it answers past them with its rate-limit headers, and exemptions (in-memory storage)."""

from __future__ import annotations

import httpx
import pytest
from firkin import Firkin
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from conftest import ServeFactory

anyio = pytest.mark.anyio


def make_app() -> Firkin:
    app = Firkin(__name__)
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    limiter = Limiter(
        get_remote_address,
        app=app,  # type: ignore[arg-type]  # typed as flask.Flask; a Firkin app works the same
        default_limits=["3 per minute"],
        storage_uri="memory://",
    )

    @app.get("/")
    async def index() -> str:
        return "index"

    @app.get("/login")
    @limiter.limit("1 per minute")
    def login() -> str:  # a sync view, limited on its own
        return "login"

    @app.get("/health")
    @limiter.exempt
    async def health() -> str:
        return "ok"

    return app


@anyio
async def test_limits_and_exemptions() -> None:
    client = make_app().test_client()
    answers = [await client.get("/") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[2].headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" in answers[3].headers
    assert "3 per 1 minute" in await answers[3].get_data(as_text=True)
    assert [(await client.get("/login")).status_code for _ in range(2)] == [200, 429]
    assert [(await client.get("/health")).status_code for _ in range(5)] == [200] * 5


def test_flask_limiter_over_tapster(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        assert [client.get("/login").status_code for _ in range(2)] == [200, 429]
        assert client.get("/").status_code == 200
