"""Flask-Compress on firkin, unpatched: its sync after_request hook reads the response body
(`response.get_data()`, Flask's sync API), compresses it (gzip, br) as the client accepts, and
answers a conditional request with `response.make_conditional(request)` (sync too)."""

from __future__ import annotations

import gzip

import brotli
import httpx
import pytest
from firkin import Firkin, Response
from flask_compress import Compress

from conftest import ServeFactory

anyio = pytest.mark.anyio

PAGE = "<p>" + "firkin " * 400 + "</p>"


def make_app() -> Firkin:
    app = Firkin(__name__)
    Compress(app)  # type: ignore[arg-type]  # typed as flask.Flask; a Firkin app works the same

    @app.get("/page")
    async def page() -> Response:
        response = Response(PAGE)
        response.set_etag("page-v1")
        return response

    @app.get("/small")
    def small() -> str:
        return "tiny"  # under COMPRESS_MIN_SIZE (500 bytes): sent as it is

    return app


@anyio
async def test_compressed_as_accepted() -> None:
    client = make_app().test_client()
    gzipped = await client.get("/page", headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await gzipped.get_data()).decode() == PAGE
    assert gzipped.headers["Content-Length"] == str(len(await gzipped.get_data()))
    assert gzipped.headers["ETag"] == '"page-v1:gzip"'
    assert "Accept-Encoding" in gzipped.headers["Vary"]
    brotlied = await client.get("/page", headers={"Accept-Encoding": "br"})
    assert brotlied.headers["Content-Encoding"] == "br"
    assert brotli.decompress(await brotlied.get_data()).decode() == PAGE
    plain = await client.get("/page", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert await plain.get_data(as_text=True) == PAGE
    small = await client.get("/small", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers
    assert await small.get_data() == b"tiny"


@anyio
async def test_a_conditional_request_gets_304() -> None:
    client = make_app().test_client()
    response = await client.get(
        "/page", headers={"Accept-Encoding": "gzip", "If-None-Match": '"page-v1:gzip"'}
    )
    assert response.status_code == 304
    assert await response.get_data() == b""
    assert response.headers["ETag"] == '"page-v1:gzip"'
    stale = await client.get("/page", headers={"Accept-Encoding": "gzip", "If-None-Match": '"old"'})
    assert stale.status_code == 200


def test_flask_compress_over_tapster(serve: ServeFactory) -> None:
    running = serve(make_app())
    with httpx.Client(base_url=running.url) as client:
        response = client.get("/page", headers={"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert response.text == PAGE  # httpx decompresses
        again = client.get("/page", headers={"Accept-Encoding": "gzip", "If-None-Match": '"page-v1:gzip"'})
        assert again.status_code == 304
