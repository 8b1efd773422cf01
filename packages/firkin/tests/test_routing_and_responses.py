"""Routing, return values, redirects, aborts and url_for, through the test client on both loops."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from typing import Any

import pytest
from firkin import Blueprint, Firkin, Response, abort, jsonify, make_response, redirect, request, url_for
from werkzeug.datastructures import Headers
from werkzeug.exceptions import NotFound
from werkzeug.http import http_date

pytestmark = pytest.mark.anyio


def make_app() -> Firkin:
    app = Firkin(__name__)

    @app.route("/")
    async def index() -> str:
        return "index"

    @app.get("/user/<int:user_id>")
    async def user(user_id: int) -> dict[str, object]:
        return {"id": user_id}

    @app.post("/items")
    async def create() -> tuple[str, int]:
        return "created", 201

    @app.put("/items/<name>")
    async def put(name: str) -> str:
        return f"put {name}"

    @app.delete("/items/<name>")
    async def delete(name: str) -> tuple[str, int, dict[str, str]]:
        return "", 204, {"X-Deleted": name}

    @app.patch("/items/<name>")
    async def patch(name: str) -> tuple[str, dict[str, str]]:
        return f"patched {name}", {"X-Patched": "yes"}

    @app.get("/bytes")
    async def raw() -> bytes:
        return b"\x00\x01"

    @app.get("/list")
    async def as_list() -> list[int]:
        return [1, 2, 3]

    @app.get("/response")
    async def full() -> Response:
        response = await make_response("made", 202)
        response.headers["X-Made"] = "1"
        return response

    @app.get("/jsonify")
    async def as_jsonify() -> Response:
        return jsonify(a=1, b=[2])

    @app.get("/async-stream")
    async def async_stream() -> tuple[AsyncIterator[str], dict[str, str]]:
        async def chunks() -> AsyncIterator[str]:
            for i in range(3):
                yield f"a{i};"

        return chunks(), {"Content-Type": "text/plain"}

    @app.get("/sync-stream")
    async def sync_stream() -> Iterator[bytes]:
        return iter([b"s0;", b"s1;"])

    @app.get("/redirect")
    async def go() -> Response:
        return redirect(url_for("user", user_id=7))

    @app.get("/abort/<int:code>")
    async def aborting(code: int) -> str:
        abort(code)

    @app.get("/none")  # type: ignore[type-var]  # returning None is the mistake under test
    async def none() -> None:
        return None

    @app.get("/sync")
    def sync_view() -> str:
        return f"sync {request.args.get('q', '')}"

    @app.get("/urls")
    async def urls() -> dict[str, str]:
        return {
            "plain": url_for("user", user_id=3),
            "query": url_for("user", user_id=3, page=2),
            "external": url_for("user", user_id=3, _external=True),
            "anchor": url_for("index", _anchor="top section"),
            "scheme": url_for("index", _scheme="https", _external=True),
            "method": url_for("create", _method="POST"),
        }

    return app


async def test_methods_and_return_forms() -> None:
    client = make_app().test_client()
    assert await (await client.get("/")).get_data() == b"index"
    assert await (await client.get("/user/42")).get_json() == {"id": 42}
    created = await client.post("/items")
    assert created.status_code == 201
    assert await created.get_data() == b"created"
    assert await (await client.put("/items/x")).get_data() == b"put x"
    deleted = await client.delete("/items/y")
    assert deleted.status_code == 204
    assert deleted.headers["X-Deleted"] == "y"
    patched = await client.patch("/items/z")
    assert patched.headers["X-Patched"] == "yes"
    assert await patched.get_data() == b"patched z"
    raw = await client.get("/bytes")
    assert await raw.get_data() == b"\x00\x01"
    assert await (await client.get("/list")).get_json() == [1, 2, 3]
    made = await client.get("/response")
    assert (made.status_code, made.headers["X-Made"]) == (202, "1")
    assert await (await client.get("/jsonify")).get_json() == {"a": 1, "b": [2]}


async def test_streaming_from_async_and_sync_generators() -> None:
    client = make_app().test_client()
    response = await client.get("/async-stream")
    assert response.headers["Content-Type"] == "text/plain"
    assert "Content-Length" not in response.headers
    assert await response.get_data() == b"a0;a1;a2;"
    assert await (await client.get("/sync-stream")).get_data() == b"s0;s1;"


async def test_404_405_and_automatic_options() -> None:
    client = make_app().test_client()
    assert (await client.get("/nope")).status_code == 404
    not_allowed = await client.post("/user/1")
    assert not_allowed.status_code == 405
    assert set(not_allowed.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    options = await client.options("/items/x")
    assert options.status_code == 200
    assert set(options.headers["Allow"].split(", ")) >= {"PUT", "DELETE", "PATCH", "OPTIONS"}


async def test_head_has_headers_but_no_body() -> None:
    response = await make_app().test_client().head("/")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "5"
    assert await response.get_data() == b""


async def test_redirect_abort_and_follow_redirects() -> None:
    client = make_app().test_client()
    response = await client.get("/redirect")
    assert response.status_code == 302
    assert response.headers["Location"] == "/user/7"
    followed = await client.get("/redirect", follow_redirects=True)
    assert await followed.get_json() == {"id": 7}
    assert (await client.get("/abort/418")).status_code == 418
    assert (await client.get("/abort/403")).status_code == 403


async def test_returning_none_is_a_500_with_a_clear_log(caplog: pytest.LogCaptureFixture) -> None:
    response = await make_app().test_client().get("/none")
    assert response.status_code == 500
    assert any("did not return a valid response" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_sync_view_runs_in_a_worker_thread_with_the_request() -> None:
    import threading

    app = make_app()
    seen: list[str] = []

    @app.get("/thread")
    def thread_view() -> str:
        seen.append(threading.current_thread().name)
        return request.path

    client = app.test_client()
    assert await (await client.get("/thread")).get_data() == b"/thread"
    assert seen
    assert seen[0] != threading.main_thread().name
    assert await (await client.get("/sync?q=1")).get_data() == b"sync 1"


async def test_url_for_forms() -> None:
    urls = await (await make_app().test_client().get("/urls")).get_json()
    assert urls == {
        "plain": "/user/3",
        "query": "/user/3?page=2",
        "external": "http://localhost/user/3",
        "anchor": "/#top%20section",
        "scheme": "https://localhost/",
        "method": "/items",
    }


async def test_url_for_outside_a_request_needs_server_name() -> None:
    app = make_app()
    async with app.app_context():
        with pytest.raises(RuntimeError, match="SERVER_NAME"):
            url_for("index")
    app.config["SERVER_NAME"] = "example.com"
    async with app.app_context():
        assert url_for("user", user_id=1) == "http://example.com/user/1"


async def test_nested_blueprints_and_relative_url_for() -> None:
    app = Firkin(__name__)
    parent = Blueprint("parent", __name__, url_prefix="/parent")
    child = Blueprint("child", __name__, url_prefix="/child")

    @child.get("/leaf")
    async def leaf() -> dict[str, str]:
        return {"self": url_for(".leaf"), "endpoint": request.endpoint or "", "bp": request.blueprint or ""}

    parent.register_blueprint(child)
    app.register_blueprint(parent)
    app.register_blueprint(parent, name="again", url_prefix="/again")
    client = app.test_client()
    assert await (await client.get("/parent/child/leaf")).get_json() == {
        "self": "/parent/child/leaf",
        "endpoint": "parent.child.leaf",
        "bp": "parent.child",
    }
    assert await (await client.get("/again/child/leaf")).get_json() == {
        "self": "/again/child/leaf",
        "endpoint": "again.child.leaf",
        "bp": "again.child",
    }


async def test_abort_outside_an_app_raises_the_http_exception() -> None:
    with pytest.raises(NotFound):
        abort(404)


async def test_remembered_static_matches_stay_correct() -> None:
    from werkzeug.routing import BaseConverter

    app = Firkin(__name__)
    calls: list[str] = []

    class Counting(BaseConverter):
        def to_python(self, value: str) -> str:
            calls.append(value)  # a converter may have side effects: never skipped by a cache
            return value

    app.url_map.converters["counting"] = Counting

    @app.get("/fixed")
    async def fixed() -> str:
        return f"fixed {request.method}"

    @app.post("/fixed")
    async def fixed_post() -> str:
        return "posted"

    @app.get("/dyn/<counting:name>")
    async def dyn(name: str) -> str:
        return name

    @app.get("/slash/")
    async def slash() -> str:
        return "slash"

    client = app.test_client()
    for _ in range(3):
        assert await (await client.get("/fixed")).get_data() == b"fixed GET"
        assert await (await client.post("/fixed")).get_data() == b"posted"
        assert (await client.put("/fixed")).status_code == 405
        assert await (await client.get("/dyn/a")).get_data() == b"a"
        assert (await client.get("/slash")).status_code == 308
    assert calls == ["a", "a", "a"]
    other_host = await client.get("/fixed", headers={"Host": "other.example"})
    assert await other_host.get_data() == b"fixed GET"


async def test_a_built_response_reads_like_one_made_by_hand() -> None:
    """Response.of_data keeps its headers as ASGI pairs until they are read; read, they are what
    Response(data, content_type=...) has, and a change made in an after_request hook is sent."""
    built = Response.of_data(b"{}\n", "application/json")
    assert built.asgi_headers() == [(b"content-type", b"application/json"), (b"content-length", b"3")]
    by_hand = Response(b"{}\n", content_type="application/json")
    assert (built.status_code, await built.get_data()) == (by_hand.status_code, await by_hand.get_data())
    assert built.asgi_headers() is not None  # status and body did not need the headers
    assert list(built.headers.items()) == list(by_hand.headers.items())
    assert built.asgi_headers() is None  # read once: the Headers are what is sent from now on
    built.headers["X-Late"] = "yes"
    assert built.headers["X-Late"] == "yes"

    app = Firkin(__name__)

    @app.get("/")
    async def index() -> dict[str, int]:
        return {"a": 1}

    @app.after_request
    async def stamp(response: Response) -> Response:
        response.headers["X-Stamp"] = "1"
        return response

    response = await app.test_client().get("/")
    assert response.headers["X-Stamp"] == "1"
    assert response.headers["Content-Length"] == str(len(b'{"a":1}\n'))


_TUPLES: list[tuple[object, ...]] = [
    ("Hello", 200, {"Content-Type": "text/plain"}),
    ("Hello", 201),
    (b"\x00\x01", 404, [("X-One", "1"), ("x-two", "2"), ("X-One", "again")]),
    ("héllo", {"X-Token": "abc", "Cache-Control": "no-store"}),
    ("", 204, {"X-Deleted": "yes"}),
    ("Hello", 299, {}),  # a code with no reason phrase
    ("Hello", 200, (("Content-Type", "application/x-thing"), ("X-A", "b"))),
]


@pytest.mark.parametrize("rv", _TUPLES, ids=[repr(t)[:40] for t in _TUPLES])
async def test_a_returned_tuple_is_the_response_werkzeug_builds(rv: tuple[object, ...]) -> None:
    # make_response builds `return body, status, headers` directly; read, it is what Response(...)
    # would have been: status line, every header in werkzeug's order and spelling, the body.
    app = Firkin(__name__)
    async with app.app_context():
        built = app.make_response(rv)
        assert built.asgi_headers() is not None  # the direct path was taken
        body, *rest = rv
        status = rest[0] if rest and isinstance(rest[0], int) else None
        headers = rest[-1] if rest and not isinstance(rest[-1], int) else None
        by_hand = Response(body, status=status, headers=headers)  # type: ignore[arg-type]
        assert (built.status, await built.get_data()) == (by_hand.status, await by_hand.get_data())
        assert built.asgi_headers() == [
            (name.lower().encode(), value.encode("latin-1")) for name, value in by_hand.headers.items()
        ]
        assert list(built.headers.items()) == list(by_hand.headers.items())


@pytest.mark.parametrize(
    ("rv", "status", "headers"),
    [
        (("Hello", 200, {"X-Bad": "a\r\nInjected: 1"}), 200, {"X-Bad": "a\r\nInjected: 1"}),  # refused
        (("Hello", 200, {"X-Number": 5}), 200, {"X-Number": 5}),  # werkzeug makes it "5"
        (("Hello", 200, {"Content-Length": "5"}), 200, {"Content-Length": "5"}),
        (("Hello", "201 MADE"), "201 MADE", None),
        (("Hello", 200, Headers({"X-A": "b"})), 200, Headers({"X-A": "b"})),
    ],
    ids=["newline", "int value", "content-length", "str status", "Headers"],
)
async def test_tuples_the_direct_path_declines_go_the_usual_way(
    rv: tuple[object, ...], status: int | str, headers: object
) -> None:
    app = Firkin(__name__)
    async with app.app_context():
        try:
            by_hand = Response(rv[0], status=status, headers=headers)  # type: ignore[arg-type]
        except ValueError as exc:
            with pytest.raises(ValueError, match=str(exc)):
                app.make_response(rv)
            return
        built = app.make_response(rv)
        assert built.status == by_hand.status
        assert list(built.headers.items()) == list(by_hand.headers.items())


async def test_a_returned_tuple_reaches_the_client_and_after_request_hooks() -> None:
    app = Firkin(__name__)

    @app.get("/")
    async def index() -> tuple[str, int, dict[str, str]]:
        return "Hello", 202, {"Content-Type": "text/plain", "X-View": "1"}

    @app.after_request
    async def stamp(response: Response) -> Response:
        response.headers["X-Stamp"] = response.headers["X-View"] + "2"
        return response

    response = await app.test_client().get("/")
    assert response.status_code == 202
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["X-Stamp"] == "12"
    assert response.headers["Content-Length"] == "5"
    assert await response.get_data() == b"Hello"


async def test_redirect_and_abort_are_the_responses_werkzeug_builds() -> None:
    from werkzeug.utils import redirect as werkzeug_redirect

    app = Firkin(__name__)
    async with app.app_context():
        for location, code in [("/target", 302), ("/a?b=<c>&d='e'", 301), ("https://example.com/é", 307)]:
            built = redirect(location, code)
            assert built.asgi_headers() is not None  # built directly
            by_hand: Response = werkzeug_redirect(location, code, Response=Response)  # type: ignore[arg-type,assignment]
            assert (built.status, await built.get_data()) == (by_hand.status, await by_hand.get_data())
            assert list(built.headers.items()) == list(by_hand.headers.items())
        with pytest.raises(ValueError, match="newline"):
            redirect("/a\r\nInjected: 1")  # refused as werkzeug refuses it

    @app.get("/gone")
    async def gone() -> str:
        abort(404)

    @app.get("/custom")
    async def custom() -> str:
        abort(403, "not yours")

    client = app.test_client()
    response = await client.get("/gone")
    expected = NotFound()
    assert response.status == "404 NOT FOUND"
    assert await response.get_data() == expected.get_body().encode()
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    response = await client.get("/custom")
    assert response.status_code == 403
    assert b"<p>not yours</p>" in await response.get_data()

    async def not_found(error: Exception) -> tuple[str, int]:
        return "custom 404", 404

    # An error handler put in place later, behind the setup methods' back (as an extension may), is
    # still found: whether any exist is not cached.
    app.error_handler_spec[None][404][NotFound] = not_found
    response = await client.get("/gone")
    assert await response.get_data() == b"custom 404"


async def test_cookies_a_view_sets_expire_as_asked() -> None:
    app = Firkin(__name__)
    dated = datetime(2040, 1, 2, 3, 4, 5, tzinfo=UTC)

    @app.get("/")
    async def index() -> Response:
        response = Response("cookies")
        response.set_cookie("short", "1", max_age=60)
        response.set_cookie("dated", "2", expires=dated)
        response.set_cookie("browser", "3")
        response.delete_cookie("gone")
        return response

    client = app.test_client()
    client.set_cookie("gone", "0")
    before = int(time.time())  # Expires has whole seconds
    response = await client.get("/")
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getlist("Set-Cookie"):
        jar.load(header)
    assert list(jar) == ["short", "dated", "browser", "gone"]
    # max_age: Max-Age and the matching Expires (for clients that know only Expires).
    assert jar["short"]["max-age"] == "60"
    short_expires = parsedate_to_datetime(jar["short"]["expires"]).timestamp()
    assert before + 60 <= short_expires <= time.time() + 60
    assert (jar["dated"]["expires"], jar["dated"]["max-age"]) == (http_date(dated), "")
    assert (jar["browser"]["expires"], jar["browser"]["max-age"]) == ("", "")  # ends with the browser
    # delete_cookie: expired at once, both ways.
    assert (jar["gone"]["expires"], jar["gone"]["max-age"]) == (http_date(0), "0")
    # The test client's jar honours them.
    assert [client.get_cookie(name) for name in ("short", "dated", "browser", "gone")] == [
        "1",
        "2",
        "3",
        None,
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"status": 201},
        {"content_type": "text/plain"},
        {"mimetype": "text/csv"},
        {"mimetype": "application/json"},
        {"status": 404, "content_type": "application/x-thing; v=1"},
        {"status": 299},
    ],
)
@pytest.mark.parametrize("body", ["héllo", b"\x00bytes", ""])
async def test_a_response_made_by_hand_is_what_werkzeug_makes(
    kwargs: dict[str, Any], body: str | bytes
) -> None:
    from werkzeug.wrappers import Response as WerkzeugResponse

    class Expected(WerkzeugResponse):
        default_mimetype = Response.default_mimetype  # Flask's text/html, not werkzeug's text/plain

    built = Response(body, **kwargs)
    assert built.asgi_headers() is not None  # the direct path
    expected = Expected(body, **kwargs)
    assert (built.status, built.status_code) == (expected.status, expected.status_code)
    assert await built.get_data() == expected.get_data()
    assert list(built.headers.items()) == list(expected.headers.items())
    built.headers["X-Late"] = "1"  # read and changed like any response's
    assert built.headers["X-Late"] == "1"


async def test_where_requests_went_is_remembered_within_a_bound() -> None:
    """Clients choose Hosts and paths: what is remembered of where requests went stays bounded."""
    app = Firkin(__name__)

    @app.get("/")
    async def index() -> str:
        return "index"

    client = app.test_client()
    for n in range(1100):
        response = await client.get("/", headers={"Host": f"h{n}.example"})
        assert await response.get_data() == b"index"
    assert 0 < len(app._routes_seen) <= 1024


async def test_an_app_that_binds_its_own_url_adapters_is_asked_for_every_request() -> None:
    calls: list[str] = []

    class Mine(Firkin):
        def create_url_adapter(self, request: Any) -> Any:
            calls.append(request.path if request is not None else "-")
            return super().create_url_adapter(request)

    app = Mine(__name__)

    @app.get("/")
    async def index() -> str:
        return "index"

    client = app.test_client()
    for _ in range(3):
        assert await (await client.get("/")).get_data() == b"index"
    assert calls.count("/") == 3


async def test_error_pages_made_once_are_each_requests_own() -> None:
    """A plain abort()'s response is made once and handed out as copies: what a hook changes on one
    (headers, status, body) never shows on the next."""
    app = Firkin(__name__)
    seen: list[int] = []

    @app.get("/gone")
    async def gone() -> str:
        abort(404)

    @app.after_request
    async def mark(response: Response) -> Response:
        seen.append(len(seen))
        response.headers["X-Seen"] = str(len(seen))
        if len(seen) == 1:
            response.set_data(b"changed")
            response.status_code = 410
        return response

    client = app.test_client()
    first, second = await client.get("/gone"), await client.get("/gone")
    assert (first.status_code, await first.get_data()) == (410, b"changed")
    assert first.headers.getlist("X-Seen") == ["1"]
    assert second.status_code == 404
    assert b"Not Found" in await second.get_data()
    assert second.headers.getlist("X-Seen") == ["2"]
    assert second.headers["Content-Length"] == str(len(await second.get_data()))
