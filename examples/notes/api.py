"""The JSON API under /api and the live feed (a websocket).

Authentication is the session cookie the pages use (log in with `POST /api/login` or on the page);
CSRFProtect wants the X-CSRFToken header (from `GET /api/csrf`) on every call that changes
something. The JSON views are plain `def` views, as in Flask: firkin runs them in a worker thread,
where they call the database directly. Errors are JSON: `{"error": ..., "message": ...}`."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any, ClassVar, NoReturn

from firkin import Blueprint, Response, abort, current_app, jsonify, request, session, url_for, websocket
from firkin.views import MethodView
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, HTTPException, MethodNotAllowed, Unauthorized

from .auth import authenticate
from .database import Note, get_database, run
from .forms import LoginForm, NoteForm
from .live import get_feed
from .notes import note_json, page_number, positive_int

__all__ = ["api", "json_error"]

api = Blueprint("api", __name__)

LOG_IN_FIRST = (
    'Log in first: POST /api/login with {"username": "...", "password": "..."} and the X-CSRFToken '
    "header from GET /api/csrf (or log in on the page)."
)


def json_error(error: HTTPException) -> Response:
    """`{"error": ..., "message": ...}` with the error's status (and `Allow` for a 405)."""
    message = error.description
    if isinstance(error, Unauthorized) and message == Unauthorized.description:
        message = LOG_IN_FIRST  # Flask-Login's 401 for an anonymous request
    payload: dict[str, Any] = {"error": error.name, "message": message}
    if isinstance(error, InvalidInput):
        payload["fields"] = error.fields
    response = jsonify(payload)
    response.status_code = error.code or 500
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


@api.errorhandler(HTTPException)
async def handle_http_error(error: HTTPException) -> Response:
    return json_error(error)


class InvalidInput(BadRequest):
    """A 400 that says what is wrong with each field, as `"fields": {"title": ["..."]}`."""

    def __init__(self, form: FlaskForm) -> None:
        self.fields: dict[str, list[str]] = form.errors
        messages = [message for errors in self.fields.values() for message in errors]
        super().__init__(" ".join(messages))


def fill(form_class: type[FlaskForm], what: str) -> Any:
    """The JSON body checked by the form the page uses (its CSRF check off: CSRFProtect has checked
    the header for the whole request)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description=f"Send a JSON object: {what}.")
    if not all(isinstance(value, str) for value in data.values()):
        abort(400, description=f"Every field is a string: {what}.")
    form = form_class(formdata=MultiDict(data), meta={"csrf": False})
    if not form.validate():
        raise InvalidInput(form)
    return form


def no_such_note(note_id: int) -> NoReturn:
    # Someone else's note is as absent as one that never was: its id tells nothing.
    abort(404, description=f"You have no note {note_id}.")


# ----------------------------------------------------------------------------------------- session


@api.get("/csrf")
def csrf_token() -> dict[str, str]:
    """The token to send as X-CSRFToken (it is tied to the session cookie this response sets)."""
    token: str = generate_csrf()
    return {"csrf_token": token}


@api.post("/login")
def login() -> dict[str, Any]:
    form = fill(LoginForm, '{"username": "...", "password": "..."}')
    method = current_app.config["NOTES_PASSWORD_METHOD"]
    user = authenticate(get_database(), form.username.data, form.password.data, method)
    if user is None:
        abort(401, description="Wrong user name or password.")
    login_user(user)
    return {"user": {"id": user.id, "username": user.username}}


@api.post("/logout")
@login_required
def logout() -> tuple[str, int]:
    logout_user()
    return "", 204


# ------------------------------------------------------------------------------------------- notes


@api.get("/notes")
@login_required
def list_notes() -> dict[str, Any]:
    """Your notes, newest first, a page at a time: `?page=` (from 1), `?per_page=` (at most
    NOTES_MAX_PER_PAGE)."""
    config = current_app.config
    per_page = positive_int(request.args, "per_page", config["NOTES_PER_PAGE"], config["NOTES_MAX_PER_PAGE"])
    page = page_number(request.args)
    notes, total = get_database().notes_page(current_user.id, page, per_page)
    more = page * per_page < total
    return {
        "notes": [note_json(note) for note in notes],
        "page": page,
        "per_page": per_page,
        "total": total,
        "next": url_for("api.list_notes", page=page + 1, per_page=per_page) if more else None,
    }


NOTE_FIELDS = '{"title": "...", "body": "..."}'


@api.post("/notes")
@login_required
def create_note() -> tuple[dict[str, Any], int, dict[str, str]]:
    form = fill(NoteForm, NOTE_FIELDS)
    note = get_database().add_note(current_user.id, form.title.data, form.body.data)
    get_feed().publish_from_thread(note.user_id, {"type": "created", "note": note_json(note)})
    return note_json(note), 201, {"Location": url_for("api.note", note_id=note.id)}


class NoteView(MethodView):
    """One of your notes: GET it, PUT a new title and body, DELETE it."""

    decorators: ClassVar[list[Any]] = [login_required]

    def get(self, note_id: int) -> dict[str, Any]:
        note = get_database().note(current_user.id, note_id)
        if note is None:
            no_such_note(note_id)
        return note_json(note)

    def put(self, note_id: int) -> dict[str, Any]:
        form = fill(NoteForm, NOTE_FIELDS)
        note = get_database().update_note(current_user.id, note_id, form.title.data, form.body.data)
        if note is None:
            no_such_note(note_id)
        get_feed().publish_from_thread(note.user_id, {"type": "updated", "note": note_json(note)})
        return note_json(note)

    def delete(self, note_id: int) -> tuple[str, int]:
        if not get_database().delete_note(current_user.id, note_id):
            no_such_note(note_id)
        get_feed().publish_from_thread(current_user.id, {"type": "deleted", "id": note_id})
        return "", 204


api.add_url_rule("/notes/<int:note_id>", view_func=NoteView.as_view("note"))


@api.get("/notes/export")
@login_required
async def export_notes() -> Response:
    """Your notes as CSV, oldest first, made a batch of rows at a time (NOTES_EXPORT_BATCH, each
    batch one query in a worker thread) while the response is sent: memory stays flat however many
    notes there are."""
    database, user_id = get_database(), current_user.id
    batch = current_app.config["NOTES_EXPORT_BATCH"]

    async def rows() -> AsyncIterator[str]:
        yield _csv_line(["id", "title", "body", "created", "updated"])
        after = 0
        while notes := await run(database.notes_after, user_id, after, batch):
            yield "".join(_csv_line(_csv_fields(note)) for note in notes)
            after = notes[-1].id

    response = Response(rows(), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=notes.csv"
    return response


def _csv_fields(note: Note) -> list[str]:
    return [str(note.id), note.title, note.body, note.created_at.isoformat(), note.updated_at.isoformat()]


def _csv_line(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(fields)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------- live feed


@api.websocket("/live")
async def live() -> None:
    """What changes in your notes, as it happens: `{"type": "ready", "user": ...}` once subscribed,
    then `{"type": "created" | "updated", "note": {...}}` and `{"type": "deleted", "id": ...}` for
    every change made in any of your windows (or through the API). The feed only sends."""
    if not same_origin():
        # A page on another site may open a websocket here, and the browser sends it our cookie
        # (Cross-Site WebSocket Hijacking): only pages of this site may read the feed.
        abort(403, description="The live feed is for this site's own pages.")
    user_id = session.get("_user_id")  # where Flask-Login keeps who is logged in
    record = None
    if isinstance(user_id, str) and user_id.isdigit():
        record = await run(get_database().user_by_id, int(user_id))
    if record is None:
        abort(401)
    feed = get_feed()
    if feed.count(record.id) >= feed.max_per_user:
        abort(429, description=f"You have {feed.max_per_user} live feeds open already: close one.")
    with feed.subscribe(record.id) as events:
        await websocket.accept()
        await websocket.send_json({"type": "ready", "user": record.username})
        async for event in events:
            await websocket.send_json(event)
    # The feed dropped us: we fell NOTES_LIVE_QUEUE events behind. 1013 "try again later"
    # (RFC 6455 §7.4.1, the IANA registry): the page reconnects and reloads.
    await websocket.close(1013, "too far behind")


def same_origin() -> bool:
    """Whether the handshake comes from one of this site's pages, or from no page at all (browsers
    always send Origin; a client without one has the cookie only if its user gave it)."""
    origin = websocket.headers.get("Origin")
    if origin is None:
        return True
    scheme = "https" if websocket.scheme == "wss" else "http"
    return origin == f"{scheme}://{websocket.host}"
