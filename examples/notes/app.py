"""The application factory, `create_app()`, and the `app` that `firkin --app examples.notes.app:app run`
serves."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import anyio.from_thread
import click
from firkin import Firkin, Response, g, request, session
from werkzeug.exceptions import HTTPException

from .api import api, json_error
from .store import get_store, open_store
from .web import web

__all__ = ["app", "create_app"]

DEFAULTS: dict[str, Any] = {
    # Only for development: set FIRKIN_SECRET_KEY in the environment of a real deployment.
    "SECRET_KEY": "dev",
    # Notes the store starts with when the app starts serving.
    "NOTES_DEMO": True,
}


def create_app(config: Mapping[str, Any] | None = None) -> Firkin:
    """A new notes app. Configuration, later sources winning: DEFAULTS, the FIRKIN_* environment
    variables (FIRKIN_SECRET_KEY=..., FIRKIN_NOTES_DEMO=false), then `config`."""
    app = Firkin(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("FIRKIN")
    if config is not None:
        app.config.from_mapping(config)

    app.register_blueprint(web)
    app.register_blueprint(api, url_prefix="/api")

    @app.before_serving
    async def prepare_store() -> None:
        store = open_store(app)
        if app.config["NOTES_DEMO"] and not await store.count():
            await store.add("Welcome", "Log in to add notes of your own.", "firkin")

    @app.before_request
    async def load_user() -> None:
        g.user = session.get("user")

    @app.errorhandler(400)
    @app.errorhandler(404)
    @app.errorhandler(405)
    async def not_found_or_not_allowed(error: HTTPException) -> HTTPException | Response:
        # A URL that matches no route reaches no blueprint, so the API's own handler cannot answer
        # (400: an HTTP request to the websocket-only /api/live).
        if request.path == "/api" or request.path.startswith("/api/"):
            return json_error(error)
        return error

    @app.get("/health")
    def health() -> dict[str, Any]:
        # A plain `def` view runs in a worker thread; it reaches the async store through anyio.
        count = anyio.from_thread.run(get_store().count)
        return {"status": "ok", "notes": count, "thread": threading.current_thread().name}

    @app.cli.command()
    @click.option("--count", default=3, show_default=True, help="How many notes to add.")
    async def seed(count: int) -> None:
        """Add demo notes to the store."""
        store = open_store(app)
        for number in range(1, count + 1):
            await store.add(f"Demo note {number}", f"Seeded note number {number}.", "seed")
        noun = "note" if count == 1 else "notes"
        click.echo(f"Seeded {count} {noun} ({await store.count()} in the store).")

    return app


app = create_app()
