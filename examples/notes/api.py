"""The JSON API under /api: notes as JSON, errors as JSON, a CSV export streamed as it is made, and a
live feed of new notes over a websocket."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

from firkin import Blueprint, Response, abort, g, jsonify, request, url_for, websocket
from firkin.ctx import stream_with_context
from firkin.views import MethodView
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .store import Note, get_store
from .validation import validate_note

__all__ = ["api", "json_error"]

api = Blueprint("api", __name__)


def json_error(error: HTTPException) -> Response:
    """`{"error": ..., "message": ...}` with the error's status (and `Allow` for a 405)."""
    response = jsonify(error=error.name, message=error.description)
    response.status_code = error.code or 500
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


@api.errorhandler(HTTPException)
async def handle_http_error(error: HTTPException) -> Response:
    return json_error(error)


def require_user() -> str:
    if g.user is None:
        abort(401, description="Log in first: POST /login with a username.")
    user: str = g.user
    return user


async def note_from_request() -> tuple[str, str]:
    """The title and body of the JSON body, checked; a 400 saying what is wrong otherwise."""
    data = await request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description='Send a JSON object: {"title": "...", "body": "..."}.')
    title, body = data.get("title"), data.get("body", "")
    if not isinstance(title, str) or not isinstance(body, str):
        abort(400, description='"title" (required) and "body" must be strings.')
    errors = validate_note(title.strip(), body.strip())
    if errors:
        abort(400, description=" ".join(errors))
    return title.strip(), body.strip()


def note_json(note: Note) -> dict[str, Any]:
    return {**note.to_json(), "url": url_for("api.note", note_id=note.id)}


@api.get("/notes")
async def list_notes() -> dict[str, Any]:
    return {"notes": [note_json(note) for note in await get_store().all()]}


@api.post("/notes")
async def create_note() -> tuple[dict[str, Any], int, dict[str, str]]:
    author = require_user()
    title, body = await note_from_request()
    note = await get_store().add(title, body, author)
    return note_json(note), 201, {"Location": url_for("api.note", note_id=note.id)}


@api.get("/notes/export")
async def export_notes() -> Response:
    """The notes as CSV, made row by row while the response is sent. `?mine=1`: only yours."""

    @stream_with_context
    async def rows() -> AsyncIterator[str]:
        # Runs after the view has returned: stream_with_context keeps `request` and `g` usable.
        only = g.user if request.args.get("mine") == "1" else None
        yield _csv_line(["id", "title", "author"])
        for note in await get_store().all():
            if only is None or note.author == only:
                yield _csv_line([str(note.id), note.title, note.author])

    response = Response(rows(), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=notes.csv"
    return response


def _csv_line(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(fields)
    return buffer.getvalue()


class NoteView(MethodView):
    """One note: GET it, PUT a new title and body (the author's only), DELETE it (the author's only)."""

    async def get(self, note_id: int) -> dict[str, Any]:
        note = await get_store().get(note_id)
        if note is None:
            abort(404, description=f"There is no note {note_id}.")
        return note_json(note)

    async def put(self, note_id: int) -> dict[str, Any]:
        await self._own(note_id)
        title, body = await note_from_request()
        note = await get_store().replace(note_id, title, body)
        if note is None:  # deleted meanwhile
            abort(404, description=f"There is no note {note_id}.")
        return note_json(note)

    async def delete(self, note_id: int) -> tuple[str, int]:
        await self._own(note_id)
        await get_store().delete(note_id)
        return "", 204

    async def _own(self, note_id: int) -> Note:
        user = require_user()
        note = await get_store().get(note_id)
        if note is None:
            abort(404, description=f"There is no note {note_id}.")
        if note.author != user:
            abort(403, description="Only the author may change or delete a note.")
        return note


api.add_url_rule("/notes/<int:note_id>", view_func=NoteView.as_view("note"))


@api.websocket("/live")
async def live() -> None:
    """The live feed: `{"notes": <count>}` on connecting, then `{"note": {...}}` for each note added
    while connected. The feed only sends; when the client leaves, firkin ends this handler."""
    store = get_store()
    with store.subscribe() as added:
        await websocket.send_json({"notes": await store.count()})
        async for note in added:
            await websocket.send_json({"note": note_json(note)})
    # The store dropped us: we fell too far behind. 1013 "try again later" (RFC 6455 §7.4.1, IANA).
    await websocket.close(1013, "too far behind")
