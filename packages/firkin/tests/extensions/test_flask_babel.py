"""Flask-Babel on firkin, unpatched: a German catalog compiled into the app's translations folder,
the locale picked per request from Accept-Language, `_()` in an (async) template through Jinja's
i18n extension, `gettext` / `ngettext` and `format_date` in a sync view, and `force_locale`."""

from __future__ import annotations

import datetime
from pathlib import Path

import httpx
import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from firkin import Firkin, render_template_string, request
from flask_babel import Babel, force_locale, format_date, gettext, ngettext

from conftest import ServeFactory

anyio = pytest.mark.anyio


def make_app(root: Path) -> Firkin:
    catalog = Catalog(locale="de")
    catalog.add("Hello", "Hallo")
    catalog.add(("%(num)d apple", "%(num)d apples"), ("%(num)d Apfel", "%(num)d Äpfel"))
    folder = root / "translations" / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.mo").open("wb") as mo:
        write_mo(mo, catalog)
    app = Firkin(__name__, root_path=str(root))
    Babel(app, locale_selector=lambda: request.accept_languages.best_match(["en", "de"]))

    @app.get("/page")
    async def page() -> str:
        return await render_template_string("{{ _('Hello') }}, {{ name }}!", name="Ada")

    @app.get("/count/<int:n>")
    def count(n: int) -> str:  # a sync view
        day = format_date(datetime.date(2026, 12, 3), "long")
        return f"{gettext('Hello')} {ngettext('%(num)d apple', '%(num)d apples', n)} {day}"

    @app.get("/forced")
    async def forced() -> str:
        with force_locale("de"):
            return str(gettext("Hello"))

    return app


@anyio
async def test_translations_follow_the_request(tmp_path: Path) -> None:
    client = make_app(tmp_path).test_client()
    german = {"Accept-Language": "de-DE,de;q=0.9"}
    assert await (await client.get("/page", headers=german)).get_data(as_text=True) == "Hallo, Ada!"
    assert await (await client.get("/page")).get_data(as_text=True) == "Hello, Ada!"
    response = await client.get("/count/3", headers=german)
    assert await response.get_data(as_text=True) == "Hallo 3 Äpfel 3. Dezember 2026"
    response = await client.get("/count/1", headers={"Accept-Language": "en"})
    assert await response.get_data(as_text=True) == "Hello 1 apple December 3, 2026"
    assert await (await client.get("/forced")).get_data(as_text=True) == "Hallo"


def test_flask_babel_over_tapster(tmp_path: Path, serve: ServeFactory) -> None:
    running = serve(make_app(tmp_path))
    with httpx.Client(base_url=running.url) as client:
        assert client.get("/page", headers={"Accept-Language": "de"}).text == "Hallo, Ada!"
        assert client.get("/count/2", headers={"Accept-Language": "de"}).text.startswith("Hallo 2 Äpfel")
