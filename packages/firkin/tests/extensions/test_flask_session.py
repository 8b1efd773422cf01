"""Flask-Session on firkin, unpatched: server-side sessions through Flask's (sync) session interface
API, with the cachelib backend and with a real redis-server (Debian's package, started on a free
port by the test). Its `open_session` / `save_session` are plain methods doing blocking I/O, so
firkin runs them in a worker thread; the cookie carries only the session's id."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis
from cachelib import SimpleCache
from firkin import Firkin, session
from flask_session import Session

from conftest import ServeFactory

anyio = pytest.mark.anyio


def make_app(**config: Any) -> Firkin:
    app = Firkin(__name__)
    app.config.update(SECRET_KEY="session-test", **config)
    Session(app)

    @app.post("/cart/<item>")
    async def add(item: str) -> dict[str, Any]:
        session.setdefault("cart", []).append(item)
        session.modified = True  # a list changed in place
        return {"cart": session["cart"]}

    @app.get("/cart")
    def show() -> dict[str, Any]:  # a sync view: the same session, from a worker thread
        return {"cart": session.get("cart", [])}

    @app.post("/logout")
    async def logout() -> str:
        session.clear()
        return "bye"

    return app


async def shop(app: Firkin) -> str:
    """Fill a cart over three requests, check it, and give the session cookie's value."""
    client = app.test_client()
    for item in ("tea", "cups"):
        response = await client.post(f"/cart/{item}")
        assert response.status_code == 200
    assert await (await client.get("/cart")).get_json() == {"cart": ["tea", "cups"]}
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert "tea" not in cookie  # an id, not the data
    assert await (await client.post("/logout")).get_data() == b"bye"
    assert await (await client.get("/cart")).get_json() == {"cart": []}
    return cookie


@anyio
async def test_cachelib_sessions() -> None:
    cache = SimpleCache()
    app = make_app(SESSION_TYPE="cachelib", SESSION_CACHELIB=cache)
    client = app.test_client()
    await client.post("/cart/tea")
    cookie = client.get_cookie("session")
    assert cache.get(f"session:{cookie}")["cart"] == ["tea"]  # stored in the cache, under the id
    await shop(app)


@anyio
async def test_redis_sessions(redis_url: str) -> None:
    store = redis.Redis.from_url(redis_url)
    try:
        app = make_app(SESSION_TYPE="redis", SESSION_REDIS=store)
        client = app.test_client()
        await client.post("/cart/kettle")
        cookie = client.get_cookie("session")
        assert store.exists(f"session:{cookie}") == 1  # stored in Redis, under the cookie's id
        assert await (await client.get("/cart")).get_json() == {"cart": ["kettle"]}
        await shop(app)
    finally:
        store.close()


def test_flask_session_over_tapster(redis_url: str, serve: ServeFactory) -> None:
    store = redis.Redis.from_url(redis_url)
    try:
        running = serve(make_app(SESSION_TYPE="redis", SESSION_REDIS=store))
        with httpx.Client(base_url=running.url) as alice, httpx.Client(base_url=running.url) as bob:
            alice.post("/cart/tea")
            bob.post("/cart/coffee")
            alice.post("/cart/milk")
            assert alice.get("/cart").json() == {"cart": ["tea", "milk"]}
            assert bob.get("/cart").json() == {"cart": ["coffee"]}
        assert len(store.keys("session:*")) == 2
    finally:
        store.close()


@anyio
async def test_a_flask_session_interface_does_its_io_off_the_event_loop() -> None:
    # What Flask-Session's backends rely on: a plain (Flask-style) interface's methods run in a
    # worker thread, where their blocking calls stop no other request.
    import threading

    from flask.sessions import SecureCookieSessionInterface

    threads: list[str] = []

    class Recording(SecureCookieSessionInterface):
        def open_session(self, app: Any, request: Any) -> Any:
            threads.append(threading.current_thread().name)
            return super().open_session(app, request)

        def save_session(self, app: Any, session: Any, response: Any) -> None:
            threads.append(threading.current_thread().name)
            super().save_session(app, session, response)

    app = make_app(SESSION_TYPE="cachelib", SESSION_CACHELIB=SimpleCache())
    app.session_interface = Recording()  # type: ignore[assignment]
    loop_thread = threading.current_thread().name
    client = app.test_client()
    await client.post("/cart/tea")
    assert await (await client.get("/cart")).get_json() == {"cart": ["tea"]}  # a signed cookie
    assert len(threads) == 4  # open and save, twice
    assert loop_thread not in threads
