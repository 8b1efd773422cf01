"""Flask's own template helpers and `response.get_data()` called by an extension's sync code (its
views and hooks, which firkin runs in worker threads): `flask.render_template`,
`render_template_string` and `stream_template` render with firkin's context (processors, `g`,
`request`, `session`) and signals, on the event loop, as `await render_template(...)` does."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import flask
import httpx
import pytest
from firkin import Blueprint, Firkin, Response, g, session
from firkin._sync import iterate_in_thread
from firkin.templating import Template

from conftest import ServeFactory

pytestmark = pytest.mark.anyio

PAGE = (
    "{{ who }} {{ where }} {{ request.path }} {{ g.user }} {{ session.get('name') }} "
    "{{ url_for('ext.page') }} {{ shout('hi') }}"
)


async def shout(text: str) -> str:
    await anyio.sleep(0)  # a real wait: the template suspends, so it must render on the event loop
    return text.upper() + "!"


def make_app(templates: Path) -> Firkin:
    """An app with what an extension brings: a blueprint with a template folder and sync views that
    render with Flask's helpers, and a sync after_request hook that adds rendered HTML to pages (a
    debug toolbar's way)."""
    (templates / "ext_page.html").write_text(PAGE)
    app = Firkin(__name__)
    app.secret_key = "k"
    app.jinja_env.globals["shout"] = shout

    @app.context_processor
    async def who() -> dict[str, str]:  # the app's, async
        await anyio.sleep(0)
        return {"who": "app-processor"}

    ext = Blueprint("ext", __name__, template_folder=str(templates), url_prefix="/ext")

    @ext.context_processor
    def where() -> dict[str, str]:  # the blueprint's, sync
        return {"where": "ext-processor"}

    @ext.before_request
    def load_user() -> None:
        g.user = "ada"
        session["name"] = "Ada"

    @ext.get("/page")
    def page() -> str:
        return flask.render_template("ext_page.html")

    @ext.get("/string")
    def string() -> str:
        return flask.render_template_string("{{ n * 2 }} {{ who }}", n=21)

    @ext.get("/stream")
    def stream() -> Response:
        body = flask.stream_template_string(
            "{% for i in range(3) %}{{ i }}:{{ request.args['q'] }}:{{ shout(g.user) }} {% endfor %}"
        )
        return Response(body, mimetype="text/plain")

    @app.get("/plain")
    async def plain() -> str:
        return "<body>content</body>"

    @app.get("/streamed")
    async def streamed() -> Response:
        async def parts() -> Any:
            yield "<body>"
            yield "streamed</body>"

        return Response(parts())

    @app.get("/in-the-loop")
    async def in_the_loop() -> str:
        return flask.render_template_string("{{ 1 }}")  # Flask's sync helper in an async view

    @app.after_request
    def toolbar(response: flask.Response) -> flask.Response:
        if flask.request.path in ("/plain", "/streamed"):
            bar = flask.render_template_string("<div id=bar>{{ who }} {{ request.path }}</div>")
            body = response.get_data()  # sync, as Flask's API: bytes
            assert type(body) is bytes  # (plain bytes: a cache may pickle them)
            response.set_data(body.replace(b"</body>", bar.encode() + b"</body>"))
        return response

    app.register_blueprint(ext)
    return app


async def test_render_template_in_an_extensions_sync_view(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    rendered: list[tuple[str, Any, dict[str, Any]]] = []

    def before(sender: Any, template: Any, context: dict[str, Any], **extra: Any) -> None:
        rendered.append(("before", template, dict(context)))

    def after(sender: Any, template: Any, context: dict[str, Any], **extra: Any) -> None:
        rendered.append(("after", template, dict(context)))

    client = app.test_client()
    with flask.before_render_template.connected_to(before), flask.template_rendered.connected_to(after):
        response = await client.get("/ext/page")
        assert response.status_code == 200
        assert await response.get_data(as_text=True) == (
            "app-processor ext-processor /ext/page ada Ada /ext/page HI!"
        )
    assert [(kind, template.name) for kind, template, _ in rendered] == [
        ("before", "ext_page.html"),
        ("after", "ext_page.html"),
    ]
    assert isinstance(rendered[0][1], Template)
    assert rendered[0][2]["who"] == "app-processor"  # the processors ran before the signal
    assert rendered[0][2]["where"] == "ext-processor"

    response = await client.get("/ext/string")
    assert await response.get_data(as_text=True) == "42 app-processor"


async def test_stream_template_in_an_extensions_sync_view(tmp_path: Path) -> None:
    response = await make_app(tmp_path).test_client().get("/ext/stream?q=x")
    assert response.status_code == 200
    # request, g and the async global, while the body is made after the view returned (Flask's
    # stream_with_context pushes the request context in the generator, in a worker thread).
    assert await response.get_data(as_text=True) == "0:x:ADA! 1:x:ADA! 2:x:ADA! "


async def test_a_sync_after_request_hook_renders_into_the_page(tmp_path: Path) -> None:
    client = make_app(tmp_path).test_client()
    for path in ("/plain", "/streamed"):  # a body of data, and a streamed one read to the end
        response = await client.get(path)
        assert response.status_code == 200
        body = await response.get_data(as_text=True)
        assert type(body) is str
        content = "content" if path == "/plain" else "streamed"
        assert body == f"<body>{content}<div id=bar>app-processor {path}</div></body>"
        assert response.headers["Content-Length"] == str(len(body.encode()))


async def test_sync_rendering_on_the_event_loop_says_what_to_do_instead(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.testing = True  # the error reaches the test
    with pytest.raises(RuntimeError, match=r"firkin's is `await render_template\(\.\.\.\)`"):
        await app.test_client().get("/in-the-loop")


def test_render_template_without_an_event_loop(tmp_path: Path) -> None:
    # A script or a CLI command: no event loop runs, so one is made for the render.
    app = make_app(tmp_path)
    with app.app_context():
        assert flask.render_template_string("{{ who }} {{ shout('x') }}") == "app-processor X!"
        template = app.jinja_env.from_string("{{ shout(name) }}")
        assert isinstance(template, Template)
        assert template.render(name="y") == "Y!"  # Jinja's sync API, on the async environment
        assert list(template.generate(name="z")) == ["Z!"]


async def test_update_template_context_is_awaited_in_async_code(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.test_request_context("/ext/page"):
        context: dict[str, Any] = {"who": "given"}
        await app.update_template_context(context)
        assert context["who"] == "given"  # what the caller passed wins
        assert context["where"] == "ext-processor"
        assert context["request"].path == "/ext/page"


async def test_a_sync_generator_keeps_its_context_across_steps_and_when_closed() -> None:
    # What Flask's stream_with_context relies on: a `with` block around the yields sets a context
    # variable at the first step and resets it (with its token) at the end, or when closed early.
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[str] = []

    def generate() -> Iterator[str]:
        token = var.set("set")
        try:
            for i in range(3):
                yield f"{i}:{var.get()}"
        finally:
            seen.append(var.get())
            var.reset(token)  # LookupError/ValueError in another context than the set's

    assert [chunk async for chunk in iterate_in_thread(generate())] == ["0:set", "1:set", "2:set"]
    assert seen == ["set"]

    early = cast("AsyncGenerator[str, None]", iterate_in_thread(generate()))
    assert await early.__anext__() == "0:set"
    await early.aclose()  # the client left: the generator is closed in its own context
    assert seen == ["set", "set"]
    assert var.get() == "unset"


def test_flask_rendering_over_tapster(tmp_path: Path, serve: ServeFactory) -> None:
    running = serve(make_app(tmp_path))
    with httpx.Client(base_url=running.url) as client:
        page = client.get("/ext/page")
        assert page.status_code == 200
        assert page.text == "app-processor ext-processor /ext/page ada Ada /ext/page HI!"
        assert client.get("/ext/stream", params={"q": "y"}).text == "0:y:ADA! 1:y:ADA! 2:y:ADA! "
        plain = client.get("/plain")
        assert plain.text == "<body>content<div id=bar>app-processor /plain</div></body>"
        assert client.get("/in-the-loop").status_code == 500
