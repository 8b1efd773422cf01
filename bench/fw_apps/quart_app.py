"""The benchmark app on Quart (async views): ``hypercorn bench.fw_apps.quart_app:app``."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Quart, Response, abort, g, jsonify, redirect, render_template, request, session

from bench.fw_apps import HELLO, JSON_BODY, SECRET_KEY, TEMPLATE_CONTEXT, TEMPLATES, user_body

app = Quart(__name__)


@app.get("/")
async def index() -> str:
    return HELLO


@app.get("/json")
async def json() -> dict[str, Any]:
    return JSON_BODY


@app.get("/user/<int:user_id>")
async def user(user_id: int) -> dict[str, Any]:
    return user_body(user_id)


# The idioms rows (bench/fw_apps/__init__.py).
app.template_folder = TEMPLATES
app.secret_key = SECRET_KEY


@app.get("/tuple")
async def as_tuple() -> tuple[str, int, dict[str, str]]:
    return HELLO, 200, {"Content-Type": "text/plain"}


@app.get("/response")
async def as_response() -> Response:
    return Response(HELLO, content_type="text/plain")


@app.get("/jsonify")
async def as_jsonify() -> Response:
    return jsonify(JSON_BODY)


@app.get("/template")
async def as_template() -> str:
    return await render_template("hello.html", **TEMPLATE_CONTEXT)


@app.get("/redirect")
async def as_redirect() -> Response:
    return redirect("/")  # type: ignore[return-value]


@app.get("/abort")
async def as_abort() -> str:
    abort(404)


@app.post("/form")
async def form() -> str:
    name: str = (await request.form)["name"]
    return name


@app.post("/echo")
async def echo() -> bytes:
    body: bytes = await request.get_data()  # type: ignore[assignment]
    return body


@app.post("/upload")
async def upload() -> str:
    return str(len((await request.files)["file"].read()))


sessions = Blueprint("sessions", __name__, url_prefix="/s")


@sessions.before_request
async def load_user() -> None:
    g.user = session.get("user", "anonymous")


@sessions.get("/session")
async def whoami() -> str:
    return f"Hello, {g.user}!"


app.register_blueprint(sessions)
