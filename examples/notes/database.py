"""The notes and their users in a SQL database, through SQLAlchemy Core: SQLite by default (a file in
the app's instance folder), PostgreSQL when DATABASE_URL says so.

Every method of `Database` blocks while the database works, so none of them may run on the event
loop: plain `def` views call them directly (firkin runs those in a worker thread), and async code
calls them through `await run(...)`, which hands them to a worker thread."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread
from firkin import Firkin, current_app
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, IntegrityError

from .forms import MAX_TITLE, MAX_USERNAME

__all__ = [
    "DATABASE_KEY",
    "Database",
    "Note",
    "UserRecord",
    "database_url",
    "get_database",
    "open_database",
    "run",
]

P = ParamSpec("P")
T = TypeVar("T")

#: Where the database lives in `app.extensions`, as Flask extensions keep their state.
DATABASE_KEY = "notes.database"
#: The SQLite file made in the instance folder when DATABASE_URL is not set.
SQLITE_FILE = "notes.sqlite"

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(MAX_USERNAME), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("title", String(MAX_TITLE), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # A deleted note's id is never given to another (SQLite would reuse the highest one otherwise;
    # PostgreSQL's sequences never do): a link to a note never leads to a different one.
    sqlite_autoincrement=True,
)


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    user_id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> Note:
        return cls(row.id, row.user_id, row.title, row.body, _utc(row.created_at), _utc(row.updated_at))


def _utc(moment: datetime) -> datetime:
    # SQLite keeps no time zone: what it gives back is the UTC time that was stored.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class Database:
    """The app's queries. Each method takes a connection from the engine's pool for one transaction
    and gives it back, so any thread may call any method; none may be called on the event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    def create_tables(self) -> None:
        """Create the tables that do not exist yet (the first run makes them all)."""
        metadata.create_all(self.engine)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close the pooled connections (when the server stops)."""
        self.engine.dispose()

    # -------------------------------------------------------------------------------- users

    def add_user(self, username: str, password_hash: str) -> UserRecord | None:
        """The new user, or None when the name is taken (the unique index decides, so two sign-ups
        racing for one name cannot both win)."""
        try:
            with self.engine.begin() as connection:
                user_id = connection.execute(
                    insert(users)
                    .values(username=username, password_hash=password_hash, created_at=_now())
                    .returning(users.c.id)
                ).scalar_one()
        except IntegrityError:
            return None
        return UserRecord(user_id, username, password_hash)

    def user_by_id(self, user_id: int) -> UserRecord | None:
        return self._user(users.c.id == user_id)

    def user_by_name(self, username: str) -> UserRecord | None:
        return self._user(users.c.username == username)

    def _user(self, where: Any) -> UserRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(users.c.id, users.c.username, users.c.password_hash).where(where)
            ).one_or_none()
        return None if row is None else UserRecord(row.id, row.username, row.password_hash)

    # -------------------------------------------------------------------------------- notes

    def add_note(self, user_id: int, title: str, body: str) -> Note:
        now = _now()
        with self.engine.begin() as connection:
            row = connection.execute(
                insert(notes)
                .values(user_id=user_id, title=title, body=body, created_at=now, updated_at=now)
                .returning(*notes.c)
            ).one()
        return Note.from_row(row)

    def note(self, user_id: int, note_id: int) -> Note | None:
        """One of the user's notes; None for a note that does not exist or is someone else's."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(notes).where(notes.c.id == note_id, notes.c.user_id == user_id)
            ).one_or_none()
        return None if row is None else Note.from_row(row)

    def notes_page(self, user_id: int, page: int, per_page: int) -> tuple[list[Note], int]:
        """A page of the user's notes, newest first (pages count from 1), and how many there are."""
        with self.engine.connect() as connection:
            total = connection.execute(
                select(func.count()).select_from(notes).where(notes.c.user_id == user_id)
            ).scalar_one()
            rows = connection.execute(
                select(notes)
                .where(notes.c.user_id == user_id)
                .order_by(notes.c.id.desc())
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
        return [Note.from_row(row) for row in rows], total

    def notes_after(self, user_id: int, after_id: int, limit: int) -> list[Note]:
        """Up to `limit` of the user's notes with ids above `after_id`, oldest first: one batch of an
        export (keyset pagination, so each batch is one indexed range however long the list)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(notes)
                .where(notes.c.user_id == user_id, notes.c.id > after_id)
                .order_by(notes.c.id)
                .limit(limit)
            ).all()
        return [Note.from_row(row) for row in rows]

    def update_note(self, user_id: int, note_id: int, title: str, body: str) -> Note | None:
        with self.engine.begin() as connection:
            row = connection.execute(
                update(notes)
                .where(notes.c.id == note_id, notes.c.user_id == user_id)
                .values(title=title, body=body, updated_at=_now())
                .returning(*notes.c)
            ).one_or_none()
        return None if row is None else Note.from_row(row)

    def delete_note(self, user_id: int, note_id: int) -> bool:
        with self.engine.begin() as connection:
            deleted = connection.execute(
                delete(notes).where(notes.c.id == note_id, notes.c.user_id == user_id).returning(notes.c.id)
            ).one_or_none()
        return deleted is not None


# ------------------------------------------------------------------------------------ the app's one


def database_url(app: Firkin) -> URL:
    """DATABASE_URL from the config; unset, an SQLite file in the instance folder (made here if
    missing). `postgresql://` and `postgres://` URLs get the psycopg (3) driver."""
    configured = app.config["DATABASE_URL"]
    if not configured:
        os.makedirs(app.instance_path, exist_ok=True)
        return URL.create("sqlite", database=str(Path(app.instance_path) / SQLITE_FILE))
    try:
        url = make_url(configured)
    except ArgumentError:
        raise ValueError(
            f"DATABASE_URL is not a database URL: {configured!r}. Use postgresql://user:password@host/db "
            "or sqlite:///path/to/file.sqlite"
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    if url.drivername not in ("sqlite", "postgresql+psycopg"):
        raise ValueError(
            f"DATABASE_URL names {url.drivername!r}; the notes app runs on sqlite:///path/to/file.sqlite "
            "or postgresql://user:password@host/db"
        )
    return url


def open_database(app: Firkin) -> Database:
    """The app's database, made on first use (when the server starts, or by a command). Makes no
    connection yet: the tables are created by `create_tables()`, in a worker thread."""
    database = app.extensions.get(DATABASE_KEY)
    if database is None:
        url = database_url(app)
        # One pool per process, bounded: a request that finds every connection busy waits at most
        # NOTES_DB_POOL_TIMEOUT seconds, then gets a 503 (app.py) instead of waiting without end.
        engine = create_engine(
            url,
            pool_size=app.config["NOTES_DB_POOL_SIZE"],
            max_overflow=0,
            pool_timeout=app.config["NOTES_DB_POOL_TIMEOUT"],
            pool_pre_ping=url.get_backend_name() == "postgresql",
        )
        if url.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        database = app.extensions[DATABASE_KEY] = Database(engine)
    assert isinstance(database, Database)
    return database


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    # SQLite enforces foreign keys only when asked, per connection. Write-ahead logging lets readers
    # go on while one connection writes (worker threads write and read at the same time).
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def get_database() -> Database:
    """The current app's database (in a view, a hook, a command)."""
    database = current_app.extensions.get(DATABASE_KEY)
    if database is None:
        raise RuntimeError(
            "The notes database is opened when the app starts serving (before_serving). In tests, "
            "run the lifespan around the requests: `async with app.test_app():`."
        )
    assert isinstance(database, Database)
    return database


async def run(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`func(*args, **kwargs)` in a worker thread, for async code: `await run(db.note, user, 3)`.
    The event loop goes on serving other requests while the database works."""
    return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))
