"""send_file, send_from_directory, static routes: conditional and range requests, streaming from disk."""

from __future__ import annotations

import io
import os
import time
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from firkin import Blueprint, Firkin, Response, send_file, send_from_directory, url_for
from firkin.wrappers import FileBody, IOBody
from firkin.wrappers.response import FILE_CHUNK_SIZE
from werkzeug.exceptions import NotFound
from werkzeug.http import http_date, parse_date

pytestmark = pytest.mark.anyio

DATA = b"0123456789abcdefghijklmnopqrstuvwxyz"  # 36 bytes


@pytest.fixture
def static(tmp_path: Path) -> Path:
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "hello.txt").write_bytes(DATA)
    (tmp_path / "secret.txt").write_bytes(b"not for you")
    return folder


@pytest.fixture
def app(tmp_path: Path, static: Path) -> Firkin:
    return Firkin(__name__, static_folder=str(static), root_path=str(tmp_path))


def file_view(app: Firkin, target: Any, **kwargs: Any) -> None:
    """GET /file sends `target` (a path, or a factory of file objects) with send_file(**kwargs)."""

    @app.get("/file")
    async def view() -> Response:
        return await send_file(target() if callable(target) else target, **kwargs)


# ----------------------------------------------------------------- whole files


async def test_static_file_whole(app: Firkin, static: Path) -> None:
    response = await app.test_client().get("/static/hello.txt")
    assert response.status_code == 200
    assert await response.get_data() == DATA
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.mimetype == "text/plain"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Disposition"] == "inline; filename=hello.txt"
    assert response.headers["Cache-Control"] == "no-cache"


async def test_etag_and_last_modified(app: Firkin, static: Path) -> None:
    mtime = (static / "hello.txt").stat().st_mtime
    response = await app.test_client().get("/static/hello.txt")
    assert response.headers["Last-Modified"] == http_date(mtime)
    # From mtime, size and path, as Flask's: no need to read the file; strong.
    path_sum = zlib.adler32(str(static / "hello.txt").encode()) & 0xFFFFFFFF
    assert response.get_etag() == (f"{mtime}-{len(DATA)}-{path_sum}", False)


async def test_etag_string_and_none(app: Firkin, static: Path) -> None:
    file_view(app, static / "hello.txt", etag="v1")
    response = await app.test_client().get("/file")
    assert response.headers["ETag"] == '"v1"'

    other = Firkin(__name__, static_folder=None)
    file_view(other, static / "hello.txt", etag=False)
    response = await other.test_client().get("/file")
    assert "ETag" not in response.headers
    assert await response.get_data() == DATA


@pytest.mark.parametrize(
    ("name", "mimetype", "encoding"),
    [
        ("data.json", "application/json", None),
        ("page.html", "text/html", None),
        ("blob.unknownext", "application/octet-stream", None),
        ("archive.tar.gz", "application/x-tar", "gzip"),
    ],
)
async def test_mimetype_is_guessed(tmp_path: Path, name: str, mimetype: str, encoding: str | None) -> None:
    (tmp_path / name).write_bytes(b"x")
    app = Firkin(__name__, static_folder=None)
    file_view(app, tmp_path / name)
    response = await app.test_client().get("/file")
    assert response.mimetype == mimetype
    assert response.headers.get("Content-Encoding") == encoding


async def test_explicit_mimetype(app: Firkin, static: Path) -> None:
    file_view(app, static / "hello.txt", mimetype="application/x-custom")
    response = await app.test_client().get("/file")
    assert response.mimetype == "application/x-custom"


async def test_relative_path_is_relative_to_root_path(app: Firkin) -> None:
    file_view(app, "static/hello.txt")
    response = await app.test_client().get("/file")
    assert await response.get_data() == DATA


async def test_attachment_with_download_name(app: Firkin, static: Path) -> None:
    file_view(app, static / "hello.txt", as_attachment=True, download_name="report.csv")
    response = await app.test_client().get("/file")
    assert response.headers["Content-Disposition"] == "attachment; filename=report.csv"
    assert response.mimetype == "text/csv"  # guessed from the download name


async def test_attachment_compressed_keeps_no_content_encoding(tmp_path: Path) -> None:
    (tmp_path / "a.tar.gz").write_bytes(b"x")
    app = Firkin(__name__, static_folder=None)
    file_view(app, tmp_path / "a.tar.gz", as_attachment=True)
    response = await app.test_client().get("/file")
    assert "Content-Encoding" not in response.headers  # else browsers save it decompressed


async def test_attachment_non_ascii_name(app: Firkin, static: Path) -> None:
    file_view(app, static / "hello.txt", as_attachment=True, download_name="Résumé €.txt")
    response = await app.test_client().get("/file")
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Resume .txt\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%82%AC.txt"
    )
    response.headers["Content-Disposition"].encode("latin-1")  # a header value that can be sent


async def test_attachment_quotes_special_ascii_name(app: Firkin, static: Path) -> None:
    file_view(app, static / "hello.txt", as_attachment=True, download_name='a "b".txt')
    response = await app.test_client().get("/file")
    assert response.headers["Content-Disposition"] == 'attachment; filename="a \\"b\\".txt"'


# ----------------------------------------------------------------- file objects


async def test_bytesio(app: Firkin) -> None:
    buffers: list[io.BytesIO] = []

    def make() -> io.BytesIO:
        buffers.append(io.BytesIO(DATA))
        return buffers[-1]

    file_view(app, make, download_name="data.bin")
    client = app.test_client()
    response = await client.get("/file")
    assert response.status_code == 200
    assert await response.get_data() == DATA
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Length"] == str(len(DATA))
    assert "ETag" not in response.headers  # no path to compute it from
    assert buffers[-1].closed

    response = await client.get("/file", headers={"Range": "bytes=3-5"})
    assert response.status_code == 206
    assert await response.get_data() == DATA[3:6]
    assert buffers[-1].closed


async def test_open_binary_file(app: Firkin, static: Path) -> None:
    opened: list[Any] = []

    def make() -> Any:
        opened.append((static / "hello.txt").open("rb"))
        return opened[-1]

    file_view(app, make, mimetype="text/plain")
    response = await app.test_client().get("/file")
    assert await response.get_data() == DATA
    assert opened[-1].closed  # closed once sent, read in a worker thread


async def test_file_object_needs_a_name_or_mimetype(app: Firkin) -> None:
    async with app.test_request_context("/"):
        buffer = io.BytesIO(DATA)
        with pytest.raises(TypeError, match="download_name"):
            await send_file(buffer)
        assert buffer.closed
        with pytest.raises(TypeError, match="attachment"):
            await send_file(io.BytesIO(DATA), mimetype="text/plain", as_attachment=True)


async def test_text_file_is_refused(app: Firkin) -> None:
    async with app.test_request_context("/"):
        with pytest.raises(ValueError, match="binary"):
            await send_file(io.StringIO("text"), mimetype="text/plain")  # type: ignore[arg-type]


async def test_send_file_outside_a_request(app: Firkin, static: Path) -> None:
    with pytest.raises(RuntimeError, match="application context"):
        await send_file(static / "hello.txt")
    async with app.app_context():
        # No request, so no conditional headers to answer: conditional=True (the default) is a no-op.
        response = await send_file(static / "hello.txt")
        assert response.status_code == 200
        assert "Accept-Ranges" not in response.headers
        assert await response.get_data() == DATA
        response = await send_file(static / "hello.txt", conditional=False)
        assert await response.get_data() == DATA


# ----------------------------------------------------------------- conditional requests


async def test_if_none_match_gives_304(app: Firkin) -> None:
    client = app.test_client()
    etag = (await client.get("/static/hello.txt")).headers["ETag"]
    response = await client.get("/static/hello.txt", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert await response.get_data() == b""
    assert response.headers["ETag"] == etag
    assert "Content-Length" not in response.headers
    assert "Content-Type" not in response.headers

    response = await client.get("/static/hello.txt", headers={"If-None-Match": '"other"'})
    assert response.status_code == 200
    assert await response.get_data() == DATA


async def test_if_modified_since_gives_304(app: Firkin) -> None:
    client = app.test_client()
    last_modified = (await client.get("/static/hello.txt")).headers["Last-Modified"]
    response = await client.get("/static/hello.txt", headers={"If-Modified-Since": last_modified})
    assert response.status_code == 304
    assert await response.get_data() == b""

    earlier = http_date(0)
    response = await client.get("/static/hello.txt", headers={"If-Modified-Since": earlier})
    assert response.status_code == 200
    assert await response.get_data() == DATA


async def test_304_for_head(app: Firkin) -> None:
    client = app.test_client()
    etag = (await client.get("/static/hello.txt")).headers["ETag"]
    response = await client.head("/static/hello.txt", headers={"If-None-Match": etag})
    assert (response.status_code, await response.get_data(), response.headers["ETag"]) == (304, b"", etag)


async def test_post_is_not_conditional(static: Path) -> None:
    app = Firkin(__name__, static_folder=None)

    @app.post("/file")
    async def view() -> Response:
        return await send_file(static / "hello.txt")

    response = await app.test_client().post("/file", headers={"Range": "bytes=0-1", "If-None-Match": "*"})
    assert response.status_code == 200
    assert await response.get_data() == DATA


# ----------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    ("header", "begin", "end"),
    [
        ("bytes=2-5", 2, 6),  # RFC 9110 §14.1.2: the last byte position is inclusive
        ("bytes=-10", len(DATA) - 10, len(DATA)),  # suffix
        ("bytes=5-", 5, len(DATA)),  # open ended
        ("bytes=30-1000", 30, len(DATA)),  # past the end: up to the end
        ("bytes=0-0", 0, 1),
    ],
)
async def test_range_gives_206(app: Firkin, header: str, begin: int, end: int) -> None:
    response = await app.test_client().get("/static/hello.txt", headers={"Range": header})
    assert response.status_code == 206
    assert await response.get_data() == DATA[begin:end]
    assert response.headers["Content-Range"] == f"bytes {begin}-{end - 1}/{len(DATA)}"
    assert response.headers["Content-Length"] == str(end - begin)
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("header", ["bytes=100-200", "bytes=36-", "bytes=5-2", "bytes=nonsense"])
async def test_unsatisfiable_range_gives_416(app: Firkin, header: str) -> None:
    response = await app.test_client().get("/static/hello.txt", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"


async def test_several_ranges_give_the_whole_file(app: Firkin) -> None:
    response = await app.test_client().get("/static/hello.txt", headers={"Range": "bytes=0-1,4-5"})
    assert response.status_code == 200
    assert await response.get_data() == DATA
    assert "Content-Range" not in response.headers


async def test_if_range(app: Firkin) -> None:
    client = app.test_client()
    first = await client.get("/static/hello.txt")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]

    response = await client.get("/static/hello.txt", headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
    assert response.status_code == 200
    assert await response.get_data() == DATA
    assert "Content-Range" not in response.headers

    response = await client.get("/static/hello.txt", headers={"Range": "bytes=0-3", "If-Range": etag})
    assert response.status_code == 206
    assert await response.get_data() == DATA[:4]

    headers = {"Range": "bytes=0-3", "If-Range": last_modified}
    response = await client.get("/static/hello.txt", headers=headers)
    assert response.status_code == 206

    headers = {"Range": "bytes=0-3", "If-Range": http_date(0)}
    response = await client.get("/static/hello.txt", headers=headers)
    assert response.status_code == 200
    assert await response.get_data() == DATA


async def test_conditional_false_ignores_range_and_validators(app: Firkin, static: Path) -> None:
    file_view(app, static / "hello.txt", conditional=False)
    client = app.test_client()
    etag = (await client.get("/file")).headers["ETag"]
    response = await client.get("/file", headers={"Range": "bytes=0-3", "If-None-Match": etag})
    assert response.status_code == 200
    assert await response.get_data() == DATA
    assert "Accept-Ranges" not in response.headers


async def test_make_conditional_on_data_response(app: Firkin) -> None:
    async with app.test_request_context("/", headers={"Range": "bytes=1-2"}) as ctx:
        response = Response(b"abcdef")
        await response.make_conditional(ctx.request, accept_ranges=True)
        assert response.status_code == 206
        assert response.data == b"bc"
        assert response.headers["Content-Range"] == "bytes 1-2/6"
        assert response.headers["Content-Length"] == "2"

        response = Response(b"abcdef")
        await response.make_conditional(ctx.request)  # ranges are opt-in, as in werkzeug
        assert response.status_code == 200
        assert "Accept-Ranges" not in response.headers


# ----------------------------------------------------------------- caching


async def test_max_age(app: Firkin, static: Path) -> None:
    file_view(app, static / "hello.txt", max_age=60)
    before = int(time.time())  # Expires has whole seconds
    response = await app.test_client().get("/file")
    assert response.headers["Cache-Control"] == "public, max-age=60"
    expires = parse_date(response.headers["Expires"])
    assert expires is not None
    assert before + 60 <= expires.timestamp() <= time.time() + 60


async def test_max_age_zero_stays_no_cache(app: Firkin, static: Path) -> None:
    file_view(app, static / "hello.txt", max_age=0)
    response = await app.test_client().get("/file")
    assert response.cache_control.max_age == 0
    assert response.cache_control.no_cache
    assert not response.cache_control.public


@pytest.mark.parametrize("value", [120, timedelta(minutes=2)])
async def test_send_file_max_age_default(app: Firkin, value: int | timedelta) -> None:
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = value
    response = await app.test_client().get("/static/hello.txt")
    assert response.headers["Cache-Control"] == "public, max-age=120"


async def test_get_send_file_max_age_override(static: Path) -> None:
    class App(Firkin):
        def get_send_file_max_age(self, filename: str | None) -> int | None:
            return 7 if filename is not None and filename.endswith(".txt") else None

    app = App(__name__, static_folder=str(static))
    response = await app.test_client().get("/static/hello.txt")
    assert response.cache_control.max_age == 7


# ----------------------------------------------------------------- send_from_directory


async def test_traversal_is_404(app: Firkin, tmp_path: Path, static: Path) -> None:
    assert (static / ".." / "secret.txt").is_file()  # it is there: only the check refuses it
    client = app.test_client()
    response = await client.get("/static/../secret.txt")
    assert response.status_code == 404
    async with app.test_request_context("/"):
        for path in ("../secret.txt", "a/../../secret.txt", str(tmp_path / "secret.txt"), ".."):
            with pytest.raises(NotFound):
                await send_from_directory(static, path)


async def test_missing_file_and_directory_are_404(app: Firkin, static: Path) -> None:
    (static / "sub").mkdir()
    client = app.test_client()
    assert (await client.get("/static/missing.txt")).status_code == 404
    assert (await client.get("/static/sub")).status_code == 404


async def test_send_from_directory_in_a_view(app: Firkin, static: Path) -> None:
    (static / "sub").mkdir()
    (static / "sub" / "x.json").write_bytes(b"{}")

    @app.get("/files/<path:name>")
    async def files(name: str) -> Response:
        return await send_from_directory("static", name, as_attachment=True)  # relative to root_path

    response = await app.test_client().get("/files/sub/x.json")
    assert response.status_code == 200
    assert await response.get_data() == b"{}"
    assert response.headers["Content-Disposition"] == "attachment; filename=x.json"


# ----------------------------------------------------------------- streaming


async def test_large_file_streams_in_chunks(app: Firkin, static: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 123)
    (static / "big.bin").write_bytes(data)
    async with app.test_request_context("/"):
        response = await send_file(static / "big.bin")
    body = response.response
    assert isinstance(body, FileBody)
    assert response.headers["Content-Length"] == str(len(data))
    chunks = [chunk async for chunk in body]
    assert len(chunks) > 1
    assert max(len(chunk) for chunk in chunks) <= FILE_CHUNK_SIZE
    assert b"".join(chunks) == data
    assert body._file is None  # closed after the last chunk, before anyone called aclose()

    response = await app.test_client().get("/static/big.bin", headers={"Range": "bytes=70000-200000"})
    assert response.status_code == 206
    assert await response.get_data() == data[70000:200001]


async def test_body_closed_when_send_stops_early(static: Path) -> None:
    body = FileBody(static / "hello.txt", chunk_size=4)
    assert await body.__anext__() == DATA[:4]
    assert body._file is not None
    await body.aclose()
    assert body._file is None
    assert [chunk async for chunk in body] == []


async def test_body_closed_after_cancelled_read(static: Path) -> None:
    body = FileBody(static / "hello.txt", chunk_size=4)
    with anyio.CancelScope() as scope:
        scope.cancel()
        await body.__anext__()
    assert scope.cancelled_caught
    assert body._file is not None  # opened (shielded), its read cancelled
    await body.aclose()
    assert body._file is None


async def test_file_body_range_and_chunks(static: Path) -> None:
    body = FileBody(static / "hello.txt", begin=3, end=20, chunk_size=5)
    assert [await body.__anext__() for _ in range(3)] == [DATA[3:8], DATA[8:13], DATA[13:18]]
    assert body._file is not None
    assert await body.__anext__() == DATA[18:20]
    assert body._file is None  # closed with the last chunk, not at the next call
    with pytest.raises(StopAsyncIteration):
        await body.__anext__()


async def test_io_body_range() -> None:
    buffer = io.BytesIO(DATA)
    body = IOBody(buffer, chunk_size=8)
    body.set_range(10, 30)
    assert b"".join([chunk async for chunk in body]) == DATA[10:30]
    assert buffer.closed


async def test_head_sends_no_body_and_does_not_open_the_file(
    app: Firkin, static: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []
    open_file = anyio.open_file

    async def counting_open_file(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(path)
        return await open_file(path, *args, **kwargs)

    monkeypatch.setattr(anyio, "open_file", counting_open_file)
    client = app.test_client()
    response = await client.head("/static/hello.txt")
    assert response.status_code == 200
    assert await response.get_data() == b""
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.mimetype == "text/plain"
    assert opened == []

    response = await client.get("/static/hello.txt")
    assert await response.get_data() == DATA
    assert opened == [str(static / "hello.txt")]  # the check above can see an open


# ----------------------------------------------------------------- static routes


async def test_app_static_route_and_url_for(app: Firkin) -> None:
    async with app.test_request_context("/"):
        assert url_for("static", filename="hello.txt") == "/static/hello.txt"


async def test_no_static_folder_no_static_route() -> None:
    app = Firkin(__name__, static_folder=None)
    assert "static" not in {rule.endpoint for rule in app.url_map.iter_rules()}
    assert (await app.test_client().get("/static/hello.txt")).status_code == 404
    with pytest.raises(RuntimeError, match="static_folder"):
        await app.send_static_file("hello.txt")


async def test_custom_static_url_path(static: Path) -> None:
    app = Firkin(__name__, static_folder=str(static), static_url_path="/assets")
    client = app.test_client()
    response = await client.get("/assets/hello.txt")
    assert await response.get_data() == DATA
    assert (await client.get("/static/hello.txt")).status_code == 404


async def test_blueprint_static_route(app: Firkin, tmp_path: Path) -> None:
    bp_static = tmp_path / "bp_static"
    bp_static.mkdir()
    (bp_static / "style.css").write_bytes(b"body {}")
    blueprint = Blueprint("admin", __name__, static_folder=str(bp_static), static_url_path="/assets")
    app.register_blueprint(blueprint, url_prefix="/admin")
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 30

    client = app.test_client()
    response = await client.get("/admin/assets/style.css")
    assert response.status_code == 200
    assert await response.get_data() == b"body {}"
    assert response.mimetype == "text/css"
    assert response.cache_control.max_age == 30
    response = await client.get("/admin/assets/style.css", headers={"Range": "bytes=-2"})
    assert response.status_code == 206
    assert await response.get_data() == b"{}"
    assert (await client.get("/admin/assets/../../secret.txt")).status_code == 404
    async with app.test_request_context("/"):
        assert url_for("admin.static", filename="style.css") == "/admin/assets/style.css"


async def test_static_host_needs_host_matching(static: Path) -> None:
    with pytest.raises(ValueError, match="static_host"):
        Firkin(__name__, static_folder=str(static), host_matching=True)


# ----------------------------------------------------------------- Quart's names and errors


async def test_attachment_filename_is_quarts_download_name(app: Firkin, static: Path) -> None:
    async with app.app_context():
        response = await send_file(static / "hello.txt", as_attachment=True, attachment_filename="report.csv")
        assert response.headers["Content-Disposition"] == "attachment; filename=report.csv"
        assert response.mimetype == "text/csv"
        with pytest.raises(TypeError, match="not both"):
            await send_file(static / "hello.txt", download_name="a.txt", attachment_filename="b.txt")


async def test_unknown_mimetype_is_both_value_and_type_error(app: Firkin) -> None:
    async with app.app_context():
        for error in (ValueError, TypeError):  # Quart raises ValueError, Flask TypeError
            with pytest.raises(error, match="'mimetype' or 'download_name'"):
                await send_file(io.BytesIO(DATA))


async def test_send_from_directory_without_app_context(app: Firkin, static: Path) -> None:
    # A missing file is a 404 whatever the context; sending one needs the app (as in Flask).
    with pytest.raises(NotFound):
        await send_from_directory(static, "missing.txt")
    with pytest.raises(NotFound):
        await send_from_directory(static, "../secret.txt")
    with pytest.raises(RuntimeError, match="application context"):
        await send_from_directory(static, "hello.txt")
    with pytest.raises(RuntimeError, match="root_path"):
        await send_from_directory("static", "missing.txt")  # relative: needs the app's root_path
    async with app.app_context():
        response = await send_from_directory("static", "hello.txt")  # no request: not conditional
        assert response.status_code == 200
        assert await response.get_data() == DATA


# ----------------------------------------------------------------- Quart's send_file


async def test_quarts_keyword_names_work_without_warnings(app: Firkin, static: Path) -> None:
    """`add_etags` and `cache_timeout` (Quart's names for `etag` and `max_age`) are taken as they
    are: a Quart app's calls run unchanged (filterwarnings=error would catch a warning here)."""
    async with app.app_context():
        response = await send_file(static / "hello.txt", add_etags=False, cache_timeout=60)
        assert "ETag" not in response.headers
        assert response.cache_control.max_age == 60
        assert response.cache_control.public
        assert "Expires" in response.headers
        for clash in ({"etag": False, "add_etags": False}, {"max_age": 1, "cache_timeout": 1}):
            with pytest.raises(TypeError, match="not both"):
                await send_file(static / "hello.txt", **clash)


async def test_a_path_given_as_bytes(app: Firkin, static: Path) -> None:
    async with app.app_context():
        response = await send_file(os.fsencode(static / "hello.txt"))
    assert response.mimetype == "text/plain"
    assert response.content_length == len(DATA)


async def test_the_defaults_and_quarts_through_config(app: Firkin, static: Path) -> None:
    """firkin keeps Flask's defaults: caches revalidate (`no-cache`) and conditional requests are
    answered. Quart's 12-hour public caching is one setting away."""
    file_view(app, static / "hello.txt")
    client = app.test_client()
    response = await client.get("/file")
    assert response.headers["Cache-Control"] == "no-cache"
    assert "Expires" not in response.headers
    etag = response.headers["ETag"]
    assert (await client.get("/file", headers={"If-None-Match": etag})).status_code == 304
    assert (await client.get("/file", headers={"Range": "bytes=0-1"})).status_code == 206

    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = timedelta(hours=12)  # Quart's default
    response = await client.get("/file")
    assert response.cache_control.public
    assert response.cache_control.max_age == 12 * 3600
    assert "Expires" in response.headers


async def test_conditional_false_is_quarts_default_behaviour(app: Firkin, static: Path) -> None:
    file_view(app, static / "hello.txt", conditional=False)
    client = app.test_client()
    etag = (await client.get("/file")).headers["ETag"]
    for headers in ({"If-None-Match": etag}, {"Range": "bytes=0-1"}):
        response = await client.get("/file", headers=headers)
        assert response.status_code == 200
        assert await response.get_data() == DATA


async def test_a_bytesio_with_quarts_attachment_filename(app: Firkin) -> None:
    file_view(app, lambda: io.BytesIO(DATA), as_attachment=True, attachment_filename="data.csv")
    response = await app.test_client().get("/file")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == "attachment; filename=data.csv"
    assert await response.get_data() == DATA


async def test_send_file_and_send_from_directory_in_plain_def_views(app: Firkin, static: Path) -> None:
    # Flask's idiom: in a sync view (a worker thread) the helpers give the response itself.
    from firkin import send_from_directory

    @app.get("/sync-file")
    def sync_file() -> Response:
        response = send_file(static / "hello.txt")
        assert isinstance(response, Response)  # not a coroutine
        response.headers["X-Sent-By"] = "sync view"
        return response

    @app.get("/sync-dir/<path:name>")
    def sync_dir(name: str) -> Any:  # (typed as its async use)
        return send_from_directory(static, name)

    client = app.test_client()
    response = await client.get("/sync-file")
    assert (response.status_code, await response.get_data()) == (200, DATA)
    assert response.headers["X-Sent-By"] == "sync view"
    partial = await client.get("/sync-dir/hello.txt", headers={"Range": "bytes=0-9"})
    assert (partial.status_code, await partial.get_data()) == (206, DATA[:10])
    assert (await client.get("/sync-dir/../secret.txt")).status_code == 404
