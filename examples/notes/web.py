"""The HTML pages: log in and out, the list of notes, the form to add one."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from firkin import Blueprint, Response, flash, g, redirect, render_template, request, session, url_for

from .store import get_store
from .validation import validate_note, validate_username

__all__ = ["web"]

P = ParamSpec("P")
R = TypeVar("R")

web = Blueprint("web", __name__)


def login_required(view: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | Response]]:
    """Send anonymous users to the login page, with a message saying why."""

    @functools.wraps(view)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if g.user is None:
            flash("Log in to do that.", "error")
            return redirect(url_for("web.login"))
        return await view(*args, **kwargs)

    return wrapped


@web.get("/")
async def index() -> str:
    notes = await get_store().all()
    return await render_template("index.html", notes=notes)


@web.route("/login", methods=["GET", "POST"])
async def login() -> str | Response | tuple[str, int]:
    if request.method == "GET":
        return await render_template("login.html", username="")
    form = await request.form
    username = form.get("username", "").strip()
    error = validate_username(username)
    if error is not None:
        flash(error, "error")
        return await render_template("login.html", username=username), 400
    session["user"] = username
    flash(f"Logged in as {username}.", "success")
    return redirect(url_for("web.index"))


@web.post("/logout")
async def logout() -> Response:
    if session.pop("user", None) is not None:
        flash("Logged out.", "success")
    return redirect(url_for("web.index"))


@web.route("/notes/new", methods=["GET", "POST"])
@login_required
async def new_note() -> str | Response | tuple[str, int]:
    if request.method == "GET":
        return await render_template("new_note.html", title="", body="")
    form = await request.form
    title = form.get("title", "").strip()
    body = form.get("body", "").strip()
    errors = validate_note(title, body)
    if errors:
        for error in errors:
            flash(error, "error")
        # The form again, with what the user typed, so nothing is lost.
        return await render_template("new_note.html", title=title, body=body), 400
    note = await get_store().add(title, body, g.user)
    flash(f"Added “{note.title}”.", "success")
    return redirect(url_for("web.index", _anchor=f"note-{note.id}"))
