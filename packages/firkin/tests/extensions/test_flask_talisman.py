"""Flask-Talisman on firkin, unpatched: its security headers on every response, a CSP with a
per-request nonce used in a template (`csp_nonce()`), a view's own frame options, and `force_https`
redirecting plain HTTP, with HSTS on HTTPS."""

from __future__ import annotations

import re

import httpx
import pytest
from firkin import Firkin, render_template_string
from flask_talisman import Talisman

from conftest import ServeFactory

anyio = pytest.mark.anyio


def make_app(force_https: bool = False) -> Firkin:
    app = Firkin(__name__)
    talisman = Talisman(
        app,
        force_https=force_https,
        content_security_policy={"default-src": "'self'", "script-src": "'self'"},
        content_security_policy_nonce_in=["script-src"],
    )

    @app.get("/")
    async def index() -> str:
        return await render_template_string("<script nonce='{{ csp_nonce() }}'>go()</script>")

    @app.get("/embed")
    @talisman(frame_options="DENY")
    def embed() -> str:
        return "embeddable"

    return app


@anyio
async def test_headers_and_the_nonce() -> None:
    client = make_app().test_client()
    response = await client.get("/")
    policy = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None
    assert await response.get_data(as_text=True) == f"<script nonce='{nonce.group(1)}'>go()</script>"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    again = (await client.get("/")).headers["Content-Security-Policy"]
    assert again != policy  # a new nonce per request
    embed = await client.get("/embed")
    assert embed.headers["X-Frame-Options"] == "DENY"


@anyio
async def test_force_https() -> None:
    client = make_app(force_https=True).test_client()
    response = await client.get("/?q=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://localhost/?q=1"
    secure = await client.get("/", scheme="https")
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"] == "max-age=31556926; includeSubDomains"


def test_flask_talisman_over_tapster(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        response = client.get("/")
        assert "nonce-" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
