"""The HTML pages: sign up, log in and out, your notes (a page at a time, kept up to date live by
static/notes.js), the form to add a note, a button to delete one.

These views are `async def` (they await templates and forms) and reach the database through
`await run(...)`, which runs the blocking query in a worker thread. Flask-Login's `login_required`
works around them unchanged."""

from __future__ import annotations

import math
from typing import TypeVar
from urllib.parse import urlsplit

from firkin import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm

from .auth import User, authenticate, hash_password
from .database import get_database, run
from .forms import LoginForm, NoteForm, SignupForm
from .live import get_feed
from .notes import note_json, page_number

__all__ = ["web"]

F = TypeVar("F", bound=FlaskForm)

web = Blueprint("web", __name__)


@web.get("/")
@login_required
async def index() -> str:
    per_page = current_app.config["NOTES_PER_PAGE"]
    page = page_number(request.args)
    notes, total = await run(get_database().notes_page, current_user.id, page, per_page)
    pages = max(1, math.ceil(total / per_page))
    return await render_template("index.html", notes=notes, page=page, pages=pages, total=total)


@web.route("/signup", methods=["GET", "POST"])
async def signup() -> str | Response | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for("web.index"))
    form = await load_form(SignupForm)
    if form.validate_on_submit():
        method = current_app.config["NOTES_PASSWORD_METHOD"]
        password_hash = await run(hash_password, form.password.data, method)
        record = await run(get_database().add_user, form.username.data, password_hash)
        if record is not None:
            flash(f"Welcome, {record.username}: your account is ready. Log in.", "success")
            return redirect(url_for("web.login"))
        form.username.errors.append("That user name is taken. Choose another.")
    return await render_template("signup.html", form=form), 400 if request.method == "POST" else 200


@web.route("/login", methods=["GET", "POST"])
async def login() -> str | Response | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for("web.index"))
    form = await load_form(LoginForm)
    if form.validate_on_submit():
        method = current_app.config["NOTES_PASSWORD_METHOD"]
        user = await run(authenticate, get_database(), form.username.data, form.password.data, method)
        if user is not None:
            login_user(user)
            flash(f"Logged in as {user.username}.", "success")
            return redirect(local_target(request.args.get("next")) or url_for("web.index"))
        form.password.errors.append("Wrong user name or password.")
        return await render_template("login.html", form=form), 401
    return await render_template("login.html", form=form), 400 if request.method == "POST" else 200


@web.post("/logout")
@login_required
async def logout() -> Response:
    logout_user()
    flash("Logged out.", "success")
    return redirect(url_for("web.login"))


@web.route("/notes/new", methods=["GET", "POST"])
@login_required
async def new_note() -> str | Response | tuple[str, int]:
    form = await load_form(NoteForm)
    if form.validate_on_submit():
        note = await run(get_database().add_note, current_user.id, form.title.data, form.body.data)
        get_feed().publish(note.user_id, {"type": "created", "note": note_json(note)})
        flash(f"Added “{note.title}”.", "success")
        return redirect(url_for("web.index", _anchor=f"note-{note.id}"))
    # The form again, with what the user typed and what is wrong with it.
    return await render_template("new_note.html", form=form), 400 if request.method == "POST" else 200


@web.post("/notes/<int:note_id>/delete")
@login_required
async def delete_note(note_id: int) -> Response:
    user: User = current_user
    if not await run(get_database().delete_note, user.id, note_id):
        abort(404, description=f"You have no note {note_id}.")
    get_feed().publish(user.id, {"type": "deleted", "id": note_id})
    flash("Note deleted.", "success")
    return redirect(url_for("web.index"))


async def load_form(form_class: type[F]) -> F:
    """A Flask-WTF form filled from the request. A form reads `request.form` synchronously, so in an
    `async def` view the body is awaited first (CSRFProtect's hook has usually read it already)."""
    await request.form
    form: F = form_class()
    return form


def local_target(target: str | None) -> str | None:
    """`?next=` when it is a path on this site; None for anything else (an open redirect otherwise:
    a link to /login?next=https://evil.example would send users there after they log in)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target
