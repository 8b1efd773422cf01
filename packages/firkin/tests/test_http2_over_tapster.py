"""firkin served by tapster over HTTP/2: server push (`make_push_promise`, Quart's API) and early
hints reach a real HTTP/2 client, on every loop."""

from __future__ import annotations

import h2.events
from firkin import Firkin, make_push_promise, request, send_early_hints

from conftest import ServeFactory
from packages.tapster.tests.e2e.h2client import H2Client


def make_app() -> Firkin:
    app = Firkin(__name__)

    @app.get("/")
    async def page() -> str:
        await send_early_hints("</static/site.css>; rel=preload; as=style")
        await make_push_promise("/static/site.css")
        return f"page over HTTP/{request.http_version}"

    @app.get("/static/site.css")
    async def css() -> tuple[str, int, dict[str, str]]:
        return "body{}", 200, {"content-type": "text/css"}

    return app


def test_push_and_early_hints_over_http2(serve: ServeFactory) -> None:
    running = serve(make_app())
    client = H2Client(running.host, running.port)
    response = client.get("/", headers=[("accept", "text/html")])
    assert bytes(response.body) == b"page over HTTP/2"
    assert response.informational == [
        [(b":status", b"103"), (b"link", b"</static/site.css>; rel=preload; as=style")]
    ]
    [promise] = [e for e in client.events if isinstance(e, h2.events.PushedStreamReceived)]
    assert promise.pushed_stream_id is not None
    assert (b":path", b"/static/site.css") in (promise.headers or [])
    assert (b"accept", b"text/html") in (promise.headers or [])  # copied, as Quart does
    pushed = client.wait(promise.pushed_stream_id)
    assert bytes(pushed.body) == b"body{}"
    assert (b"content-type", b"text/css") in pushed.headers
    client.close()


def test_no_push_when_the_client_refuses_it(serve: ServeFactory) -> None:
    running = serve(make_app())
    client = H2Client(running.host, running.port, settings={2: 0})
    assert bytes(client.get("/").body) == b"page over HTTP/2"
    assert not [e for e in client.events if isinstance(e, h2.events.PushedStreamReceived)]
    client.close()
