"""Flask-Caching on firkin, unpatched: cached views (async and sync), a memoized function and a
cached template fragment (its `{% cache %}` Jinja tag) on SimpleCache, keyed by path and query
string."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from firkin import Firkin, render_template_string, request
from flask_caching import Cache

from conftest import ServeFactory

anyio = pytest.mark.anyio


def make_app() -> tuple[Firkin, dict[str, int]]:
    app = Firkin(__name__)
    app.config.update(CACHE_TYPE="SimpleCache", CACHE_DEFAULT_TIMEOUT=300)
    cache = Cache(app)  # type: ignore[arg-type]  # typed as flask.Flask; a Firkin app works the same
    calls = {"report": 0, "search": 0, "square": 0}

    @app.get("/report")
    @cache.cached()
    async def report() -> str:  # an async view under Flask-Caching's sync wrapper
        calls["report"] += 1
        return f"report #{calls['report']}"

    @app.get("/search")
    @cache.cached(query_string=True)
    def search() -> Any:
        calls["search"] += 1
        return {"q": request.args.get("q"), "call": calls["search"]}

    @cache.memoize()
    def square(n: int) -> int:
        calls["square"] += 1
        return n * n

    @app.get("/square/<int:n>")
    async def square_view(n: int) -> Any:
        return {"square": square(n)}

    @app.get("/fragment/<int:n>")
    async def fragment(n: int) -> str:
        # The tag's Python code calls `caller()` for the block's content and caches what it gets.
        return await render_template_string(
            "{% cache 300, 'squares' %}{{ n * n }}{% endcache %} n={{ n }}", n=n
        )

    @app.post("/clear")
    async def clear() -> str:
        cache.clear()
        return "cleared"

    return app, calls


@anyio
async def test_cached_view() -> None:
    app, calls = make_app()
    client = app.test_client()
    assert [await (await client.get("/report")).get_data(as_text=True) for _ in range(3)] == ["report #1"] * 3
    assert calls["report"] == 1
    await client.post("/clear")
    assert await (await client.get("/report")).get_data(as_text=True) == "report #2"


@anyio
async def test_cached_by_query_string_and_memoized() -> None:
    app, calls = make_app()
    client = app.test_client()
    first = await (await client.get("/search?q=tea")).get_json()
    assert await (await client.get("/search?q=tea")).get_json() == first == {"q": "tea", "call": 1}
    assert await (await client.get("/search?q=coffee")).get_json() == {"q": "coffee", "call": 2}
    for _ in range(2):
        assert await (await client.get("/square/12")).get_json() == {"square": 144}
    assert calls["square"] == 1


@anyio
async def test_a_cached_template_fragment() -> None:
    client = make_app()[0].test_client()
    assert await (await client.get("/fragment/3")).get_data(as_text=True) == "9 n=3"
    assert await (await client.get("/fragment/4")).get_data(as_text=True) == "9 n=4"  # from the cache
    await client.post("/clear")
    assert await (await client.get("/fragment/4")).get_data(as_text=True) == "16 n=4"


def test_flask_caching_over_tapster(serve: ServeFactory) -> None:
    app, calls = make_app()
    running = serve(app)
    with httpx.Client(base_url=running.url) as client:
        assert [client.get("/report").text for _ in range(3)] == ["report #1"] * 3
        assert client.get("/search?q=x").json() == client.get("/search?q=x").json()
    assert calls == {"report": 1, "search": 1, "square": 0}
