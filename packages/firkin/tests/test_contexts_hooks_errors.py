"""Contexts, hooks, error handlers, signals and sessions."""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie
from typing import Any

import anyio
import firkin
import pytest
from firkin import (
    Blueprint,
    Firkin,
    Response,
    after_this_request,
    copy_current_request_context,
    current_app,
    g,
    got_request_exception,
    has_app_context,
    has_request_context,
    request,
    session,
)
from werkzeug.exceptions import HTTPException, NotFound

pytestmark = pytest.mark.anyio


async def test_outside_context_errors_say_how_to_fix_it() -> None:
    with pytest.raises(RuntimeError, match=r"(?s)Working outside of request context.*test_request_context"):
        _ = request.path
    with pytest.raises(RuntimeError, match=r"(?s)Working outside of application context.*app_context"):
        _ = current_app.name
    assert not has_request_context()
    assert not has_app_context()


async def test_app_context_async_and_sync() -> None:
    app = Firkin(__name__)
    torn: list[object] = []

    @app.teardown_appcontext
    def teardown(exc: BaseException | None) -> None:
        torn.append(exc)

    async with app.app_context():
        assert current_app.name == app.name
        g.value = 1
        assert g.value == 1
    with app.app_context():
        assert has_app_context()
        assert "value" not in g
    assert torn == [None, None]


async def test_test_request_context_async_and_sync() -> None:
    app = Firkin(__name__)
    async with app.test_request_context("/path?x=1", method="POST", json={"a": 1}):
        assert request.path == "/path"
        assert request.args["x"] == "1"
        assert await request.get_json() == {"a": 1}
        assert has_request_context()
    with app.test_request_context("/sync"):
        assert request.path == "/sync"
        assert request.method == "GET"


async def test_plain_with_refuses_async_teardown_with_a_clear_message() -> None:
    app = Firkin(__name__)

    @app.teardown_appcontext
    async def teardown(exc: BaseException | None) -> None:
        import anyio

        await anyio.sleep(0)

    with pytest.raises(RuntimeError, match="use `async with`"), app.app_context():
        pass


async def test_hooks_run_in_order_and_before_request_can_answer() -> None:
    app = Firkin(__name__)
    calls: list[str] = []

    @app.before_request
    async def before() -> str | None:
        calls.append("before")
        return "short-circuit" if request.args.get("stop") else None

    @app.after_request
    async def after(response: Response) -> Response:
        calls.append("after")
        response.headers["X-After"] = "1"
        return response

    @app.after_request
    def after_sync(response: Response) -> Response:
        calls.append("after-sync")
        return response

    @app.teardown_request
    async def teardown(exc: BaseException | None) -> None:
        calls.append(f"teardown:{exc!r}")

    @app.get("/")
    async def index() -> str:
        calls.append("view")

        @after_this_request
        def once(response: Response) -> Response:
            calls.append("this-request")
            response.headers["X-Once"] = "1"
            return response

        return "ok"

    client = app.test_client()
    response = await client.get("/")
    assert response.headers["X-After"] == "1"
    assert response.headers["X-Once"] == "1"
    assert calls == ["before", "view", "this-request", "after-sync", "after", "teardown:None"]
    calls.clear()
    response = await client.get("/?stop=1")
    assert await response.get_data() == b"short-circuit"
    assert calls == ["before", "after-sync", "after", "teardown:None"]


async def test_error_handlers_by_code_class_and_base() -> None:
    app = Firkin(__name__)

    class Custom(Exception):
        pass

    @app.errorhandler(404)
    async def not_found(error: NotFound) -> tuple[str, int]:
        return f"missing {request.path}", 404

    @app.errorhandler(Custom)
    def custom(error: Custom) -> tuple[str, int]:
        return "custom handled", 409

    @app.errorhandler(HTTPException)
    async def any_http(error: HTTPException) -> tuple[str, int]:
        return f"http {error.code}", error.code or 500

    @app.get("/custom")
    async def raise_custom() -> str:
        raise Custom()

    @app.get("/teapot")
    async def teapot() -> str:
        firkin.abort(418)

    client = app.test_client()
    assert await (await client.get("/nowhere")).get_data() == b"missing /nowhere"
    conflict = await client.get("/custom")
    assert (conflict.status_code, await conflict.get_data()) == (409, b"custom handled")
    teapot_response = await client.get("/teapot")
    assert (teapot_response.status_code, await teapot_response.get_data()) == (418, b"http 418")


async def test_unhandled_exception_is_a_500_logged_and_signalled(caplog: pytest.LogCaptureFixture) -> None:
    app = Firkin(__name__)
    signalled: list[BaseException] = []

    @app.get("/")
    async def broken() -> str:
        raise ValueError("broken view")

    def receiver(sender: Firkin, exception: BaseException, **extra: Any) -> None:
        signalled.append(exception)

    got_request_exception.connect(receiver, app)
    try:
        with caplog.at_level(logging.ERROR):
            response = await app.test_client().get("/")
    finally:
        got_request_exception.disconnect(receiver, app)
    assert response.status_code == 500
    assert b"Internal Server Error" in await response.get_data()
    assert any(r.exc_info and "broken view" in str(r.exc_info[1]) for r in caplog.records)
    assert [str(e) for e in signalled] == ["broken view"]


async def test_errorhandler_for_500_and_exception() -> None:
    app = Firkin(__name__)

    @app.errorhandler(500)
    async def server_error(error: Exception) -> tuple[str, int]:
        return "sorry", 500

    @app.get("/")
    async def broken() -> str:
        raise KeyError("x")

    response = await app.test_client().get("/")
    assert (response.status_code, await response.get_data()) == (500, b"sorry")


async def test_testing_mode_propagates_exceptions() -> None:
    app = Firkin(__name__)
    app.testing = True

    @app.get("/")
    async def broken() -> str:
        raise ValueError("propagated")

    with pytest.raises(ValueError, match="propagated"):
        await app.test_client().get("/")


async def test_blueprint_hooks_and_error_handlers_are_scoped() -> None:
    app = Firkin(__name__)
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    seen: list[str] = []

    @bp.before_request
    async def bp_before() -> None:
        seen.append("bp-before")

    @bp.errorhandler(404)
    async def bp_404(error: Exception) -> tuple[str, int]:
        return "bp 404", 404

    @bp.get("/x")
    async def x() -> str:
        firkin.abort(404)

    @app.get("/y")
    async def y() -> str:
        firkin.abort(404)

    app.register_blueprint(bp)
    client = app.test_client()
    in_bp = await client.get("/bp/x")
    assert (in_bp.status_code, await in_bp.get_data()) == (404, b"bp 404")
    # Outside the blueprint: werkzeug's own 404 page, not the blueprint's handler (nor a 500).
    outside = await client.get("/y")
    assert (outside.status_code, await outside.get_data(as_text=True)) == (404, NotFound().get_body())
    assert seen == ["bp-before"]


async def test_g_and_request_in_sync_views_and_hooks() -> None:
    app = Firkin(__name__)

    @app.before_request
    def load_user() -> None:
        g.user = request.args.get("user", "anon")

    @app.get("/")
    def index() -> str:
        return f"hello {g.user}"

    assert await (await app.test_client().get("/?user=ann")).get_data() == b"hello ann"


async def test_copy_current_request_context() -> None:
    app = Firkin(__name__)
    results: list[str] = []

    @app.get("/")
    async def index() -> str:
        @copy_current_request_context
        async def later() -> None:
            results.append(request.path)

        app.add_background_task(later)
        return "ok"

    async with app.test_app():
        await app.test_client().get("/")
    assert results == ["/"]


async def test_sessions_round_trip_and_transaction() -> None:
    app = Firkin(__name__)
    app.secret_key = "secret"

    @app.get("/count")
    async def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    client = app.test_client()
    for expected in (b"1", b"2", b"3"):
        assert await (await client.get("/count")).get_data() == expected
    async with client.session_transaction() as sess:
        assert sess["n"] == 3
        sess["n"] = 10
    assert await (await client.get("/count")).get_data() == b"11"


async def test_secret_key_fallbacks_still_read_old_sessions() -> None:
    app = Firkin(__name__)
    app.secret_key = "old"

    @app.get("/read")
    async def read() -> str:
        return str(session.get("who"))

    @app.get("/write")
    async def write() -> str:
        session["visits"] = 1
        return "written"

    client = app.test_client()
    async with client.session_transaction() as sess:
        sess["who"] = "me"
    signed_with_old = client.get_cookie("session")
    assert signed_with_old is not None
    app.secret_key = "new"
    app.config["SECRET_KEY_FALLBACKS"] = ["old"]
    assert await (await client.get("/read")).get_data() == b"me"
    # Written again: signed with the current key, which alone reads it.
    assert await (await client.get("/write")).get_data() == b"written"
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert await (await client.get("/read")).get_data() == b"me"
    client.set_cookie("session", signed_with_old)
    assert await (await client.get("/read")).get_data() == b"None"  # the old key is no longer trusted


async def test_session_cookie_options() -> None:
    app = Firkin(__name__)
    app.secret_key = "secret"
    app.config.update(SESSION_COOKIE_NAME="sid", SESSION_COOKIE_SECURE=True, SESSION_COOKIE_SAMESITE="Lax")

    @app.get("/")
    async def index() -> str:
        session["a"] = 1
        return "ok"

    jar: SimpleCookie = SimpleCookie()
    jar.load((await app.test_client().get("/")).headers["Set-Cookie"])
    assert list(jar) == ["sid"]
    cookie = jar["sid"]
    assert (cookie["secure"], cookie["httponly"], cookie["samesite"], cookie["path"]) == (
        True,
        True,
        "Lax",
        "/",
    )
    assert (cookie["expires"], cookie["max-age"], cookie["domain"]) == ("", "", "")  # not permanent


async def test_lifespan_hooks_and_background_tasks() -> None:
    app = Firkin(__name__)
    events: list[str] = []

    @app.before_serving
    async def startup() -> None:
        events.append("before")

    @app.after_serving
    def shutdown() -> None:
        events.append("after")

    @app.while_serving
    async def lifespan() -> Any:
        events.append("while-start")
        yield
        events.append("while-end")

    @app.get("/")
    async def index() -> str:
        async def work(value: str) -> None:
            events.append(f"task {value} {current_app.name}")

        app.add_background_task(work, "x")
        return "ok"

    async with app.test_app() as test_app:
        assert events == ["before", "while-start"]
        await test_app.test_client().get("/")
    # Shutdown is startup reversed: the while_serving generators end before the after_serving
    # functions run (Quart 0.22's order).
    assert events == ["before", "while-start", f"task x {app.name}", "while-end", "after"]


def app_with_slow_background_task(seconds: float, events: list[str]) -> Firkin:
    """GET / starts a background task that sleeps `seconds`, then records; hooks record too."""
    app = Firkin(__name__)

    @app.after_serving
    async def shutdown() -> None:
        events.append("after_serving")
        await anyio.sleep(0.05)  # a cancelled-too-late task would get the loop here
        events.append("after_serving done")

    @app.get("/")
    async def index() -> str:
        async def work() -> None:
            events.append(f"task started in {current_app.name}")
            try:
                await anyio.sleep(seconds)
            except anyio.get_cancelled_exc_class():
                events.append("task cancelled")
                raise
            events.append("task done")

        app.add_background_task(work)
        return "ok"

    return app


async def wait_until_started(events: list[str]) -> None:
    with anyio.fail_after(5):
        while not events:
            await anyio.sleep(0.001)


async def test_shutdown_waits_for_a_background_task_that_awaits() -> None:
    events: list[str] = []
    app = app_with_slow_background_task(0.3, events)
    async with app.test_app() as test_app:
        started = anyio.current_time()
        response = await test_app.test_client().get("/")
        assert (response.status_code, await response.get_data()) == (200, b"ok")
        await wait_until_started(events)
        assert events == [f"task started in {app.name}"]  # answered; the task still sleeping
    # Shutdown waited for the task to finish before after_serving ran.
    assert events == [f"task started in {app.name}", "task done", "after_serving", "after_serving done"]
    assert anyio.current_time() - started >= 0.3


async def test_a_background_task_past_the_shutdown_bound_is_cancelled_before_after_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []
    app = app_with_slow_background_task(30, events)
    app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = 0.2
    with caplog.at_level(logging.WARNING):
        async with app.test_app() as test_app:
            await test_app.test_client().get("/")
            await wait_until_started(events)
            started = anyio.current_time()  # shutdown starts after this
    took = anyio.current_time() - started
    # Waited for the bound, then cancelled the task, and only then ran after_serving (which may
    # close what the task was using).
    assert events == [f"task started in {app.name}", "task cancelled", "after_serving", "after_serving done"]
    assert 0.2 <= took < 5
    assert [r.getMessage() for r in caplog.records if r.name == app.logger.name] == [
        "Background tasks still running after 0.2 s at shutdown: cancelled"
    ]


@pytest.mark.parametrize("loops", [("asyncio", "trio"), ("trio", "asyncio")])
def test_one_app_served_on_one_loop_then_the_other(loops: tuple[str, str]) -> None:
    # A test suite may serve one app object on asyncio and then on trio: nothing the first run made
    # for its loop (the background tasks' bookkeeping) may break the second one's shutdown.
    events: list[str] = []
    app = app_with_slow_background_task(0.01, events)

    async def serve_once(with_task: bool) -> None:
        async with app.test_app() as test_app:
            if with_task:
                await test_app.test_client().get("/")
                await wait_until_started(events)

    for loop in loops:
        for with_task in (False, True):  # the first shutdown on each loop has no task to wait for
            events.clear()
            anyio.run(serve_once, with_task, backend=loop)
            task = [f"task started in {app.name}", "task done"] if with_task else []
            assert events == [*task, "after_serving", "after_serving done"]


async def test_debug_mode_propagates_and_the_dev_server_shows_the_traceback_page() -> None:
    import httpx
    from firkin.debug import DebugMiddleware

    from conftest import start_server

    app = Firkin(__name__)

    @app.get("/")
    async def broken_view() -> str:
        raise LookupError("where is <it>")

    app.debug = True  # as in Flask: the exception reaches the caller (here the test client)
    with pytest.raises(LookupError):
        await app.test_client().get("/")
    # What `firkin run --debug` serves: the page, over a real socket.
    server = start_server(DebugMiddleware(app), "asyncio")
    try:
        async with httpx.AsyncClient() as client:
            page = await client.get(f"{server.url}/")
    finally:
        server.stop()
    assert page.status_code == 500
    assert "LookupError: where is &lt;it&gt;" in page.text
    assert "broken_view" in page.text
    assert "Traceback" in page.text
    app.debug = False
    plain = await app.test_client().get("/")
    assert plain.status_code == 500
    assert "broken_view" not in await plain.get_data(as_text=True)


async def test_failing_startup_and_shutdown_are_reported_to_the_server() -> None:
    from firkin.testing import LifespanError

    app = Firkin(__name__)

    @app.before_serving
    async def broken_startup() -> None:
        raise ConnectionError("database unreachable")

    with pytest.raises(LifespanError, match="ConnectionError: database unreachable"):
        async with app.test_app():
            pass

    app = Firkin(__name__)

    @app.after_serving
    async def broken_shutdown() -> None:
        raise OSError("flush failed")

    with pytest.raises(LifespanError, match="OSError: flush failed"):
        async with app.test_app():
            pass


async def test_blueprint_hooks_run_for_their_requests_only_and_overrides_still_run() -> None:
    app = Firkin(__name__)
    calls: list[str] = []
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.before_request
    async def bp_hook() -> None:
        calls.append("bp")

    @bp.url_value_preprocessor
    def bp_values(endpoint: str | None, values: dict[str, object] | None) -> None:
        calls.append(f"values {endpoint}")

    @bp.get("/x")
    async def in_bp() -> str:
        return "in"

    @app.get("/y")
    async def outside() -> str:
        return "out"

    app.register_blueprint(bp)
    client = app.test_client()
    assert await (await client.get("/y")).get_data() == b"out"
    assert calls == []  # the blueprint's hooks are not the app's
    assert await (await client.get("/bp/x")).get_data() == b"in"
    assert calls == ["values bp.in_bp", "bp"]

    class Counting(Firkin):
        async def preprocess_request(self) -> Any:
            calls.append("override")
            return await super().preprocess_request()

    sub = Counting(__name__)
    sub.register_blueprint(Blueprint("other", __name__))

    @sub.get("/z")
    async def z() -> str:
        return "z"

    sub.before_request_funcs.setdefault("other", []).append(lambda: None)
    calls.clear()
    assert await (await sub.test_client().get("/z")).get_data() == b"z"
    assert calls == ["override"]  # a subclass's preprocess_request is always called


async def test_the_proxies_forward_reads_writes_and_deletes_and_say_when_unbound() -> None:
    """firkin's proxies forward attribute access by one method of their own (not werkzeug's
    descriptor chain); everything else is LocalProxy's, bound or not."""
    from firkin import Request, current_app, g, request, session
    from werkzeug.local import LocalProxy

    app = Firkin(__name__)
    app.secret_key = "k"

    @app.get("/")
    async def index() -> str:
        g.user = "ann"
        assert g.user == "ann"
        assert "user" in g
        del g.user
        assert "user" not in g
        session["seen"] = True
        request.marker = 1  # type: ignore[attr-defined]
        del request.marker  # type: ignore[attr-defined]
        assert not hasattr(request, "marker")
        assert isinstance(request, Request)
        assert isinstance(request, LocalProxy)
        assert bool(request)
        assert request == request._get_current_object()
        return f"{current_app.name} {request.method} {request.args.get('q')} {session['seen']}"

    response = await app.test_client().get("/?q=x")
    assert await response.get_data() == f"{app.name} GET x True".encode()

    unbound: tuple[tuple[Any, str], ...] = (
        (request, "request context"),
        (g, "application context"),
        (session, "request and websocket"),
    )
    for proxy, words in unbound:
        assert not proxy
        assert repr(proxy) == "<LocalProxy unbound>"
        with pytest.raises(RuntimeError, match=words):
            proxy.anything  # noqa: B018
        with pytest.raises(RuntimeError, match=words):
            proxy.anything = 1
        with pytest.raises(RuntimeError, match=words):
            del proxy.anything
