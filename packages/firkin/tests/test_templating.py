"""Templates: rendering, autoescaping, the template context, blueprints, streaming, signals."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from firkin import (
    Blueprint,
    Firkin,
    before_render_template,
    g,
    get_template_attribute,
    has_request_context,
    render_template,
    render_template_string,
    request,
    session,
    stream_template,
    stream_template_string,
    template_rendered,
)
from firkin.templating import Environment
from firkin.testing.utils import make_scope_and_body
from jinja2 import Template, TemplateNotFound, TemplatesNotFound, nodes
from jinja2.ext import Extension

pytestmark = pytest.mark.anyio


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


@pytest.fixture
def app(tmp_path: Path) -> Firkin:
    templates = write(
        tmp_path / "templates",
        {
            "hello.html": "Hello {{ name }}!",
            "hello.txt": "Hello {{ name }}!",
            "context.html": (
                "{{ request.path }}|{{ url_for('context_view', page=2) }}|{{ session.get('user') }}"
                "|{{ g.who }}|{{ config.GREETING }}"
            ),
            "layout.html": "<main>{% block body %}{% endblock %}</main>",
            "child.html": "{% extends 'layout.html' %}{% block body %}{{ name }}{% endblock %}",
            "shared.html": "from the app",
            "stream.html": "{% for i in range(n) %}<p>{{ i }} {{ path() }}</p>\n{% endfor %}",
        },
    )
    app = Firkin(__name__, template_folder=str(templates))
    app.config.update(SECRET_KEY="test secret", GREETING="hi")
    return app


async def asgi_get(app: Firkin, path: str) -> tuple[int, list[bytes]]:
    """GET `path` through the app's ASGI interface: the status and each body message's bytes."""
    scope, body = make_scope_and_body(app, path)
    sent: list[MutableMapping[str, Any]] = []
    delivered = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, [m.get("body", b"") for m in sent if m["type"] == "http.response.body"]


# ----------------------------------------------------------------- the environment


async def test_environment_is_async_and_configured(app: Firkin) -> None:
    env = app.jinja_env
    assert isinstance(env, Environment)
    assert env.is_async
    assert env.auto_reload is False  # TEMPLATES_AUTO_RELOAD None and not debug

    debug_app = Firkin(__name__)
    debug_app.config["DEBUG"] = True
    assert debug_app.jinja_env.auto_reload is True
    fixed = Firkin(__name__)
    fixed.config.update(DEBUG=True, TEMPLATES_AUTO_RELOAD=False)
    assert fixed.jinja_env.auto_reload is False

    class Custom(Firkin):
        jinja_options = {"trim_blocks": True, "enable_async": False}  # noqa: RUF012 - as in Flask

    custom = Custom(__name__)
    assert custom.jinja_env.trim_blocks is True
    assert custom.jinja_env.is_async  # the render functions need Jinja's async mode


async def test_render_with_context_and_autoescape(app: Firkin) -> None:
    async with app.app_context():
        assert await render_template("hello.html", name="<b>") == "Hello &lt;b&gt;!"
        assert await render_template("hello.txt", name="<b>") == "Hello <b>!"
        assert await render_template_string("{{ x }}", x="<i>") == "&lt;i&gt;"
        assert await render_template("child.html", name="&") == "<main>&amp;</main>"
        assert await render_template_string("{{ v|tojson }}", v={"a": "<"}) == '{"a": "\\u003c"}'


async def test_render_in_a_view(app: Firkin) -> None:
    @app.get("/hello/<name>")
    async def hello(name: str) -> str:
        return await render_template("hello.html", name=name)

    response = await app.test_client().get("/hello/<script>")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert await response.get_data(as_text=True) == "Hello &lt;script&gt;!"


async def test_request_session_g_config_and_url_for_in_templates(app: Firkin) -> None:
    @app.get("/context/<int:page>")
    async def context_view(page: int) -> str:
        session["user"] = "ann"
        g.who = "me"
        return await render_template("context.html")

    response = await app.test_client().get("/context/1")
    assert await response.get_data(as_text=True) == "/context/1|/context/2|ann|me|hi"

    # Outside a request: `g` and `config` still work; `url_for` builds external URLs.
    app.config["SERVER_NAME"] = "example.com"
    async with app.app_context():
        g.who = "cli"
        text = await render_template_string(
            "{{ g.who }} {{ config.GREETING }} {{ url_for('context_view', page=3) }}"
        )
    assert text == "cli hi http://example.com/context/3"


async def test_included_templates_see_the_proxies(app: Firkin) -> None:
    write(Path(app.template_folder or ""), {"part.html": "{{ request.path }}"})

    @app.get("/include")
    async def include() -> str:
        return await render_template_string("{% include 'part.html' without context %}")

    assert await (await app.test_client().get("/include")).get_data() == b"/include"


async def test_filters_globals_and_tests(app: Firkin) -> None:
    @app.template_filter()
    def reverse(value: str) -> str:
        return value[::-1]

    @app.template_global("double")
    def double(value: int) -> int:
        return value * 2

    @app.template_global()
    async def fetch(key: str) -> str:  # Jinja's async mode awaits it
        return f"fetched {key}"

    @app.template_test("even")
    def is_even(value: int) -> bool:
        return value % 2 == 0

    bp = Blueprint("bp", __name__)

    @bp.app_template_filter("shout")
    def shout(value: str) -> str:
        return value.upper() + "!"

    app.register_blueprint(bp)
    source = (
        "{{ 'abc'|reverse }} {{ double(4) }} {{ fetch('x') }} {{ 4 is even }} {{ 3 is even }} {{ 'a'|shout }}"
    )
    async with app.app_context():
        assert await render_template_string(source) == "cba 8 fetched x True False A!"


async def test_context_processors_app_and_blueprint(app: Firkin, tmp_path: Path) -> None:
    @app.context_processor
    def sync_processor() -> dict[str, Any]:  # a sync hook: runs in a worker thread
        return {"where": "app", "user": "processor"}

    @app.context_processor
    async def async_processor() -> dict[str, Any]:
        return {"path_seen": request.path}

    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.context_processor
    async def bp_processor() -> dict[str, Any]:
        return {"where": "blueprint"}

    @bp.app_context_processor
    async def everywhere() -> dict[str, Any]:
        return {"everywhere": True}

    source = "{{ where }} {{ user }} {{ path_seen }} {{ everywhere }}"

    @app.get("/")
    async def index() -> str:
        return await render_template_string(source)

    @bp.get("/")
    async def bp_index() -> str:
        return await render_template_string(source, user="argument")  # arguments win

    app.register_blueprint(bp)
    client = app.test_client()
    assert await (await client.get("/")).get_data() == b"app processor / True"
    assert await (await client.get("/bp/")).get_data() == b"blueprint argument /bp/ True"


async def test_blueprint_template_folders(app: Firkin, tmp_path: Path) -> None:
    folder = write(
        tmp_path / "bp_templates",
        {"bp/page.html": "page of {{ request.blueprint }}", "shared.html": "from the blueprint"},
    )
    bp = Blueprint("bp", __name__, template_folder=str(folder))

    @bp.get("/page")
    async def page() -> str:
        return await render_template("bp/page.html")

    app.register_blueprint(bp)
    client = app.test_client()
    assert await (await client.get("/page")).get_data() == b"page of bp"
    async with app.app_context():
        # The app's folder is searched first (Flask's DispatchingJinjaLoader).
        assert await render_template("shared.html") == "from the app"
    assert "bp/page.html" in app.jinja_env.list_templates()


async def test_render_template_with_a_list_of_names(app: Firkin) -> None:
    async with app.app_context():
        assert await render_template(["missing.html", "hello.txt", "hello.html"], name="x") == "Hello x!"
        template = app.jinja_env.from_string("object {{ name }}")
        assert await render_template(["missing.html", template], name="y") == "object y"
        with pytest.raises(TemplatesNotFound):
            await render_template(["missing.html", "gone.html"])


async def test_template_not_found(app: Firkin) -> None:
    @app.get("/missing")
    async def missing() -> str:
        return await render_template("missing.html")

    @app.get("/missing-stream")
    async def missing_stream() -> AsyncIterator[str]:
        return await stream_template("missing.html")

    client = app.test_client()
    assert (await client.get("/missing")).status_code == 500
    assert (await client.get("/missing-stream")).status_code == 500
    async with app.app_context():
        with pytest.raises(TemplateNotFound):
            await render_template("missing.html")
    with pytest.raises(RuntimeError, match="outside of application context"):
        await render_template("hello.html")
    with pytest.raises(RuntimeError, match="outside of application context"):
        await stream_template_string("x")

    app.testing = True  # errors propagate to the test
    with pytest.raises(TemplateNotFound):
        await client.get("/missing")


# ----------------------------------------------------------------- streaming


async def test_stream_template_sends_many_chunks_with_the_request_context(app: Firkin) -> None:
    teardowns: list[str] = []

    @app.template_global()
    def path() -> str:
        return request.path  # the proxy: needs the request context while the body is sent

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        teardowns.append("teardown")

    @app.get("/stream")
    async def stream() -> AsyncIterator[str]:
        return await stream_template("stream.html", n=500)

    status, bodies = await asgi_get(app, "/stream")
    assert status == 200
    chunks = [body for body in bodies if body]
    assert len(chunks) > 1
    expected = "".join(f"<p>{i} /stream</p>\n" for i in range(500))
    assert b"".join(chunks).decode() == expected
    assert teardowns == ["teardown"]  # once, not again for the stream

    client = app.test_client()
    response = await client.get("/stream")
    assert await response.get_data(as_text=True) == expected
    response = await client.head("/stream")  # the stream is closed unsent
    assert response.status_code == 200
    assert await response.get_data() == b""


async def test_stream_template_string_keeps_url_for_session_and_g(app: Firkin) -> None:
    @app.get("/s/<name>")
    async def streamed(name: str) -> AsyncIterator[str]:
        session["user"] = name
        g.value = "from g"
        return await stream_template_string(
            "{{ url_for('streamed', name='x') }} {{ session['user'] }} {{ g.value }} {{ request.args['q'] }}"
        )

    response = await app.test_client().get("/s/ann?q=1")
    assert await response.get_data(as_text=True) == "/s/x ann from g 1"


async def test_stream_outlives_the_context_it_was_made_in(app: Firkin) -> None:
    @app.template_global()
    def path() -> str:
        return request.path

    async with app.test_request_context("/somewhere"):
        stream = await stream_template("stream.html", n=3)
    assert not has_request_context()
    text = "".join([chunk async for chunk in stream])
    assert text == "".join(f"<p>{i} /somewhere</p>\n" for i in range(3))
    assert not has_request_context()


async def test_stream_in_an_app_context_only(app: Firkin) -> None:
    async with app.app_context():
        g.value = 7
        stream = await stream_template_string("{% for i in range(3) %}{{ g.value + i }},{% endfor %}")
        assert [chunk async for chunk in stream if chunk] == ["7", ",", "8", ",", "9", ","]


async def test_closing_a_stream_early(app: Firkin) -> None:
    async with app.test_request_context("/"):
        stream = await stream_template_string("{% for i in range(100) %}{{ i }}{% endfor %}")
        assert isinstance(stream, AsyncIterator)
        first = await stream.__anext__()
        assert first == "0"
        await stream.aclose()  # type: ignore[attr-defined]
        assert request.path == "/"  # the outer context is intact


# ----------------------------------------------------------------- signals


async def test_render_signals(app: Firkin) -> None:
    recorded: list[tuple[str, Any, Template, dict[str, Any]]] = []

    def before(sender: Any, template: Template, context: dict[str, Any]) -> None:
        recorded.append(("before", sender, template, dict(context)))

    async def rendered(sender: Any, template: Template, context: dict[str, Any]) -> None:
        recorded.append(("rendered", sender, template, dict(context)))

    @app.get("/")
    async def index() -> str:
        return await render_template("hello.html", name="sig")

    with before_render_template.connected_to(before, app), template_rendered.connected_to(rendered, app):
        response = await app.test_client().get("/")
        assert await response.get_data() == b"Hello sig!"
        assert [name for name, *_ in recorded] == ["before", "rendered"]
        for _, sender, template, context in recorded:
            assert sender is app
            assert template.name == "hello.html"
            assert context["name"] == "sig"
            assert context["request"].path == "/"

        recorded.clear()
        async with app.test_request_context("/"):
            stream = await stream_template("hello.html", name="streamed")
            assert [name for name, *_ in recorded] == ["before"]
            assert "".join([chunk async for chunk in stream]) == "Hello streamed!"
        assert [name for name, *_ in recorded] == ["before", "rendered"]  # once the stream ended
        assert recorded[1][3]["name"] == "streamed"

        other = Firkin("other")
        recorded.clear()
        async with other.app_context():
            await render_template_string("x")
        assert recorded == []  # connected to `app` only
    async with app.app_context():
        await render_template("hello.html", name="after")
    assert len(recorded) == 0  # disconnected


async def test_no_signal_is_sent_without_receivers(app: Firkin, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not before_render_template.receivers
    assert not template_rendered.receivers
    calls: list[Any] = []

    async def spy(*args: Any, **kwargs: Any) -> None:
        calls.append(args)

    monkeypatch.setattr(app, "_signal", spy)
    async with app.test_request_context("/"):
        await render_template("hello.html", name="x")
        stream = await stream_template("hello.html", name="x")
        assert "".join([chunk async for chunk in stream]) == "Hello x!"
    assert calls == []

    # The spy does see the sends when somebody listens (so the check above can fail).
    def receiver(sender: Any, **kwargs: Any) -> None:
        pass

    with template_rendered.connected_to(receiver):
        async with app.app_context():
            await render_template("hello.html", name="x")
    assert len(calls) == 1


async def test_get_template_attribute(app: Firkin) -> None:
    write(
        Path(app.template_folder or ""),
        {"_macros.html": "{% macro hello(name) %}Hello {{ name }}!{% endmacro %}{% set answer = 42 %}"},
    )
    with pytest.raises(RuntimeError, match="application context"):
        await get_template_attribute("_macros.html", "hello")
    async with app.app_context():
        hello = await get_template_attribute("_macros.html", "hello")
        assert await hello("World") == "Hello World!"  # Quart's way: awaited
        assert hello("World") == "Hello World!"  # a body that never waits gives its string at once
        assert await get_template_attribute("_macros.html", "answer") == 42
        with pytest.raises(AttributeError):
            await get_template_attribute("_macros.html", "missing")


async def test_the_session_opens_only_if_the_template_uses_it(app: Firkin) -> None:
    opened: list[str] = []
    interface = app.session_interface
    open_now = interface.open_now  # type: ignore[attr-defined]

    def counting(app: Firkin, request: Any) -> Any:
        opened.append(request.path)
        return open_now(app, request)

    interface.open_now = counting  # type: ignore[attr-defined]  # the default interface, counted
    app.secret_key = "secret"

    @app.get("/plain")
    async def plain() -> str:
        return await render_template_string("<p>{{ request.path }}</p>")

    @app.get("/uses")
    async def uses() -> str:
        return await render_template_string("{% if session %}{{ session['who'] }}{% else %}nobody{% endif %}")

    @app.get("/login")
    async def login() -> str:
        session["who"] = "ann"
        return "ok"

    client = app.test_client()
    assert await (await client.get("/plain")).get_data() == b"<p>/plain</p>"
    assert opened == []  # rendered without reading the session cookie
    assert await (await client.get("/uses")).get_data() == b"nobody"
    await client.get("/login")
    assert await (await client.get("/uses")).get_data() == b"ann"
    assert opened == ["/uses", "/login", "/uses"]


class CallerTag(Extension):
    """A Jinja tag whose Python code calls `caller()` for its block, as Flask-Assets' `{% assets %}`
    and Flask-Caching's `{% cache %}` do: `{% twice %}...{% endtwice %}`."""

    tags = {"twice"}  # noqa: RUF012 - jinja's Extension declares it a set

    def parse(self, parser: Any) -> Any:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endtwice",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_twice"), [], [], body).set_lineno(lineno)

    def _twice(self, caller: Any) -> str:
        first = caller()
        assert isinstance(first, str)  # not a coroutine: the block ran at once
        return f"{first}|{caller()}"


async def test_macros_run_at_once_for_python_callers_and_still_wait_when_they_must(app: Firkin) -> None:
    app.jinja_env.add_extension(CallerTag)
    calls: list[str] = []

    async def fetch(name: str) -> str:  # an async global that really waits
        await anyio.sleep(0.001)
        calls.append(name)
        return name.upper()

    app.jinja_env.globals["fetch"] = fetch
    async with app.app_context():
        assert (
            await render_template_string("{% twice %}<b>{{ 1 + 1 }}</b>{% endtwice %}") == "<b>2</b>|<b>2</b>"
        )
        source = (
            "{% macro card(name) %}[{{ fetch(name) }}]{% endmacro %}"
            "{{ card('ada') }} {% set bob = card('bob') %}{{ bob }}"
            "{% macro outer() %}<{{ caller() }}>{% endmacro %}"
            "{% call outer() %}{{ fetch('cy') }}{% endcall %}"
        )
        assert await render_template_string(source) == "[ADA] [BOB]<CY>"  # waited, then went on
    assert calls == ["ada", "bob", "cy"]


async def test_render_template_in_plain_def_views_and_handlers(app: Firkin) -> None:
    # Flask's idioms, unchanged: in sync code (a worker thread) the helpers give the string. (They
    # are typed as their async use, so typed sync code says `Any` or casts.)
    @app.get("/sync/<name>")
    def sync_view(name: str) -> str:
        page = render_template("hello.html", name=name)
        assert isinstance(page, str)  # not a coroutine: usable as Flask's is
        return page.upper()

    @app.get("/sync-tuple")
    def sync_tuple() -> Any:
        return render_template_string("{{ n }} left", n=3), 202

    @app.errorhandler(404)
    def not_found(error: Exception) -> Any:
        return render_template_string("no {{ request.path }} here"), 404

    @app.get("/sync-stream")
    def sync_stream() -> Any:
        return stream_template_string("{% for i in range(3) %}{{ i }}{{ request.args['s'] }}{% endfor %}")

    client = app.test_client()
    assert await (await client.get("/sync-stream?s=;")).get_data() == b"0;1;2;"
    assert await (await client.get("/sync/ada")).get_data() == b"HELLO ADA!"
    response = await client.get("/sync-tuple")
    assert (response.status_code, await response.get_data()) == (202, b"3 left")
    response = await client.get("/nowhere")
    assert (response.status_code, await response.get_data()) == (404, b"no /nowhere here")


def test_render_template_in_a_script(app: Firkin) -> None:
    # No event loop at all (a script, a CLI command): rendered on a new one.
    with app.app_context():
        page: Any = render_template("hello.html", name="cli")
        assert page == "Hello cli!"
        write(Path(app.template_folder or ""), {"_m.html": "{% macro hi(n) %}hi {{ n }}{% endmacro %}"})
        hi: Any = get_template_attribute("_m.html", "hi")
        assert hi("cli") == "hi cli"


async def test_a_waiting_macro_is_cancelled_with_its_render(app: Firkin) -> None:
    # A macro whose body waits is resumed by the task that renders; cancelling that task (a client
    # that left, a timeout) cancels the body where it waits, and its cleanup runs.
    cleaned: list[str] = []

    async def slow() -> str:
        try:
            await anyio.sleep(30)
        finally:
            cleaned.append("slow")
        return "never"

    app.jinja_env.globals["slow"] = slow
    async with app.app_context():
        with anyio.move_on_after(0.05) as scope:
            await render_template_string("{% macro m() %}{{ slow() }}{% endmacro %}[{{ m() }}]")
    assert scope.cancelled_caught
    assert cleaned == ["slow"]
