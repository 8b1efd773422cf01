"""The application factory, `create_app()`, and the `app` that `firkin --app examples.notes.app:app run`
(and `./dev serve`) serves."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import sqlalchemy.exc
from firkin import Firkin, Response, has_websocket_context, render_template, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException, MethodNotAllowed, ServiceUnavailable

from .api import api, json_error
from .auth import hash_password, init_auth
from .database import DATABASE_KEY, get_database, open_database, run
from .forms import MAX_PASSWORD, MAX_USERNAME, MIN_PASSWORD, USERNAME
from .live import FEED_KEY, open_feed
from .web import web

__all__ = ["DEFAULTS", "app", "create_app"]

#: The instance folder when none is given: beside this file, so the example keeps its data to itself.
INSTANCE_PATH = Path(__file__).parent / "instance"

DEFAULTS: dict[str, Any] = {
    # Only for development: set FIRKIN_SECRET_KEY in the environment of a real deployment (it signs
    # the session cookie and the CSRF tokens).
    "SECRET_KEY": "dev",
    # postgresql://user:password@host/db, or sqlite:///path; unset: <instance folder>/notes.sqlite.
    "DATABASE_URL": None,
    # Database connections this process keeps (SQLAlchemy's pool, no overflow), and how long a
    # request waits for one when all are busy before it gets a 503 (seconds).
    "NOTES_DB_POOL_SIZE": 5,
    "NOTES_DB_POOL_TIMEOUT": 10.0,
    # werkzeug.security's password hashing method (its default: scrypt).
    "NOTES_PASSWORD_METHOD": "scrypt",
    # Notes per page, and the most a client may ask for (?per_page=).
    "NOTES_PER_PAGE": 20,
    "NOTES_MAX_PER_PAGE": 100,
    # Rows fetched per query while the CSV export streams.
    "NOTES_EXPORT_BATCH": 200,
    # Events waiting to be sent to one live feed before it is dropped (close 1013), and live feeds
    # (windows) one user may have open at once.
    "NOTES_LIVE_QUEUE": 16,
    "NOTES_LIVE_FEEDS_PER_USER": 10,
    # The largest request body read (bytes): a note's form or JSON is at most a few KiB (413 above).
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # The session cookie is not sent with requests that other sites start (a second guard, beside
    # the CSRF tokens).
    "SESSION_COOKIE_SAMESITE": "Lax",
}

UNAVAILABLE_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>503 Service Unavailable · firkin notes</title>
<h1>Service Unavailable</h1><p>{message}</p></html>
"""

_POSITIVE_INTEGERS = (
    "NOTES_DB_POOL_SIZE",
    "NOTES_PER_PAGE",
    "NOTES_MAX_PER_PAGE",
    "NOTES_EXPORT_BATCH",
    "NOTES_LIVE_QUEUE",
    "NOTES_LIVE_FEEDS_PER_USER",
)


def create_app(
    config: Mapping[str, Any] | None = None, *, instance_path: str | os.PathLike[str] | None = None
) -> Firkin:
    """A new notes app. Configuration, later sources winning: DEFAULTS, the DATABASE_URL environment
    variable, the FIRKIN_* ones (FIRKIN_SECRET_KEY=..., FIRKIN_NOTES_PER_PAGE=50), then `config`.
    The SQLite file goes in `instance_path` (default: examples/notes/instance/)."""
    app = Firkin(__name__, instance_path=str(instance_path or INSTANCE_PATH))
    app.config.from_mapping(DEFAULTS)
    if os.environ.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    app.config.from_prefixed_env("FIRKIN")
    if config is not None:
        app.config.from_mapping(config)
    _check_config(app.config)

    CSRFProtect(app)  # every POST, PUT, PATCH and DELETE: a form's csrf_token, or the X-CSRFToken header
    init_auth(app)
    app.register_blueprint(web)
    app.register_blueprint(api, url_prefix="/api")

    @app.before_serving
    async def open_the_database() -> None:
        database = open_database(app)
        await run(database.create_tables)  # the first run makes the SQLite file and the tables
        open_feed(app)

    @app.after_serving
    async def close_the_database() -> None:
        # The server has finished its requests and closed the websockets by now.
        app.extensions.pop(FEED_KEY)
        await run(app.extensions.pop(DATABASE_KEY).dispose)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        # A URL that matches no route reaches no blueprint, so the API's own handler cannot answer.
        if wants_json():
            return json_error(error)
        page = await render_template("error.html", error=error)
        response = Response(page, status=error.code or 500, mimetype="text/html")
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(sqlalchemy.exc.TimeoutError)
    @app.errorhandler(sqlalchemy.exc.OperationalError)
    async def database_unavailable(error: sqlalchemy.exc.SQLAlchemyError) -> Response:
        # TimeoutError: every pooled connection stayed busy for NOTES_DB_POOL_TIMEOUT seconds.
        # OperationalError: the database cannot be reached (a PostgreSQL restart, a network cut).
        # Both pass: a 503 says to try again. The page is no template: rendering one loads the user
        # (Flask-Login's context processor), from the database.
        busy = isinstance(error, sqlalchemy.exc.TimeoutError)
        app.logger.warning("The database is %s: %s", "busy" if busy else "unavailable", error)
        message = f"The database is {'busy' if busy else 'unavailable'}. Try again in a moment."
        if wants_json():
            response = json_error(ServiceUnavailable(message))
        else:
            response = Response(UNAVAILABLE_PAGE.format(message=message), status=503, mimetype="text/html")
        response.headers["Retry-After"] = "1"
        return response

    @app.get("/health")
    def health() -> tuple[dict[str, Any], int]:
        # A plain `def` view: firkin runs it in a worker thread, where a blocking query is fine.
        database = get_database()
        try:
            database.ping()
        except sqlalchemy.exc.SQLAlchemyError as error:
            app.logger.warning("The database does not answer: %s", error)
            return {"status": "unavailable", "database": database.dialect}, 503
        return {"status": "ok", "database": database.dialect}, 200

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        # The liveness probe (examples/deploy/k8s.yaml, docs/deployment.md): the process answers.
        # No database here: a database outage is /health's to report (readiness), and restarting
        # every process because the database is away would not bring it back.
        return {"status": "ok"}

    @app.cli.command("create-user")
    @click.argument("username")
    @click.password_option(help="The password (asked for, twice, when not given).")
    def create_user(username: str, password: str) -> None:
        """Add a user who can log in (as signing up on the page does)."""
        username = username.strip().lower()
        if USERNAME.fullmatch(username) is None:
            raise click.BadParameter(
                f"a user name is 1 to {MAX_USERNAME} letters, digits, '_' or '-'", param_hint="USERNAME"
            )
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise click.BadParameter(
                f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters", param_hint="'--password'"
            )
        database = open_database(app)
        database.create_tables()
        if database.add_user(username, hash_password(password, app.config["NOTES_PASSWORD_METHOD"])) is None:
            raise click.ClickException(f"the user name {username!r} is taken")
        click.echo(f"Created the user {username}.")

    return app


def wants_json() -> bool:
    """Whether an error is answered as JSON: under /api, and for any websocket handshake (the pages'
    templates are for HTTP requests: Flask-Login's `current_user` is an HTTP request's)."""
    if has_websocket_context():
        return True
    return request.path == "/api" or request.path.startswith("/api/")


def _check_config(config: Mapping[str, Any]) -> None:
    for key in _POSITIVE_INTEGERS:
        value = config[key]
        if type(value) is not int or value < 1:
            raise ValueError(f"{key} must be an integer >= 1; got {value!r}")
    timeout = config["NOTES_DB_POOL_TIMEOUT"]
    if type(timeout) not in (int, float) or timeout <= 0:
        raise ValueError(f"NOTES_DB_POOL_TIMEOUT must be a number of seconds > 0; got {timeout!r}")
    if config["NOTES_PER_PAGE"] > config["NOTES_MAX_PER_PAGE"]:
        raise ValueError("NOTES_PER_PAGE must not be above NOTES_MAX_PER_PAGE")


app = create_app()
