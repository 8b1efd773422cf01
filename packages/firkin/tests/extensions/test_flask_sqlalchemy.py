"""Flask-SQLAlchemy on firkin, unpatched: models, queries in views (sync ones in worker threads, and an
async one), one `db.session` per request removed at the end of it, an SQLite file in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from firkin import Firkin, abort, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from conftest import ServeFactory

anyio = pytest.mark.anyio


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Author(db.Model):  # type: ignore[name-defined,misc]  # Flask-SQLAlchemy's dynamic base
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    books: Mapped[list[Book]] = relationship(back_populates="author", order_by="Book.id")


class Book(db.Model):  # type: ignore[name-defined,misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    author: Mapped[Author] = relationship(back_populates="books")


def make_app(database: Path) -> Firkin:
    app = Firkin(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database}"
    db.init_app(app)  # type: ignore[arg-type]  # typed as flask.Flask; a Firkin app works the same
    sessions: list[int] = []
    app.extensions["test_sessions"] = sessions

    @app.before_request
    def remember_session() -> None:  # a sync hook and a sync view: two worker threads, one session
        sessions.append(id(db.session()))

    @app.post("/authors")
    def add_author() -> Any:
        author = Author(name=request.get_json()["name"])
        db.session.add(author)
        db.session.commit()
        sessions.append(id(db.session()))
        return {"id": author.id}, 201

    @app.post("/authors/<int:author_id>/books")
    def add_book(author_id: int) -> Any:
        author = db.get_or_404(Author, author_id)
        book = Book(title=request.get_json()["title"], author=author)
        db.session.add(book)
        db.session.commit()
        return {"id": book.id}, 201

    @app.get("/authors/<name>")
    async def author_books(name: str) -> Any:
        # An async view may use the (blocking) session too; it runs on the event loop.
        author = db.session.execute(select(Author).where(Author.name == name)).scalar_one_or_none()
        if author is None:
            abort(404)
        return {"name": author.name, "books": [book.title for book in author.books]}

    @app.get("/books")
    def books() -> Any:
        page = db.paginate(select(Book).order_by(Book.id), per_page=2)
        return {"titles": [book.title for book in page.items], "pages": page.pages}

    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Firkin]:
    app = make_app(tmp_path / "library.sqlite")
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


@anyio
async def test_models_and_queries_in_views(app: Firkin, tmp_path: Path) -> None:
    client = app.test_client()
    response = await client.post("/authors", json={"name": "ursula"})
    assert (response.status_code, await response.get_json()) == (201, {"id": 1})
    for title in ("A Wizard of Earthsea", "The Dispossessed", "The Lathe of Heaven"):
        assert (await client.post("/authors/1/books", json={"title": title})).status_code == 201
    assert (await client.post("/authors/9/books", json={"title": "x"})).status_code == 404

    response = await client.get("/authors/ursula")
    assert await response.get_json() == {
        "name": "ursula",
        "books": ["A Wizard of Earthsea", "The Dispossessed", "The Lathe of Heaven"],
    }
    assert (await client.get("/authors/nobody")).status_code == 404
    response = await client.get("/books?page=2")
    assert await response.get_json() == {"titles": ["The Lathe of Heaven"], "pages": 2}
    assert (tmp_path / "library.sqlite").stat().st_size > 0


@anyio
async def test_one_session_per_request(app: Firkin) -> None:
    client = app.test_client()
    sessions: list[int] = app.extensions["test_sessions"]
    await client.post("/authors", json={"name": "first"})
    first = set(sessions)
    assert len(first) == 1  # the hook's and the view's (two worker threads): one session
    sessions.clear()
    await client.post("/authors", json={"name": "second"})
    assert len(set(sessions)) == 1
    # The session was removed when the first request's app context ended (Flask-SQLAlchemy's
    # teardown_appcontext): the second request has a new one, which sees the first's commit.
    assert (await client.get("/authors/first")).status_code == 200
    async with app.app_context():
        assert [a.name for a in db.session.scalars(select(Author).order_by(Author.id))] == ["first", "second"]


def test_flask_sqlalchemy_over_tapster(serve: ServeFactory, app: Firkin) -> None:
    running = serve(app)
    with httpx.Client(base_url=running.url) as client:
        assert client.post("/authors", json={"name": "octavia"}).json() == {"id": 1}
        assert client.post("/authors/1/books", json={"title": "Kindred"}).status_code == 201
        assert client.get("/authors/octavia").json() == {"name": "octavia", "books": ["Kindred"]}
