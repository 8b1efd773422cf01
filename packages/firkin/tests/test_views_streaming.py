"""Class-based views and stream_with_context."""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import pytest
import trio
from firkin import Firkin, g, request
from firkin.ctx import stream_with_context
from firkin.testing import make_scope_and_body
from firkin.views import MethodView, View

pytestmark = pytest.mark.anyio


async def test_view_and_init_every_request() -> None:
    app = Firkin(__name__)
    created: list[int] = []

    class Hello(View):
        def __init__(self, greeting: str) -> None:
            created.append(1)
            self.greeting = greeting

        async def dispatch_request(self, name: str) -> str:  # type: ignore[override]
            return f"{self.greeting} {name}"

    class Shared(Hello):
        init_every_request = False

    app.add_url_rule("/hello/<name>", view_func=Hello.as_view("hello", "hi"))
    app.add_url_rule("/shared/<name>", view_func=Shared.as_view("shared", "yo"))
    client = app.test_client()
    created.clear()
    assert await (await client.get("/hello/a")).get_data() == b"hi a"
    assert await (await client.get("/hello/b")).get_data() == b"hi b"
    assert len(created) == 2
    created.clear()
    assert await (await client.get("/shared/c")).get_data() == b"yo c"
    assert await (await client.get("/shared/d")).get_data() == b"yo d"
    assert created == []


async def test_method_view_dispatches_and_sets_methods() -> None:
    app = Firkin(__name__)

    class Item(MethodView):
        async def get(self, item_id: int) -> dict[str, Any]:
            return {"id": item_id}

        def delete(self, item_id: int) -> tuple[str, int]:
            return "", 204

    assert Item.methods == {"GET", "DELETE"}
    app.add_url_rule("/items/<int:item_id>", view_func=Item.as_view("item"))
    client = app.test_client()
    assert await (await client.get("/items/3")).get_json() == {"id": 3}
    assert (await client.delete("/items/3")).status_code == 204
    assert (await client.post("/items/3")).status_code == 405
    head = await client.head("/items/3")
    assert head.status_code == 200


async def test_stream_with_context_keeps_request_and_g() -> None:
    app = Firkin(__name__)
    torn_down: list[int] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn_down.append(1)

    @app.get("/stream")
    async def stream() -> Any:
        g.who = "g-value"

        @stream_with_context
        async def body() -> AsyncIterator[str]:
            yield request.args["x"]
            yield ","
            yield g.who

        return body()

    @app.get("/sync-stream")
    async def sync_stream() -> Any:
        g.who = "sync-g"

        def body() -> Iterator[str]:
            yield request.path
            yield g.who

        return stream_with_context(body())

    client = app.test_client()
    assert await (await client.get("/stream?x=arg")).get_data() == b"arg,g-value"
    assert await (await client.get("/sync-stream")).get_data() == b"/sync-streamsync-g"
    assert torn_down == [1, 1]  # once per request, not again after the stream


async def test_stream_with_context_outside_a_request() -> None:
    async def body() -> AsyncIterator[str]:
        yield "x"

    with pytest.raises(RuntimeError, match="request context"):
        stream_with_context(body())


async def test_a_body_that_fails_midway_is_logged_and_not_hidden(caplog: pytest.LogCaptureFixture) -> None:
    app = Firkin(__name__)

    @app.get("/")
    async def index() -> Any:
        async def body() -> AsyncIterator[str]:
            yield "first"
            raise OSError("the disk went away")

        return body()

    with pytest.raises(OSError, match="the disk went away"):
        await app.test_client().get("/")
    assert any("Error while sending the response to GET /" in r.getMessage() for r in caplog.records)


async def test_stream_with_context_closes_what_it_wraps_when_closed_early() -> None:
    app = Firkin(__name__)
    closed: list[bool] = []

    async def body() -> AsyncIterator[str]:
        try:
            yield "a"
            yield "b"
        finally:
            closed.append(True)

    async with app.test_request_context("/"):
        wrapped = stream_with_context(body())
        assert await wrapped.__anext__() == "a"
        await wrapped.aclose()
    assert closed == [True]


def test_client_leaving_a_stream_leaves_no_unfinished_generator_on_trio() -> None:
    app = Firkin(__name__)

    @app.get("/")
    async def stream() -> AsyncIterator[str]:
        async def chunks() -> AsyncIterator[str]:
            yield "first"
            yield "second"

        return chunks()

    scope, _ = make_scope_and_body(app, "/")

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message.get("body"):
            raise OSError("the client left")  # what a server's send() does then

    async def main() -> None:
        await app(scope, receive, send)
        gc.collect()  # trio warns from its async generator finalizer hook, during collection

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trio.run(main)
    assert [str(warning.message) for warning in caught if warning.category is ResourceWarning] == []


async def test_view_decorators() -> None:
    import functools

    app = Firkin(__name__)
    calls: list[str] = []

    def plain(func: Any) -> Any:
        async def wrapper(**kwargs: Any) -> Any:
            calls.append("plain")
            return await func(**kwargs)

        return wrapper

    def wrapping(func: Any) -> Any:
        @functools.wraps(func)
        async def wrapper(**kwargs: Any) -> Any:
            calls.append(f"wraps {func.__name__} {func.view_class.__name__}")
            response = await func(**kwargs)
            return response, 201

        return wrapper

    class Item(MethodView):
        decorators = [wrapping, plain]  # noqa: RUF012 - Flask's API: a class attribute

        async def get(self, item_id: int) -> str:
            return f"item {item_id}"

    class Page(View):
        decorators = [plain]  # noqa: RUF012
        init_every_request = False

        def dispatch_request(self, **kwargs: Any) -> str:
            return "page"

    view = Item.as_view("item")
    assert view.view_class is Item  # type: ignore[attr-defined]
    assert view.methods == {"GET"}  # type: ignore[attr-defined]
    assert view.__name__ == "item"
    app.add_url_rule("/items/<int:item_id>", view_func=view)
    app.add_url_rule("/page", view_func=Page.as_view("page"))
    client = app.test_client()
    response = await client.get("/items/3")
    assert (response.status_code, await response.get_data()) == (201, b"item 3")
    # The first decorator is the innermost; it sees the view's attributes, set before decorating.
    assert calls == ["plain", "wraps item Item"]
    response = await client.get("/page")
    assert (response.status_code, await response.get_data()) == (200, b"page")
    assert (await client.post("/items/3")).status_code == 405
