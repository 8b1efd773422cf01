"""A notes app on firkin, as a Flask developer writes one: users who sign up and log in (Flask-Login),
forms with CSRF (Flask-WTF), notes in SQLite or PostgreSQL (SQLAlchemy Core), a JSON API and a live
feed over a websocket.

`create_app()` is in `examples.notes.app`; `./dev serve` runs `firkin --app examples.notes.app:app run`.
"""

from __future__ import annotations

__all__: list[str] = []
