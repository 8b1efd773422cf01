"""Flask-Admin on firkin, unpatched: an extension that renders its own pages with Flask's
`render_template` from its sync views. A custom view and a Flask-SQLAlchemy model view: the list,
the create form (WTForms reading `request.form` synchronously), the redirect after it and the
flashed message, an SQLite file in tmp_path."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from firkin import Firkin
from flask_admin import Admin, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_babel import Babel
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from conftest import ServeFactory

anyio = pytest.mark.anyio


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Product(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy's dynamic base
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Report(BaseView):  # (Flask-Admin is untyped: pyproject.toml relaxes this module)
    @expose("/")
    def index(self) -> str:
        total = db.session.query(Product).count()
        return str(self.render("report.html", total=total))


REPORT = (
    "{% extends 'admin/master.html' %}"
    "{% block body %}<p id=report>{{ brand }}: {{ total }} products</p>{% endblock %}"
)


def make_app(database: Path) -> Firkin:
    """The app's own template extends Flask-Admin's layout (the blueprint's template folder)."""
    (database.parent / "report.html").write_text(REPORT)
    app = Firkin(__name__, template_folder=str(database.parent))
    app.secret_key = "admin-test"
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database}"
    db.init_app(app)  # type: ignore[arg-type]  # typed as flask.Flask; a Firkin app works the same

    @app.context_processor
    async def brand() -> dict[str, str]:  # an async processor: Flask-Admin's render includes it
        return {"brand": "Shop"}

    # With Flask-Babel installed (the suite has it), Flask-Admin translates through it, which then
    # must be set up on the app, as in Flask.
    Babel(app)
    admin = Admin(app, name="Shop admin")
    admin.add_view(ModelView(Product, db, name="Products"))
    admin.add_view(Report(name="Report", endpoint="report"))
    with app.app_context():
        db.create_all()
    return app


def rows(page: str) -> list[str]:
    """The names in a model view's list page."""
    return re.findall(r'<td class="col-name">\s*(.*?)\s*</td>', page, re.S)


@anyio
async def test_model_view_list_create_and_flash(tmp_path: Path) -> None:
    client = make_app(tmp_path / "shop.db").test_client()
    new = await client.get("/admin/product/new/")
    assert new.status_code == 200
    assert 'name="name"' in await new.get_data(as_text=True)
    created = await client.post("/admin/product/new/", form={"name": "widget"})
    assert created.status_code == 302
    assert created.headers["Location"] == "/admin/product/"
    listed = await client.get("/admin/product/")
    page = await listed.get_data(as_text=True)
    assert rows(page) == ["widget"]
    assert "Record was successfully created." in page  # flashed by the POST, shown here
    assert "Shop admin" in page
    # A second create: the list has both, in order, and the flash is gone after one showing.
    await client.post("/admin/product/new/", form={"name": "gadget"})
    assert rows(await (await client.get("/admin/product/")).get_data(as_text=True)) == ["widget", "gadget"]
    assert "successfully created" not in await (await client.get("/admin/product/")).get_data(as_text=True)


@anyio
async def test_a_custom_view_renders_with_the_apps_context(tmp_path: Path) -> None:
    client = make_app(tmp_path / "shop.db").test_client()
    response = await client.get("/admin/report/")
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert "Shop admin" in page
    assert "<p id=report>Shop: 0 products</p>" in page
    assert re.search(r'href="/admin/product/">\s*Products</a>', page)  # its menu, made with url_for


def test_flask_admin_over_tapster(tmp_path: Path, serve: ServeFactory) -> None:
    running = serve(make_app(tmp_path / "shop.db"))
    with httpx.Client(base_url=running.url, follow_redirects=True) as client:
        created = client.post("/admin/product/new/", data={"name": "sprocket"})
        assert created.status_code == 200
        assert str(created.url).endswith("/admin/product/")
        assert rows(created.text) == ["sprocket"]
        assert "Record was successfully created." in created.text
        report = client.get("/admin/report/")
        assert report.status_code == 200
        assert "<p id=report>Shop: 1 products</p>" in report.text
