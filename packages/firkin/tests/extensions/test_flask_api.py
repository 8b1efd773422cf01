"""What a Flask extension relies on, without any extension: inside firkin's contexts `flask`'s globals,
helpers and signals are firkin's, and the request data and `make_response` work from sync code."""

from __future__ import annotations

import io
from typing import Any

import flask
import flask.globals
import pytest
from firkin import Firkin, Response, request, websocket
from firkin.globals import _cv_app, _cv_request
from firkin.testing import WebsocketResponseError
from werkzeug.datastructures import MultiDict

pytestmark = pytest.mark.anyio


def test_firkin_contexts_live_in_flasks_context_variables() -> None:
    # The fence around the Flask private names firkin uses (checked with Flask 3.1): if Flask moves
    # or renames them, this fails, not the extensions at run time.
    flask_vars: tuple[object, object] = (flask.globals._cv_app, flask.globals._cv_request)
    assert flask_vars == (_cv_app, _cv_request)
    assert flask_vars[0] is _cv_app


async def test_flask_globals_are_firkins_in_a_request() -> None:
    app = Firkin(__name__)
    app.secret_key = "k"
    seen: dict[str, Any] = {}

    @app.get("/<name>")
    async def view(name: str) -> str:
        flask.g.name = name
        flask.session["name"] = name
        seen.update(
            app=flask.current_app._get_current_object(),  # type: ignore[attr-defined]
            request=flask.request._get_current_object(),  # type: ignore[attr-defined]
            g=flask.g.name,
            session=dict(flask.session),
            has=(flask.has_app_context(), flask.has_request_context()),
            url=flask.url_for("view", name="x", _external=True),
            args=flask.request.args.get("q"),
        )
        return "ok"

    response = await app.test_client().get("/ada?q=1")
    assert response.status_code == 200
    assert seen["app"] is app
    assert isinstance(seen["request"], firkin_request_class(app))
    assert seen["g"] == "ada"
    assert seen["session"] == {"name": "ada"}
    assert seen["has"] == (True, True)
    assert seen["url"] == "http://localhost/x"
    assert seen["args"] == "1"
    assert not flask.has_app_context()
    assert not flask.has_request_context()


def firkin_request_class(app: Firkin) -> type[Any]:
    return app.request_class


async def test_flask_globals_in_a_sync_view_and_app_context() -> None:
    app = Firkin(__name__)

    @app.get("/")
    def view() -> str:  # runs in a worker thread
        return f"{flask.current_app.name} {flask.request.path}"

    response = await app.test_client().get("/")
    assert await response.get_data(as_text=True) == f"{app.name} /"
    async with app.app_context():
        assert flask.current_app._get_current_object() is app  # type: ignore[attr-defined]
        flask.g.x = 1
        assert flask.g.x == 1
        assert not flask.has_request_context()


async def test_flask_app_globals_in_a_websocket() -> None:
    app = Firkin(__name__)

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.send(f"{flask.current_app.name} {flask.has_request_context()}")

    async with app.test_client().websocket("/ws") as connection:
        assert await connection.receive() == f"{app.name} False"


async def test_flask_helpers_in_a_sync_view() -> None:
    app = Firkin(__name__)
    app.secret_key = "k"

    @app.get("/redirect")
    def go() -> Any:
        return flask.redirect(flask.url_for("target"))

    @app.get("/target")
    def target() -> Any:
        flask.flash("hello")
        return flask.jsonify(ok=True)

    @app.get("/messages")
    def messages() -> Any:
        return {"messages": flask.get_flashed_messages()}

    @app.get("/abort")
    def aborting() -> Any:
        flask.abort(418)

    @app.get("/made")
    def made() -> Any:
        response = flask.make_response("made", 201)
        assert isinstance(response, Response)
        response.headers["X-Made"] = "yes"
        return response

    client = app.test_client()
    response = await client.get("/redirect")
    assert (response.status_code, response.headers["Location"]) == (302, "/target")
    response = await client.get("/target")
    assert await response.get_json() == {"ok": True}
    response = await client.get("/messages")
    assert await response.get_json() == {"messages": ["hello"]}
    assert (await client.get("/abort")).status_code == 418
    response = await client.get("/made")
    assert (response.status_code, response.headers["X-Made"]) == (201, "yes")


async def test_flask_signals_hear_firkin_requests() -> None:
    app = Firkin(__name__)
    heard: list[tuple[str, Any]] = []

    def started(sender: Any, **extra: Any) -> None:
        heard.append(("started", sender))

    def rendered(sender: Any, template: Any, context: dict[str, Any], **extra: Any) -> None:
        heard.append(("rendered", context["name"]))

    @app.get("/")
    async def index() -> str:
        from firkin import render_template_string

        return await render_template_string("{{ name }}", name="ada")

    with flask.request_started.connected_to(started), flask.template_rendered.connected_to(rendered):
        response = await app.test_client().get("/")
    assert await response.get_data(as_text=True) == "ada"
    assert heard == [("started", app), ("rendered", "ada")]


async def test_make_response_returns_a_response_that_can_be_awaited() -> None:
    app = Firkin(__name__)
    async with app.app_context():
        response = app.make_response(("body", 202))
        assert isinstance(response, Response)
        assert response.status_code == 202
        assert await app.make_response("x") is not None  # Quart's spelling still works
        awaited = await response
        assert awaited is response


async def test_sync_after_request_hook_calls_make_response() -> None:
    app = Firkin(__name__)

    @app.after_request
    def wrap(response: Response) -> Response:
        # What Flask-CORS and others do: make_response gives a response, not a coroutine.
        made = flask.current_app.make_response(response)
        made.headers["X-Hook"] = "sync"
        assert isinstance(made, Response)
        return made

    @app.get("/")
    async def index() -> str:
        return "hi"

    response = await app.test_client().get("/")
    assert response.headers["X-Hook"] == "sync"


async def test_extension_replacing_the_exception_handlers_with_sync_wrappers() -> None:
    # Flask-CORS's shape: handle_user_exception replaced on the instance by a sync function that
    # calls the original (async here) and passes the result to make_response.
    app = Firkin(__name__)

    def decorate(original: Any) -> Any:
        def wrapped(*args: Any) -> Response:
            response = app.make_response(original(*args))
            response.headers["X-Wrapped"] = "yes"
            return response

        return wrapped

    app.handle_user_exception = decorate(app.handle_user_exception)  # type: ignore[method-assign]
    app.handle_exception = decorate(app.handle_exception)  # type: ignore[method-assign]

    @app.errorhandler(418)
    def teapot(error: Exception) -> tuple[str, int]:  # a sync handler: a second worker thread
        return "short and stout", 418

    @app.get("/teapot")
    async def index() -> str:
        flask.abort(418)

    @app.get("/missing-handler")
    async def broken() -> str:
        raise KeyError("nobody handles this")

    client = app.test_client()
    response = await client.get("/teapot")
    assert response.status_code == 418
    assert response.headers["X-Wrapped"] == "yes"
    assert await response.get_data(as_text=True) == "short and stout"
    response = await client.get("/nowhere")
    assert (response.status_code, response.headers["X-Wrapped"]) == (404, "yes")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = await client.get("/missing-handler")
    assert (response.status_code, response.headers["X-Wrapped"]) == (500, "yes")


async def test_websocket_errors_skip_handlers_an_extension_replaced_for_http() -> None:
    app = Firkin(__name__)

    def http_only(*args: Any) -> Response:  # reads flask.request, which a websocket does not have
        raise AssertionError(f"called for {flask.request.path}")

    app.handle_user_exception = http_only  # type: ignore[method-assign,assignment]

    @app.errorhandler(403)
    async def forbidden(error: Exception) -> tuple[str, int]:
        return "no", 403

    @app.websocket("/ws")
    async def ws() -> None:
        flask.abort(403)

    with pytest.raises(WebsocketResponseError) as info:
        async with app.test_client().websocket("/ws") as connection:
            await connection.receive()
    assert info.value.response.status_code == 403


async def test_ensure_sync_runs_an_async_function_from_a_worker_thread() -> None:
    app = Firkin(__name__)

    async def async_view() -> str:
        return f"async in {request.path}"

    def sync_decorator_view() -> Any:  # what login_required and cache.cached do
        return flask.current_app.ensure_sync(async_view)()

    app.add_url_rule("/", "index", sync_decorator_view)
    response = await app.test_client().get("/")
    assert await response.get_data(as_text=True) == "async in /"
    assert app.ensure_sync(sync_decorator_view) is sync_decorator_view


async def test_ensure_sync_in_the_event_loop_says_what_to_do() -> None:
    app = Firkin(__name__)

    async def work() -> None:
        return None

    with pytest.raises(RuntimeError, match="synchronous code running in the event loop"):
        app.ensure_sync(work)()


async def test_sync_code_reads_the_body_as_in_flask() -> None:
    app = Firkin(__name__)
    seen: dict[str, Any] = {}

    @app.post("/json")
    def json_view() -> Any:
        seen["json"] = flask.request.get_json()
        seen["data"] = flask.request.get_data()
        seen["property"] = flask.request.json
        return "ok"

    @app.before_request
    def hook() -> None:  # an extension's hook: reads the form before the view
        if flask.request.path == "/form":
            seen["hook"] = flask.request.form.get("name")

    @app.post("/form")
    async def form_view() -> Any:
        form = await request.form  # already read by the hook: the same dict, awaited
        files = await request.files
        values = await request.values
        return {
            "name": form["name"],
            "file": files["upload"].read().decode(),
            "values": values.get("name"),
            "sync": flask.request.form["name"],  # usable without await once read
        }

    client = app.test_client()
    response = await client.post("/json", json={"a": 1})
    assert response.status_code == 200
    assert seen["json"] == {"a": 1} == seen["property"]
    assert seen["data"] == b'{"a": 1}'
    response = await client.post(
        "/form", form={"name": "ada"}, files={"upload": (io.BytesIO(b"contents"), "a.txt")}
    )
    assert await response.get_json() == {"name": "ada", "file": "contents", "values": "ada", "sync": "ada"}
    assert seen["hook"] == "ada"


async def test_sync_body_reads_keep_the_limits() -> None:
    app = Firkin(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 10

    @app.post("/")
    def view() -> Any:
        return {"form": flask.request.form.to_dict()}

    response = await app.test_client().post("/", form={"name": "a" * 50})
    assert response.status_code == 413


async def test_unread_form_used_synchronously_in_the_event_loop_says_what_to_do() -> None:
    app = Firkin(__name__)

    @app.post("/")
    async def view() -> Any:
        with pytest.raises(RuntimeError, match=r"Read it first in your `async def` view"):
            flask.request.form.get("name")
        form = await request.form
        return {"name": flask.request.form.get("name"), "again": form.get("name")}

    response = await app.test_client().post("/", form={"name": "ada"})
    assert await response.get_json() == {"name": "ada", "again": "ada"}


def test_plain_with_request_context_reads_a_test_body() -> None:
    app = Firkin(__name__)
    with app.test_request_context("/", method="POST", json={"a": [1]}):
        assert flask.request.get_json() == {"a": [1]}
        assert flask.request.form == MultiDict()


class Greeter:
    """An extension in Flask's usual shape: init_app sets config defaults, registers itself in
    app.extensions and teardown hooks, adds a flask.Blueprint with a view and a CLI command."""

    def __init__(self, app: Any = None) -> None:
        self.torn_down: list[tuple[str, str]] = []
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> None:
        app.config.setdefault("GREETER_WORD", "hello")
        app.extensions["greeter"] = self
        app.teardown_request(self._teardown_request)
        app.teardown_appcontext(self._teardown_appcontext)
        bp = flask.Blueprint("greeter", __name__, url_prefix="/greet")

        @bp.get("/<name>")
        def greet(name: str) -> Any:
            word = flask.current_app.config["GREETER_WORD"]

            @flask.after_this_request
            def sign(response: Any) -> Any:
                response.headers["X-Greeter"] = word
                return response

            return flask.jsonify(greeting=f"{word} {name}", url=flask.url_for("greeter.greet", name=name))

        @bp.cli.command("greet")
        def greet_command() -> None:
            ext = flask.current_app.extensions["greeter"]
            print(f"{flask.current_app.config['GREETER_WORD']} from {type(ext).__name__}")

        app.register_blueprint(bp)

    def _teardown_request(self, error: BaseException | None) -> None:
        self.torn_down.append(("request", flask.request.path))

    def _teardown_appcontext(self, error: BaseException | None) -> None:
        self.torn_down.append(("app", flask.current_app.name))


async def test_an_extension_blueprint_config_and_registry() -> None:
    app = Firkin(__name__)
    app.config["GREETER_WORD"] = "ahoy"
    Greeter(app)
    response = await app.test_client().get("/greet/ada")
    assert await response.get_json() == {"greeting": "ahoy ada", "url": "/greet/ada"}
    assert response.headers["X-Greeter"] == "ahoy"
    greeter = app.extensions["greeter"]
    assert isinstance(greeter, Greeter)
    assert greeter.torn_down == [("request", "/greet/ada"), ("app", app.name)]
    other = Firkin(__name__)
    Greeter(other)
    assert other.config["GREETER_WORD"] == "hello"


def test_an_extension_cli_command() -> None:
    app = Firkin(__name__)
    app.config["GREETER_WORD"] = "ahoy"
    Greeter(app)
    result = app.test_cli_runner().invoke(args=["greeter", "greet"])
    assert result.exit_code == 0, result.output
    assert result.output == "ahoy from Greeter\n"
