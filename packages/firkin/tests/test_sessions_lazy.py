"""The default cookie session is opened only when used: Flask's saving rules must still hold."""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import parsedate_to_datetime
from http.cookies import Morsel, SimpleCookie

import pytest
from firkin import Firkin, Response, session
from firkin.sessions import SecureCookieSessionInterface

pytestmark = pytest.mark.anyio


def make_app() -> Firkin:
    app = Firkin(__name__)
    app.secret_key = "secret"

    @app.get("/login")
    async def login() -> str:
        session.permanent = True
        session["user"] = "ada"
        return "in"

    @app.get("/untouched")
    async def untouched() -> str:
        return "nothing"

    @app.get("/read")
    async def read() -> str:
        return str(session.get("user"))

    return app


async def test_untouched_session_without_cookie_sets_nothing() -> None:
    response = await make_app().test_client().get("/untouched")
    assert "Set-Cookie" not in response.headers
    assert "Vary" not in response.headers


async def test_reading_the_session_adds_vary_cookie() -> None:
    client = make_app().test_client()
    await client.get("/login")
    response = await client.get("/read")
    assert await response.get_data() == b"ada"
    assert response.headers.getlist("Vary") == ["Cookie"]


async def test_an_empty_session_that_was_read_sets_nothing_and_one_emptied_is_deleted() -> None:
    """Flask saves nothing for an empty, unchanged session (firkin skips the after step for it); a
    session the view emptied is deleted from the client."""
    app = make_app()

    @app.get("/logout")
    async def logout() -> str:
        session.clear()
        return "out"

    client = app.test_client()
    read = await client.get("/read")
    assert await read.get_data() == b"None"
    assert "Set-Cookie" not in read.headers
    assert "Vary" not in read.headers
    await client.get("/login")
    out = await client.get("/logout")
    cookie = session_cookie(out)
    assert cookie.value == ""
    assert expires_at(cookie) < time.time()
    assert out.headers.getlist("Vary") == ["Cookie"]
    after = await client.get("/read")
    assert await after.get_data() == b"None"


def session_cookie(response: Response) -> Morsel[str]:
    """The one Set-Cookie of `response`, parsed; it must be the session's."""
    [header] = response.headers.getlist("Set-Cookie")
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    assert list(jar) == ["session"]
    return jar["session"]


def expires_at(morsel: Morsel[str]) -> float:
    return parsedate_to_datetime(morsel["expires"]).timestamp()


def session_in(app: Firkin, morsel: Morsel[str]) -> object:
    """What the cookie holds, checked against the app's current key."""
    interface = app.session_interface
    assert isinstance(interface, SecureCookieSessionInterface)
    return interface.get_signing_serializer(app).loads(morsel.value)


async def test_permanent_session_is_refreshed_even_when_the_view_does_not_touch_it() -> None:
    app = make_app()
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=1)
    client = app.test_client()
    before = int(time.time())  # Expires has whole seconds
    first = session_cookie(await client.get("/login"))
    # Permanent: Expires is now + PERMANENT_SESSION_LIFETIME (Flask sets no Max-Age).
    assert before + 86400 <= expires_at(first) <= time.time() + 86400
    assert first["max-age"] == ""
    assert session_in(app, first) == {"_permanent": True, "user": "ada"}
    # SESSION_REFRESH_EACH_REQUEST (the default): the cookie is sent again with an expiry worked out
    # anew (the lifetime changed between the requests to tell the two apart), the session unchanged.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=2)
    before = int(time.time())
    refreshed = session_cookie(await client.get("/untouched"))
    assert before + 2 * 86400 <= expires_at(refreshed) <= time.time() + 2 * 86400
    assert refreshed["max-age"] == ""
    assert session_in(app, refreshed) == {"_permanent": True, "user": "ada"}


async def test_a_session_that_is_not_permanent_ends_with_the_browser() -> None:
    app = make_app()

    @app.get("/visit")
    async def visit() -> str:
        session["seen"] = True
        return "ok"

    cookie = session_cookie(await app.test_client().get("/visit"))
    assert (cookie["expires"], cookie["max-age"]) == ("", "")
    assert session_in(app, cookie) == {"seen": True}


async def test_no_refresh_when_disabled() -> None:
    app = make_app()
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    client = app.test_client()
    await client.get("/login")
    response = await client.get("/untouched")
    assert "Set-Cookie" not in response.headers


async def test_a_custom_interface_is_opened_at_push_as_before() -> None:
    opened: list[str] = []

    class Recording(SecureCookieSessionInterface):
        async def open_session(self, app, request):  # type: ignore[no-untyped-def]
            opened.append(request.path)
            return await super().open_session(app, request)

    app = make_app()
    app.session_interface = Recording()
    await app.test_client().get("/untouched")
    assert opened == ["/untouched"]


async def test_without_secret_key_the_session_says_how_to_fix_it() -> None:
    app = Firkin(__name__)

    @app.get("/write")
    async def write() -> str:
        session["x"] = 1
        return "no"

    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(RuntimeError, match="secret key"):
        await app.test_client().get("/write")
