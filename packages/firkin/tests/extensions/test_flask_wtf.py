"""Flask-WTF on firkin, unpatched: a form with its CSRF token (rendered, checked on submit), a file
upload, and CSRF on a JSON API (the token in a header)."""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
import pytest
from firkin import Firkin, render_template_string, request
from flask_wtf import CSRFProtect, FlaskForm
from flask_wtf.csrf import CSRFError, generate_csrf
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import StringField
from wtforms.validators import DataRequired

from conftest import ServeFactory

anyio = pytest.mark.anyio


class NameForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired()])


class UploadForm(FlaskForm):
    upload = FileField("File", validators=[FileRequired(), FileAllowed(["txt"], "text files only")])


PAGE = '<form method="post">{{ form.csrf_token }}{{ form.name }}</form>{{ form.name.errors|join(",") }}'


def make_app() -> Firkin:
    app = Firkin(__name__)
    app.config.update(SECRET_KEY="wtf secret")
    CSRFProtect(app)

    @app.errorhandler(CSRFError)
    async def csrf_error(error: CSRFError) -> Any:
        return {"csrf": error.description}, 400

    @app.route("/name", methods=["GET", "POST"])
    async def name() -> Any:
        # Built in an async view: CSRFProtect's hook has read the body already (in a worker thread),
        # so the form finds request.form without waiting.
        form = NameForm()
        if form.validate_on_submit():
            return f"hello {form.name.data}"
        return await render_template_string(PAGE, form=form)

    @app.post("/upload")
    def upload() -> Any:  # a sync view: reads the body in a worker thread
        form = UploadForm()
        if not form.validate_on_submit():
            return {"errors": form.errors}, 422
        return {"name": form.upload.data.filename, "size": len(form.upload.data.read())}

    @app.get("/token")
    def token() -> str:
        token: str = generate_csrf()
        return token

    @app.post("/api/notes")
    async def api() -> Any:
        return {"note": await request.get_json()}, 201

    return app


def token_in(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


@anyio
async def test_form_with_csrf_on_submit() -> None:
    client = make_app().test_client()
    page = await (await client.get("/name")).get_data(as_text=True)
    token = token_in(page)

    refused = await client.post("/name", form={"name": "ada"})
    assert refused.status_code == 400
    assert await refused.get_json() == {"csrf": "The CSRF token is missing."}
    forged = await client.post("/name", form={"name": "ada", "csrf_token": "forged"})
    assert await forged.get_json() == {"csrf": "The CSRF token is invalid."}

    invalid = await client.post("/name", form={"name": "", "csrf_token": token})
    assert "This field is required." in await invalid.get_data(as_text=True)
    accepted = await client.post("/name", form={"name": "ada", "csrf_token": token})
    assert await accepted.get_data(as_text=True) == "hello ada"


@anyio
async def test_file_upload() -> None:
    client = make_app().test_client()
    token = await (await client.get("/token")).get_data(as_text=True)
    response = await client.post(
        "/upload", form={"csrf_token": token}, files={"upload": (io.BytesIO(b"twelve bytes"), "notes.txt")}
    )
    assert await response.get_json() == {"name": "notes.txt", "size": 12}
    response = await client.post(
        "/upload", form={"csrf_token": token}, files={"upload": (io.BytesIO(b"MZ"), "tool.exe")}
    )
    assert response.status_code == 422
    assert await response.get_json() == {"errors": {"upload": ["text files only"]}}
    response = await client.post("/upload", form={"csrf_token": token})
    assert await response.get_json() == {"errors": {"upload": ["This field is required."]}}


@anyio
async def test_csrf_on_a_json_api() -> None:
    client = make_app().test_client()
    token = await (await client.get("/token")).get_data(as_text=True)
    refused = await client.post("/api/notes", json={"text": "hi"})
    assert (refused.status_code, await refused.get_json()) == (400, {"csrf": "The CSRF token is missing."})
    accepted = await client.post("/api/notes", json={"text": "hi"}, headers={"X-CSRFToken": token})
    assert (accepted.status_code, await accepted.get_json()) == (201, {"note": {"text": "hi"}})


def test_flask_wtf_over_tapster(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        token = token_in(client.get("/name").text)
        assert client.post("/name", data={"name": "ada"}).status_code == 400
        assert client.post("/name", data={"name": "ada", "csrf_token": token}).text == "hello ada"
        response = client.post(
            "/upload", data={"csrf_token": token}, files={"upload": ("a.txt", b"over a socket")}
        )
        assert response.json() == {"name": "a.txt", "size": 13}
        response = client.post("/api/notes", json=[1], headers={"X-CSRFToken": token})
        assert (response.status_code, response.json()) == (201, {"note": [1]})
