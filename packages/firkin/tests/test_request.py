"""The request object: sync attributes, awaited body data, limits."""

from __future__ import annotations

import io
from typing import Any

import pytest
from firkin import Firkin, request
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

pytestmark = pytest.mark.anyio


def make_app() -> Firkin:
    app = Firkin(__name__)

    @app.route("/info", methods=["GET", "POST"])
    async def info() -> dict[str, Any]:
        return {
            "method": request.method,
            "path": request.path,
            "full_path": request.full_path,
            "url": request.url,
            "host": request.host,
            "args": request.args.to_dict(flat=False),
            "header": request.headers.get("X-Thing"),
            "cookie": request.cookies.get("c"),
            "remote_addr": request.remote_addr,
            "scheme": request.scheme,
            "is_json": request.is_json,
        }

    @app.post("/data")
    async def data() -> bytes:
        return bytes(await request.get_data())

    @app.post("/json")
    async def json_view() -> dict[str, Any]:
        return {"json": await request.get_json()}

    @app.post("/json-silent")
    async def json_silent() -> dict[str, Any]:
        return {"json": await request.get_json(silent=True)}

    @app.post("/json-force")
    async def json_force() -> dict[str, Any]:
        return {"json": await request.get_json(force=True)}

    @app.post("/form")
    async def form() -> dict[str, Any]:
        form = await request.form
        files = await request.files
        values = await request.values
        upload = files.get("upload")
        return {
            "form": form.to_dict(flat=False),
            "file": upload.filename if upload else None,
            "file_data": upload.read().decode() if upload else None,
            "values": sorted(values.keys()),
        }

    @app.post("/stream")
    async def stream() -> dict[str, int]:
        total = 0
        chunks = 0
        async for chunk in request.body:
            total += len(chunk)
            chunks += 1
        return {"total": total}

    @app.post("/limited")
    async def limited() -> str:
        request.max_content_length = 10
        return str((await request.get_data()).decode())

    return app


async def test_sync_attributes() -> None:
    client = make_app().test_client()
    client.set_cookie("c", "cookie-value")
    info = await (
        await client.get("/info?a=1&a=2&b=x", headers={"X-Thing": "thing"}, query_string={"c": "3"})
    ).get_json()
    assert info == {
        "method": "GET",
        "path": "/info",
        "full_path": "/info?a=1&a=2&b=x&c=3",
        "url": "http://localhost/info?a=1&a=2&b=x&c=3",
        "host": "localhost",
        "args": {"a": ["1", "2"], "b": ["x"], "c": ["3"]},
        "header": "thing",
        "cookie": "cookie-value",
        "remote_addr": "127.0.0.1",
        "scheme": "http",
        "is_json": False,
    }


async def test_get_data_and_json() -> None:
    client = make_app().test_client()
    assert await (await client.post("/data", data=b"raw bytes")).get_data() == b"raw bytes"
    assert await (await client.post("/json", json={"a": [1, 2]})).get_json() == {"json": {"a": [1, 2]}}


async def test_malformed_json_is_a_400_that_says_so() -> None:
    client = make_app().test_client()
    bad = await client.post("/json", data=b"{nope", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert b"Failed to decode JSON object" in await bad.get_data()
    silent = await client.post("/json-silent", data=b"{nope", headers={"Content-Type": "application/json"})
    assert await silent.get_json() == {"json": None}


async def test_json_needs_the_content_type_unless_forced() -> None:
    client = make_app().test_client()
    assert (await client.post("/json", data=b'{"a": 1}')).status_code == 415
    assert await (await client.post("/json-silent", data=b'{"a": 1}')).get_json() == {"json": None}
    assert await (await client.post("/json-force", data=b'{"a": 1}')).get_json() == {"json": {"a": 1}}


async def test_form_files_and_values() -> None:
    client = make_app().test_client()
    response = await client.post(
        "/form?q=1",
        form={"name": "tap", "tags": ["a", "b"]},
        files={"upload": (io.BytesIO(b"file body"), "notes.txt")},
    )
    assert await response.get_json() == {
        "form": {"name": ["tap"], "tags": ["a", "b"]},
        "file": "notes.txt",
        "file_data": "file body",
        "values": ["name", "q", "tags"],
    }
    urlencoded = await client.post("/form", form={"x": "1"})
    assert (await urlencoded.get_json())["form"] == {"x": ["1"]}


async def test_body_streams() -> None:
    response = await make_app().test_client().post("/stream", data=b"x" * 100_000)
    assert await response.get_json() == {"total": 100_000}


async def chunked_upload(app: Firkin, path: str, chunks: list[bytes]) -> tuple[list[dict[str, Any]], int]:
    """POST `chunks` to `path` as a server gives a chunked upload (no Content-Length) to the app:
    the messages the app sent, and how many of the chunks it asked for."""
    sent: list[dict[str, Any]] = []
    asked = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if asked > len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[asked - 1], "more_body": asked < len(chunks)}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 1),
        "server": ("localhost", 80),
    }
    await app(scope, receive, send)
    return sent, asked


async def test_max_content_length_with_content_length() -> None:
    app = make_app()
    app.config["MAX_CONTENT_LENGTH"] = 100
    client = app.test_client()
    assert await (await client.post("/data", data=b"x" * 100)).get_data() == b"x" * 100
    # The test client sends Content-Length: 101, more than allowed, so it is refused up front.
    too_big = await client.post("/data", data=b"x" * 101)
    assert (too_big.status_code, await too_big.get_data(as_text=True)) == (
        413,
        RequestEntityTooLarge().get_body(),
    )


@pytest.mark.parametrize("path", ["/data", "/stream"])
async def test_max_content_length_without_content_length(path: str) -> None:
    # No Content-Length (a chunked upload): counted as it arrives, a 413 as soon as the count passes
    # the maximum, the rest never asked for; both for get_data() and for `async for request.body`.
    app = make_app()
    app.config["MAX_CONTENT_LENGTH"] = 100
    sent, asked = await chunked_upload(app, path, [b"x" * 60] * 5)
    assert (sent[0]["status"], sent[1]["body"]) == (413, RequestEntityTooLarge().get_body().encode())
    assert asked == 2  # 120 bytes: past 100
    sent, asked = await chunked_upload(app, path, [b"x" * 50] * 2)  # exactly the maximum: read
    assert (sent[0]["status"], asked) == (200, 2)
    expected = b"x" * 100 if path == "/data" else b'{"total":100}\n'
    assert sent[1]["body"] == expected


async def test_body_without_content_length_is_bounded() -> None:
    app = make_app()
    app.config["MAX_CONTENT_LENGTH"] = 1000
    sent, asked = await chunked_upload(app, "/data", [b"y" * 600] * 1000)  # 600 kB on offer
    assert (sent[0]["status"], asked) == (413, 2)


async def test_per_request_max_content_length() -> None:
    client = make_app().test_client()
    assert await (await client.post("/limited", data=b"0123456789")).get_data() == b"0123456789"
    assert (await client.post("/limited", data=b"0123456789A")).status_code == 413


async def test_max_form_parts() -> None:
    app = make_app()
    app.config["MAX_FORM_PARTS"] = 3
    client = app.test_client()
    response = await client.post(
        "/form", form={f"f{i}": "v" for i in range(10)}, files={"upload": (io.BytesIO(b"x"), "a")}
    )
    assert response.status_code == 413


async def test_trusted_hosts() -> None:
    app = make_app()
    app.config["TRUSTED_HOSTS"] = ["good.example"]
    client = app.test_client()
    assert (await client.get("/info", headers={"Host": "good.example"})).status_code == 200
    assert (await client.get("/info", headers={"Host": "evil.example"})).status_code == 400


async def test_data_is_awaitable() -> None:
    app = Firkin(__name__)

    @app.post("/echo")
    async def echo() -> bytes:
        data: bytes = await request.data
        assert id(data) == id(await request.get_data())  # the same cached body
        return data

    response = await app.test_client().post("/echo", data=b"\x00raw bytes")
    assert await response.get_data() == b"\x00raw bytes"


async def test_send_push_promise() -> None:
    from firkin import make_push_promise
    from firkin.testing import make_test_request

    app = Firkin(__name__)
    headers = {"Accept": "text/css", "User-Agent": "tests", "Cookie": "not=copied"}
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    for version, pushed in (("1.1", False), ("2", True)):
        sent.clear()
        req = make_test_request(app, "/", headers=headers, http_version=version)
        await req.send_push_promise("/nothing.css")  # no ASGI send: nothing to push with
        req.push_send = send
        async with app.request_context(req):
            await make_push_promise("/style.css")
        if not pushed:  # HTTP/1.1: the server offers no http.response.push extension
            assert sent == []
            continue
        assert sent == [
            {
                "type": "http.response.push",
                "path": "/style.css",
                "headers": [(b"accept", b"text/css"), (b"user-agent", b"tests")],
            }
        ]
    with pytest.raises(RuntimeError, match="request context"):
        await make_push_promise("/style.css")


@pytest.mark.parametrize(
    "body",
    [
        b"name=alice&x=1",
        b"a=1&a=2&b=&c",
        b"q=caf%C3%A9+au+lait&empty=",
        b"bad=%FF%FE&ok=1",  # percent-escapes that are not UTF-8: kept as werkzeug keeps them
        b"raw=\xff\xfe",  # a body that is not UTF-8: an empty form, as werkzeug's silent parser gives
        b"",
    ],
)
async def test_an_urlencoded_form_is_what_werkzeug_parses(body: bytes) -> None:
    import io

    from werkzeug.datastructures import MultiDict
    from werkzeug.formparser import FormDataParser

    app = Firkin(__name__)
    seen: dict[str, object] = {}

    @app.post("/")
    async def index() -> str:
        form = await request.form
        seen["form"] = list(form.items(multi=True))
        seen["files"] = list((await request.files).items())
        seen["params"] = dict(request.mimetype_params)
        request.mimetype_params["changed"] = "yes"  # the caller's own copy
        return "ok"

    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    for _ in range(2):  # the second time, the parsed Content-Type comes from the cache
        response = await app.test_client().post("/", data=body, headers={"Content-Type": content_type})
        assert response.status_code == 200
        _, form, _ = FormDataParser(cls=MultiDict).parse(
            io.BytesIO(body), "application/x-www-form-urlencoded", len(body), {"charset": "utf-8"}
        )
        assert seen["form"] == list(form.items(multi=True))
        assert seen["files"] == []
        assert seen["params"] == {"charset": "utf-8"}


_SCOPES: list[dict[str, Any]] = [
    {  # what tapster gives
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "http_version": "1.1",
        "path": "/a/b",
        "root_path": "",
        "query_string": b"x=1",
        "headers": [(b"host", b"example.com")],
        "server": ("127.0.0.1", 8000),
        "client": ("10.0.0.1", 5000),
    },
    {  # a root path, a lowercase method, list endpoints, HTTP/2
        "type": "http",
        "method": "patch",
        "scheme": "https",
        "http_version": "2",
        "path": "/app/x",
        "root_path": "/app/",
        "query_string": b"",
        "headers": [],
        "server": ["example.com", 443],
        "client": ["::1", 1],
    },
    {  # the least a scope may carry: no server, client, scheme, root path or version
        "type": "http",
        "method": "POST",
        "path": "//double",
        "query_string": b"",
        "headers": [(b"content-type", b"text/plain")],
    },
]


@pytest.mark.parametrize("scope", _SCOPES)
def test_a_request_from_a_scope_is_the_one_init_makes(scope: dict[str, Any]) -> None:
    """Request.from_scope fills the request itself (the hot path): the result must be what
    __init__ gives for the same scope, attribute for attribute, and read the same."""
    from firkin.asgi.scope import scope_location
    from firkin.wrappers import Body, Request

    fast = Request.from_scope(scope, Body(None, b""))
    server, root_path, path, remote_addr = scope_location(scope)
    made = Request(
        scope["method"],
        scope.get("scheme", "http"),
        server,
        root_path,
        path,
        scope["query_string"],
        None,
        remote_addr,
        Body(None, b""),
        http_version=scope.get("http_version", "1.1"),
        scope=scope,
        raw_headers=scope["headers"],
    )
    assert set(vars(fast)) == set(vars(made))
    for name, value in vars(made).items():
        if name != "_body":
            assert getattr(fast, name) == value, name
    read = ("url", "host", "remote_addr", "server", "method", "path", "root_path")
    assert [getattr(fast, name) for name in read] == [getattr(made, name) for name in read]
    assert list(fast.headers.items()) == list(made.headers.items())


def test_a_request_class_with_its_own_init_is_built_by_it() -> None:
    from firkin.wrappers import Body, Request

    class Tagged(Request):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.tag = "mine"

    built = Tagged.from_scope(_SCOPES[1], Body(None, b""))
    assert (built.tag, built.method, built.root_path, built.path) == ("mine", "PATCH", "/app", "/x")


async def test_the_body_is_bounded_by_its_request_when_first_handed_out() -> None:
    """The body learns its request (weakly) when the request first hands it out: the request's own
    max_content_length then bounds `async for chunk in request.body`."""
    app = Firkin(__name__)

    @app.post("/")
    async def index() -> str:
        request.max_content_length = 4
        try:
            async for _ in request.body:
                pass
        except RequestEntityTooLarge:
            return "too large"
        return "read"

    client = app.test_client()
    assert await (await client.post("/", data=b"12345")).get_data() == b"too large"
    assert await (await client.post("/", data=b"1234")).get_data() == b"read"


@given(st.text(alphabet="ab=&+%2Fé0Z\x00;C3A9f", max_size=40))
@settings(max_examples=600, deadline=None)
def test_urlencoded_parsing_is_parse_qsl_as_werkzeug_calls_it(text: str) -> None:
    # Escapes valid and not ("%2F", "%C3%A9", "%A9" alone, "%0Z", "%"), non-ASCII text, "+".
    from urllib.parse import parse_qsl

    import werkzeug.formparser  # noqa: F401 - registers the "werkzeug.url_quote" error handler
    from firkin.wrappers.request import parse_urlencoded

    werkzeug_form = MultiDict(parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote"))
    fields = parse_urlencoded(text)
    assert fields == dict(werkzeug_form.lists())
    assert list(fields) == list(werkzeug_form)  # the names in the same order
