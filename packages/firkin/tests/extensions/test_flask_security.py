"""Flask-Security-Too on firkin, unpatched: the extension that stacks Flask-Login, Flask-Principal and
Flask-WTF, with its own views and templates. A user in a Flask-SQLAlchemy datastore (SQLite file),
its login page and form (CSRF on), `auth_required` redirecting and then letting in, roles with
`roles_required`, its JSON login, and logout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from firkin import Firkin
from flask_security import (
    Security,
    SQLAlchemyUserDatastore,
    auth_required,
    current_user,
    roles_required,
)
from flask_security.models import fsqla_v3 as fsqla
from flask_sqlalchemy import SQLAlchemy

from conftest import ServeFactory

anyio = pytest.mark.anyio

db = SQLAlchemy()
fsqla.FsModels.set_db_info(db)  # type: ignore[attr-defined,no-untyped-call]


class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined]
    pass


class User(db.Model, fsqla.FsUserMixin):  # type: ignore[name-defined]
    pass


def make_app(database: Path) -> Firkin:
    app = Firkin(__name__)
    app.config.update(
        SECRET_KEY="security-test-" * 3,
        SECURITY_PASSWORD_SALT="salt",
        SECURITY_PASSWORD_HASH="pbkdf2_sha512",  # (argon2, the default, needs argon2-cffi)
        SECURITY_LOGOUT_METHODS=["GET", "POST"],
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}",
    )
    db.init_app(app)  # type: ignore[arg-type]  # typed as flask.Flask; a Firkin app works the same
    datastore = SQLAlchemyUserDatastore(db, User, Role)
    Security(app, datastore)  # type: ignore[arg-type]

    @app.get("/")
    @auth_required()
    async def home() -> str:
        return f"hello {current_user.email}"

    @app.get("/admin")
    @auth_required()
    @roles_required("admin")
    def admin() -> str:  # a sync view under its decorators
        return "admin area"

    with app.app_context():
        db.create_all()
        admin_role = datastore.find_or_create_role("admin")
        datastore.create_user(email="ada@example.com", password="correct horse", roles=[admin_role])
        datastore.create_user(email="bob@example.com", password="battery staple")
        db.session.commit()
    return app


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


async def log_in(client: Any, email: str, password: str) -> Any:
    page = await (await client.get("/login")).get_data(as_text=True)
    form = {"email": email, "password": password, "csrf_token": csrf_token(page)}
    return await client.post("/login", form=form)


@anyio
async def test_login_form_auth_required_and_roles(tmp_path: Path) -> None:
    client = make_app(tmp_path / "users.db").test_client()
    anonymous = await client.get("/")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/login?next=/"
    wrong = await log_in(client, "ada@example.com", "wrong")
    assert wrong.status_code == 200  # the form again, with the error
    assert "Invalid password" in await wrong.get_data(as_text=True)
    no_token = await client.post("/login", form={"email": "ada@example.com", "password": "correct horse"})
    assert "The CSRF token is missing." in await no_token.get_data(as_text=True)
    logged_in = await log_in(client, "ada@example.com", "correct horse")
    assert logged_in.status_code == 302
    assert await (await client.get("/")).get_data() == b"hello ada@example.com"
    assert await (await client.get("/admin")).get_data() == b"admin area"
    assert (await client.get("/logout")).status_code == 302
    assert (await client.get("/")).status_code == 302  # logged out


@anyio
async def test_a_user_without_the_role_and_the_json_api(tmp_path: Path) -> None:
    client = make_app(tmp_path / "users.db").test_client()
    await log_in(client, "bob@example.com", "battery staple")
    assert await (await client.get("/")).get_data() == b"hello bob@example.com"
    assert (await client.get("/admin")).status_code == 403
    api = make_app(tmp_path / "api.db").test_client()
    token_page = await (await api.get("/login", headers={"Accept": "application/json"})).get_json()
    token = token_page["response"]["csrf_token"]
    credentials = {"email": "ada@example.com", "password": "correct horse"}
    refused = await api.post("/login", json=credentials)
    assert refused.status_code == 400
    assert (await refused.get_json())["response"]["errors"] == ["The CSRF token is missing."]
    response = await api.post("/login", json={**credentials, "csrf_token": token})
    assert response.status_code == 200
    assert (await response.get_json())["meta"] == {"code": 200}
    assert await (await api.get("/")).get_data() == b"hello ada@example.com"  # its session cookie


def test_flask_security_over_tapster(tmp_path: Path, serve: ServeFactory) -> None:
    running = serve(make_app(tmp_path / "users.db"))
    with httpx.Client(base_url=running.url) as client:
        assert client.get("/").status_code == 302
        token = csrf_token(client.get("/login").text)
        response = client.post(
            "/login", data={"email": "ada@example.com", "password": "correct horse", "csrf_token": token}
        )
        assert response.status_code == 302
        assert client.get("/").text == "hello ada@example.com"
