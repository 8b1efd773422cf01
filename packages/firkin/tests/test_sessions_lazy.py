"""The default cookie session is opened only when used: Flask's saving rules must still hold."""

from __future__ import annotations

import pytest
from firkin import Firkin, session
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
    assert "Cookie" in response.headers.get("Vary", "")


async def test_permanent_session_is_refreshed_even_when_the_view_does_not_touch_it() -> None:
    client = make_app().test_client()
    first = await client.get("/login")
    assert "Expires=" in first.headers["Set-Cookie"]
    # SESSION_REFRESH_EACH_REQUEST (the default): the cookie is sent again, with a new expiry.
    refreshed = await client.get("/untouched")
    assert "session=" in refreshed.headers.get("Set-Cookie", "")


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
