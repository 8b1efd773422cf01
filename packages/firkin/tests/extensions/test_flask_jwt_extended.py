"""Flask-JWT-Extended on firkin, unpatched: tokens made in a view, `jwt_required` around async and
sync views (its identity, its claims), and its JSON errors for a missing, a bad or an expired token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from firkin import Firkin, request
from flask_jwt_extended import JWTManager, create_access_token, get_jwt, get_jwt_identity, jwt_required

from conftest import ServeFactory

anyio = pytest.mark.anyio


def make_app() -> Firkin:
    app = Firkin(__name__)
    app.config["JWT_SECRET_KEY"] = "jwt-test-secret-that-is-long-enough"
    JWTManager(app)  # type: ignore[arg-type]  # typed as flask.Flask; a Firkin app works the same

    @app.post("/login")
    async def login() -> dict[str, str]:
        body = await request.get_json()
        expires = timedelta(seconds=body.get("ttl", 60))
        token = create_access_token(
            identity=body["user"], additional_claims={"role": "admin"}, expires_delta=expires
        )
        return {"token": token}

    @app.get("/me")
    @jwt_required()
    async def me() -> dict[str, Any]:
        return {"user": get_jwt_identity(), "role": get_jwt()["role"]}

    @app.get("/me-sync")
    @jwt_required()
    def me_sync() -> dict[str, Any]:
        return {"user": get_jwt_identity()}

    return app


async def token(client: Any, **body: Any) -> str:
    response = await client.post("/login", json={"user": "ada", **body})
    value: str = (await response.get_json())["token"]
    return value


@anyio
async def test_required_tokens() -> None:
    client = make_app().test_client()
    bearer = {"Authorization": f"Bearer {await token(client)}"}
    assert await (await client.get("/me", headers=bearer)).get_json() == {"user": "ada", "role": "admin"}
    assert await (await client.get("/me-sync", headers=bearer)).get_json() == {"user": "ada"}


@anyio
async def test_its_errors() -> None:
    client = make_app().test_client()
    missing = await client.get("/me")
    assert missing.status_code == 401
    assert await missing.get_json() == {"msg": "Missing Authorization Header"}
    bad = await client.get("/me", headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 422
    expired = await token(client, ttl=-1)
    response = await client.get("/me-sync", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert await response.get_json() == {"msg": "Token has expired"}


def test_flask_jwt_extended_over_tapster(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        value = client.post("/login", json={"user": "bob"}).json()["token"]
        assert client.get("/me", headers={"Authorization": f"Bearer {value}"}).json()["user"] == "bob"
        assert client.get("/me").status_code == 401
