"""The raw ASGI example, served by tapster over a real socket on every loop."""

from __future__ import annotations

import httpx

from conftest import ServeFactory
from examples.hello.app import app


def test_hello_example(serve: ServeFactory) -> None:
    running = serve(app)
    with httpx.Client(base_url=running.url) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "Hello from tapster" in page.text
        assert client.get("/json").json() == {"server": "tapster", "http_version": "1.1", "path": "/json"}
        assert client.post("/echo", content=b"ping" * 1000).content == b"ping" * 1000
        assert client.get("/missing").status_code == 404
