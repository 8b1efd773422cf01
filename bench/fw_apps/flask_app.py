"""The benchmark app on Flask (plain views, WSGI): ``gunicorn bench.fw_apps.flask_app:app``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, g, jsonify, redirect, render_template, request, session

from bench.fw_apps import HELLO, JSON_BODY, SECRET_KEY, TEMPLATE_CONTEXT, TEMPLATES, user_body

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


# The idioms rows (bench/fw_apps/__init__.py).
app.template_folder = TEMPLATES
app.secret_key = SECRET_KEY


@app.get("/tuple")
def as_tuple() -> tuple[str, int, dict[str, str]]:
    return HELLO, 200, {"Content-Type": "text/plain"}


@app.get("/response")
def as_response() -> Response:
    return Response(HELLO, content_type="text/plain")


@app.get("/jsonify")
def as_jsonify() -> Response:
    return jsonify(JSON_BODY)


@app.get("/template")
def as_template() -> str:
    return render_template("hello.html", **TEMPLATE_CONTEXT)


@app.get("/redirect")
def as_redirect() -> Response:
    return redirect("/")  # type: ignore[return-value]


@app.get("/abort")
def as_abort() -> str:
    abort(404)


@app.post("/form")
def form() -> str:
    return request.form["name"]


@app.post("/echo")
def echo() -> bytes:
    return request.get_data()


@app.post("/upload")
def upload() -> str:
    return str(len(request.files["file"].read()))


sessions = Blueprint("sessions", __name__, url_prefix="/s")


@sessions.before_request
def load_user() -> None:
    g.user = session.get("user", "anonymous")


@sessions.get("/session")
def whoami() -> str:
    return f"Hello, {g.user}!"


app.register_blueprint(sessions)
