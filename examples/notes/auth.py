"""Users (Flask-Login): who is logged in, loaded from the database; passwords hashed with werkzeug.

Flask-Login loads the user the first time `current_user` is used in a request, by calling the
`user_loader` synchronously. That is a database query, so it must not happen on the event loop: the
`before_request` hook below is a plain `def`, which firkin runs in a worker thread, and it loads the
user there, before any view runs (Flask-Login keeps it in `g` for the rest of the request)."""

from __future__ import annotations

import functools

from firkin import Firkin, request
from flask_login import LoginManager, UserMixin, current_user
from werkzeug.security import check_password_hash, generate_password_hash

from .database import Database, UserRecord, get_database

__all__ = ["User", "authenticate", "hash_password", "init_auth", "login_manager"]

login_manager = LoginManager()
login_manager.login_view = "web.login"
login_manager.login_message_category = "error"
# Under /api, an anonymous request gets a 401 (as JSON, by the API's error handler), not a redirect
# to the login page.
login_manager.blueprint_login_views = {"api": None}


@functools.cache
def _no_such_user(method: str) -> str:
    """A hash to check against when the user name is unknown, so that a login takes as long whether
    or not the name exists (the time a check takes would otherwise tell which names are taken)."""
    return generate_password_hash("no such user", method=method)


class User(UserMixin):
    """The logged-in user, as Flask-Login wants it (`id`, `is_authenticated`, ...)."""

    def __init__(self, record: UserRecord) -> None:
        self.id = record.id
        self.username = record.username

    def get_id(self) -> str:
        return str(self.id)


def init_auth(app: Firkin) -> None:
    login_manager.init_app(app)

    @app.before_request
    def load_user() -> None:
        if request.endpoint != "static":
            current_user._get_current_object()


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user whose id the session holds; None (anonymous) when that user no longer exists."""
    try:
        record = get_database().user_by_id(int(user_id))
    except ValueError:  # not an id: a session from something else
        return None
    return None if record is None else User(record)


def hash_password(password: str, method: str) -> str:
    """Salted and hashed (werkzeug.security; `method` is NOTES_PASSWORD_METHOD). Slow on purpose:
    call it in a worker thread."""
    return generate_password_hash(password, method=method)


def authenticate(database: Database, username: str, password: str, method: str) -> User | None:
    """The user with this name and password, or None. Blocks (a query and a slow hash check): call it
    in a worker thread."""
    record = database.user_by_name(username)
    if record is None:
        check_password_hash(_no_such_user(method), password)
        return None
    if not check_password_hash(record.password_hash, password):
        return None
    return User(record)
