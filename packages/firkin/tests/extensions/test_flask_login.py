"""Flask-Login on firkin, unpatched: logging in, `login_required` (around an async view and a sync
one), the remember-me cookie, `current_user` in a template, Flask-Login's own signals."""

from __future__ import annotations

from typing import Any

import flask
import httpx
import pytest
from firkin import Firkin, redirect, render_template_string, request, url_for
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
    user_logged_in,
)

from conftest import ServeFactory

USERS = {"ada": "lovelace", "alan": "turing"}


class User(UserMixin):
    def __init__(self, name: str) -> None:
        self.id = name


def make_app() -> Firkin:
    app = Firkin(__name__)
    app.config.update(SECRET_KEY="login secret", TESTING=True)
    login_manager = LoginManager()
    login_manager.login_view = "login"
    login_manager.init_app(app)

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return User(user_id) if user_id in USERS else None

    @app.route("/login", methods=["GET", "POST"])
    async def login() -> Any:
        if request.method == "GET":
            return f"please log in to reach {request.args.get('next')}"
        form = await request.form
        name = form["name"]
        if USERS.get(name) != form["password"]:
            return "wrong password", 401
        login_user(User(name), remember=form.get("remember") == "yes")
        return redirect(url_for("home"))

    @app.get("/logout")
    def logout() -> Any:  # a sync view: Flask-Login from a worker thread
        logout_user()
        return redirect(url_for("login"))

    @app.get("/")
    @login_required
    async def home() -> str:
        return await render_template_string(
            "{% if current_user.is_authenticated %}hello {{ current_user.id }}{% endif %}"
        )

    @app.get("/sync-secret")
    @login_required
    def sync_secret() -> str:
        return f"secret of {current_user.id}"

    return app


@pytest.mark.anyio
async def test_login_required_redirects_to_the_login_view() -> None:
    client = make_app().test_client()
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2F"
    response = await client.get("/", follow_redirects=True)
    assert await response.get_data(as_text=True) == "please log in to reach /"


@pytest.mark.anyio
async def test_login_then_current_user_in_a_template_and_a_sync_view() -> None:
    app = make_app()
    client = app.test_client()
    logged_in: list[str] = []

    def on_login(sender: Any, user: User) -> None:
        logged_in.append(f"{sender.name}:{user.id}")

    with user_logged_in.connected_to(on_login):
        response = await client.post("/login", form={"name": "ada", "password": "wrong"})
        assert response.status_code == 401
        response = await client.post("/login", form={"name": "ada", "password": "lovelace"})
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    assert logged_in == [f"{app.name}:ada"]
    assert await (await client.get("/")).get_data(as_text=True) == "hello ada"
    assert await (await client.get("/sync-secret")).get_data(as_text=True) == "secret of ada"
    response = await client.get("/logout")
    assert response.status_code == 302
    assert (await client.get("/")).status_code == 302


@pytest.mark.anyio
async def test_remember_me_cookie_logs_in_a_new_session() -> None:
    client = make_app().test_client()
    response = await client.post("/login", form={"name": "alan", "password": "turing", "remember": "yes"})
    assert "remember_token=" in ",".join(response.headers.getlist("Set-Cookie"))
    client.delete_cookie("session")  # the browser was closed: only the remember cookie is left
    response = await client.get("/")
    assert await response.get_data(as_text=True) == "hello alan"

    forgetful = make_app().test_client()
    await forgetful.post("/login", form={"name": "alan", "password": "turing"})
    forgetful.delete_cookie("session")
    assert (await forgetful.get("/")).status_code == 302


def test_current_user_outside_a_request_is_none() -> None:
    app = make_app()
    with app.app_context():
        assert flask.current_app.login_manager is not None  # type: ignore[attr-defined]
        assert current_user is not None  # Flask-Login gives None outside a request
        assert current_user._get_current_object() is None


def test_flask_login_over_tapster(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        response = client.get("/")
        assert (response.status_code, response.headers["location"]) == (302, "/login?next=%2F")
        response = client.post("/login", data={"name": "ada", "password": "lovelace", "remember": "yes"})
        assert response.status_code == 302
        assert client.get("/").text == "hello ada"
        client.cookies.delete("session")
        assert client.get("/sync-secret").text == "secret of ada"  # from the remember-me cookie
