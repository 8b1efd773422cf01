"""One dispatch pipeline for requests and websockets: the same steps in the same order, the same error
rules, and each step overridable by a subclass (called by the pipeline) as Flask and Quart allow."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import pytest
from firkin import Blueprint, Firkin, Response, after_this_request, after_this_websocket, websocket

pytestmark = pytest.mark.anyio


def _app(events: list[str], kind: str, app_class: type[Firkin] = Firkin) -> Firkin:
    """An app with a blueprint and every kind of hook for `kind` ("request" or "websocket")."""
    app = app_class(__name__)
    app.secret_key = "k"
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    hook = {"request": "request", "websocket": "websocket"}[kind]
    after_this = after_this_request if kind == "request" else after_this_websocket

    def add(scaffold: Any, where: str) -> None:
        getattr(scaffold, f"before_{hook}")(lambda: events.append(f"before {where}"))

        def after(response: Any) -> Any:
            events.append(f"after {where}")
            return response

        getattr(scaffold, f"after_{hook}")(after)
        getattr(scaffold, f"teardown_{hook}")(lambda exc: events.append(f"teardown {where} {exc!r}"))

    add(app, "app")
    add(bp, "bp")

    @bp.url_value_preprocessor
    def values(endpoint: str | None, view_args: dict[str, Any] | None) -> None:
        events.append(f"values {endpoint} {view_args}")

    def note(response: Any) -> Any:
        events.append("after this")
        return response

    if kind == "request":

        @bp.get("/<int:n>")
        async def view(n: int) -> str:
            after_this(note)
            events.append(f"view {n}")
            return "ok"

        @bp.get("/fail")
        async def fail() -> str:
            raise ValueError("boom")

    else:

        @bp.websocket("/<int:n>")
        async def handler(n: int) -> None:
            after_this(note)
            events.append(f"view {n}")
            await websocket.accept()
            await websocket.send("ok")

        @bp.websocket("/fail")
        async def fail_ws() -> None:
            raise ValueError("boom")

    app.register_blueprint(bp)
    return app


async def _run(app: Firkin, kind: str, path: str) -> Any:
    client = app.test_client()
    if kind == "request":
        return await (await client.get(path)).get_data()
    async with client.websocket(path) as ws:
        return await ws.receive()


@pytest.mark.parametrize("kind", ["request", "websocket"])
async def test_the_steps_run_in_the_same_order_for_both(kind: str) -> None:
    events: list[str] = []
    app = _app(events, kind)
    assert await _run(app, kind, "/bp/7") in (b"ok", "ok")
    endpoint = "bp.view" if kind == "request" else "bp.handler"
    assert events == [
        f"values {endpoint} {{'n': 7}}",
        "before app",
        "before bp",
        "view 7",
        "after this",
        "after bp",
        "after app",
        "teardown bp None",
        "teardown app None",
    ]


@pytest.mark.parametrize("kind", ["request", "websocket"])
@pytest.mark.parametrize(
    ("config", "propagates"), [({}, False), ({"DEBUG": True}, True), ({"TESTING": True}, True)]
)
async def test_errors_propagate_by_the_same_rule_for_both(
    kind: str, config: dict[str, Any], propagates: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Flask's rule, for requests and (before, only under TESTING) websockets alike: PROPAGATE_EXCEPTIONS,
    # else testing or debug mode.
    events: list[str] = []
    app = _app(events, kind)
    app.config.update(config)
    if propagates:
        with pytest.raises(ValueError, match="boom"):
            await _run(app, kind, "/bp/fail")
        return
    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        if kind == "request":
            client = app.test_client()
            response = await client.get("/bp/fail")
            assert response.status_code == 500
        else:
            from firkin.testing import WebsocketResponseError

            with pytest.raises(WebsocketResponseError) as refused:
                await _run(app, kind, "/bp/fail")
            assert refused.value.response.status_code == 500
    where = "GET /bp/fail" if kind == "request" else "websocket /bp/fail"
    assert [r.getMessage() for r in caplog.records] == [f"Exception on {where}"]
    assert events[-2:] == ["teardown bp ValueError('boom')", "teardown app ValueError('boom')"]


@pytest.mark.parametrize("kind", ["request", "websocket"])
async def test_a_subclass_step_is_called_by_the_pipeline(kind: str) -> None:
    events: list[str] = []
    suffix = "request" if kind == "request" else "websocket"
    process = "process_response" if kind == "request" else "postprocess_websocket"

    class Custom(Firkin):
        pass

    async def preprocess(self: Firkin) -> Any:
        events.append("custom preprocess")
        return await getattr(Firkin, f"preprocess_{suffix}")(self)

    async def postprocess(self: Firkin, response: Any) -> Any:
        events.append("custom process")
        return await getattr(Firkin, process)(self, response)

    async def teardown(self: Firkin, exc: BaseException | None, *, sync: bool = False) -> None:
        events.append("custom teardown")
        await getattr(Firkin, f"do_teardown_{suffix}")(self, exc, sync=sync)

    setattr(Custom, f"preprocess_{suffix}", preprocess)
    setattr(Custom, process, postprocess)
    setattr(Custom, f"do_teardown_{suffix}", teardown)
    app = _app(events, kind, Custom)
    await _run(app, kind, "/bp/3")
    assert events.index("custom preprocess") < events.index("before app")
    assert events.index("custom process") < events.index("after this")
    assert events.index("custom teardown") < events.index("teardown bp None")


async def test_a_step_called_directly_runs_for_the_current_context() -> None:
    events: list[str] = []
    app = _app(events, "request")
    async with app.test_request_context("/bp/5"):
        assert await app.preprocess_request() is None
        assert events == ["values bp.view {'n': 5}", "before app", "before bp"]
        response = await app.finalize_request("made")
        assert isinstance(response, Response)
        assert await response.get_data() == b"made"
    with pytest.raises(RuntimeError, match="Working outside of request context"):
        await app.dispatch_request()
    with pytest.raises(RuntimeError, match="Working outside of websocket context"):
        await app.dispatch_websocket()


@pytest.mark.parametrize("path", ["/abort", "/handled", "/boom", "/ok"])
async def test_error_responses_leave_no_cycles_for_the_garbage_collector(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A handled exception's traceback holds the frames it passed, which hold the request: kept, it
    # made a reference cycle on every abort(404) (a gen-0 collection every 30 requests under load).
    import gc

    from firkin import abort

    app = Firkin(__name__)

    @app.get("/abort")
    async def aborting() -> str:
        abort(404)

    @app.errorhandler(KeyError)
    async def key_error(error: KeyError) -> tuple[str, int]:
        return "no such key", 400

    @app.get("/handled")
    async def handled() -> str:
        raise KeyError("x")

    @app.get("/boom")
    async def boom() -> str:
        raise ValueError("boom")

    @app.get("/ok")
    async def ok() -> str:
        return "ok"

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(dict(scope), receive, send)  # first-request work (caches) out of the count
    caplog.set_level(logging.CRITICAL, logger=app.logger.name)
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            await app(dict(scope), receive, send)
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert statuses[-1] == {"/abort": 404, "/handled": 400, "/boom": 500, "/ok": 200}[path]
    assert unreachable == 0


async def test_a_preprocess_request_replaced_on_the_app_is_called() -> None:
    """Extensions replace `app.preprocess_request` on the instance; with before hooks to run, the
    pipeline calls the replacement (which may call the original), inside blueprints too."""
    app = Firkin(__name__)
    calls: list[str] = []
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.before_request
    async def in_bp() -> None:
        calls.append("bp hook")

    @bp.get("/")
    async def bp_index() -> str:
        return "bp"

    @app.get("/")
    async def index() -> str:
        return "app"

    app.register_blueprint(bp)
    original = app.preprocess_request

    async def replaced() -> Any:
        calls.append("replaced")
        return await original()

    app.preprocess_request = replaced  # type: ignore[method-assign]
    client = app.test_client()
    assert await (await client.get("/bp/")).get_data() == b"bp"
    assert calls == ["replaced", "bp hook"]
    calls.clear()
    assert await (await client.get("/")).get_data() == b"app"
    assert calls == []  # no hook applies outside the blueprint: nothing to preprocess
