"""README claims about firkin, shown over a real socket with tapster serving, on every loop: send_file
ranges and conditional requests, MAX_CONTENT_LENGTH on a chunked upload, SECRET_KEY_FALLBACKS, and
background tasks at shutdown. (The same claims are tested in process next to the code; here the
server, the framing and the client are real.)"""

from __future__ import annotations

import logging
import os
import socket
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from firkin import Firkin, current_app, request, session
from firkin.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import http_date

from conftest import ServeFactory

DATA = b"0123456789abcdefghijklmnopqrstuvwxyz"  # 36 bytes

# ----------------------------------------------------------------- send_file: ranges, conditions


@pytest.fixture
def files_app(tmp_path: Path) -> Firkin:
    static = tmp_path / "static"
    static.mkdir()
    (static / "hello.txt").write_bytes(DATA)
    return Firkin(__name__, static_folder=str(static), root_path=str(tmp_path))


def test_ranges_over_tapster(serve: ServeFactory, files_app: Firkin, tmp_path: Path) -> None:
    big = os.urandom(3 * 1024 * 1024 + 123)  # streamed from disk in many chunks
    (tmp_path / "static" / "big.bin").write_bytes(big)
    running = serve(files_app)
    with httpx.Client(base_url=running.url) as client:
        for header, begin, end in [("bytes=2-5", 2, 6), ("bytes=-10", 26, 36), ("bytes=30-", 30, 36)]:
            response = client.get("/static/hello.txt", headers={"Range": header})
            assert (response.status_code, response.content) == (206, DATA[begin:end])
            assert response.headers["Content-Range"] == f"bytes {begin}-{end - 1}/36"
            assert response.headers["Content-Length"] == str(end - begin)
        for header in ("bytes=36-", "bytes=100-200", "bytes=5-2"):
            response = client.get("/static/hello.txt", headers={"Range": header})
            assert response.status_code == 416
            assert response.headers["Content-Range"] == "bytes */36"
        several = client.get("/static/hello.txt", headers={"Range": "bytes=0-1,4-5"})
        assert (several.status_code, several.content) == (200, DATA)  # no multipart: the whole file
        assert "Content-Range" not in several.headers

        part = client.get("/static/big.bin", headers={"Range": "bytes=70000-2200000"})
        assert (part.status_code, part.headers["Content-Length"]) == (206, str(2200001 - 70000))
        assert part.content == big[70000:2200001]
        assert client.get("/static/big.bin").content == big


def test_conditional_requests_over_tapster(serve: ServeFactory, files_app: Firkin) -> None:
    running = serve(files_app)
    with httpx.Client(base_url=running.url) as client:  # one keep-alive connection throughout
        whole = client.get("/static/hello.txt")
        assert (whole.status_code, whole.content, whole.headers["Accept-Ranges"]) == (200, DATA, "bytes")
        etag, last_modified = whole.headers["ETag"], whole.headers["Last-Modified"]

        for headers in ({"If-None-Match": etag}, {"If-Modified-Since": last_modified}):
            for method in ("GET", "HEAD"):
                response = client.request(method, "/static/hello.txt", headers=headers)
                assert (response.status_code, response.content) == (304, b"")
                assert response.headers["ETag"] == etag
                assert "Content-Type" not in response.headers
        # Validators that do not match: the whole file.
        for headers in ({"If-None-Match": '"other"'}, {"If-Modified-Since": http_date(0)}):
            response = client.get("/static/hello.txt", headers=headers)
            assert (response.status_code, response.content) == (200, DATA)

        # If-Range: the range while the validator matches, else the whole file.
        for validator, status, body in [
            (etag, 206, DATA[:4]),
            (last_modified, 206, DATA[:4]),
            ('"stale"', 200, DATA),
            (http_date(0), 200, DATA),
        ]:
            response = client.get("/static/hello.txt", headers={"Range": "bytes=0-3", "If-Range": validator})
            assert (response.status_code, response.content) == (status, body), validator
        assert client.get("/static/hello.txt").content == DATA  # the connection still frames right


# ----------------------------------------------------------------- MAX_CONTENT_LENGTH, chunked


def upload_app() -> tuple[Any, list[int]]:
    """MAX_CONTENT_LENGTH 100; POST /data echoes the body. Also returns the body sizes the app
    received from the server, message by message."""
    app = Firkin(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 100
    received: list[int] = []

    @app.post("/data")
    async def data() -> bytes:
        return bytes(await request.get_data())

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        async def counted() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                received.append(len(message.get("body", b"")))
            return message

        await app(scope, counted, send)

    return counting, received


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def recv_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (5 s at most between reads)."""
    sock.settimeout(5)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    assert len(body) == int(headers["content-length"]), raw
    return int(status_line.split()[1]), headers, body


def test_chunked_upload_past_max_content_length_is_a_413_before_it_ends(serve: ServeFactory) -> None:
    app, received = upload_app()
    running = serve(app)
    with running.connect() as sock:
        sock.sendall(
            b"POST /data HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"x" * 60)
        )
        sock.sendall(chunk(b"y" * 60))  # 120 bytes: past the maximum; the body never ends
        status, headers, body = parse_response(recv_until_closed(sock))
    assert (status, body) == (413, RequestEntityTooLarge().get_body().encode())
    # The rest of the body was never read, so the connection cannot carry another request.
    assert headers["connection"] == "close"
    assert sum(received) == 120


def test_chunked_upload_of_max_content_length_is_read(serve: ServeFactory) -> None:
    app, received = upload_app()
    running = serve(app)
    with running.connect() as sock:
        sock.sendall(
            b"POST /data HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + chunk(b"x" * 60)
            + chunk(b"y" * 40)
            + b"0\r\n\r\n"
        )
        status, _, body = parse_response(recv_until_closed(sock))
    assert (status, body) == (200, b"x" * 60 + b"y" * 40)
    assert sum(received) == 100


# ----------------------------------------------------------------- SECRET_KEY_FALLBACKS


def signed_session(key: str, data: dict[str, Any]) -> str:
    """`data` as a session cookie value signed with `key` only, as an app with that key makes it."""
    app = Firkin(__name__)
    app.secret_key = key
    return str(SecureCookieSessionInterface().get_signing_serializer(app).dumps(data))


def session_signed_with(key: str, value: str) -> Any:
    """The session in cookie `value`, if it is signed with `key` (BadSignature otherwise)."""
    app = Firkin(__name__)
    app.secret_key = key
    return SecureCookieSessionInterface().get_signing_serializer(app).loads(value)


def test_secret_key_fallbacks_over_tapster(serve: ServeFactory) -> None:
    app = Firkin(__name__)
    app.secret_key = "new"
    app.config["SECRET_KEY_FALLBACKS"] = ["old"]

    @app.get("/read")
    async def read() -> str:
        return str(session.get("who"))

    @app.get("/write")
    async def write() -> str:
        session["visits"] = session.get("visits", 0) + 1
        return str(session.get("who"))

    running = serve(app)
    old_cookie = {"Cookie": f"session={signed_session('old', {'who': 'ada'})}"}
    with httpx.Client(base_url=running.url) as client:
        # Signed with the old key: still read.
        answer = client.get("/read", headers=old_cookie)
        assert (answer.status_code, answer.text) == (200, "ada")
        assert "Set-Cookie" not in answer.headers  # not modified, not permanent: not sent again
        # Written: signed again, with the current key only.
        written = client.get("/write", headers=old_cookie)
        assert (written.status_code, written.text) == (200, "ada")
        jar: SimpleCookie = SimpleCookie()
        jar.load(written.headers["Set-Cookie"])
        value = jar["session"].value
        assert session_signed_with("new", value) == {"who": "ada", "visits": 1}
        with pytest.raises(BadSignature):
            session_signed_with("old", value)
        # Without the fallback the old cookie is ignored (an empty session).
        app.config["SECRET_KEY_FALLBACKS"] = []
        assert client.get("/read", headers=old_cookie).text == "None"
        assert client.get("/read", headers={"Cookie": f"session={value}"}).text == "ada"


# ----------------------------------------------------------------- background tasks at shutdown


def background_app(seconds: float, events: list[str]) -> Firkin:
    """GET / starts a background task that sleeps `seconds`, then records; after_serving records."""
    app = Firkin(__name__)

    @app.after_serving
    async def shutdown() -> None:
        events.append("after_serving")
        await anyio.sleep(0.05)  # a task cancelled too late would run on here
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


def start_task(url: str, events: list[str]) -> None:
    response = httpx.get(url)
    assert (response.status_code, response.text) == (200, "ok")
    deadline = time.monotonic() + 5
    while not events:
        assert time.monotonic() < deadline, "the background task did not start"
        time.sleep(0.005)


def test_shutdown_waits_for_a_background_task_over_tapster(serve: ServeFactory) -> None:
    events: list[str] = []
    app = background_app(0.5, events)
    running = serve(app)
    start_task(running.url, events)
    assert events == [f"task started in {app.name}"]  # answered; the task still sleeping
    running.stop()
    assert events == [f"task started in {app.name}", "task done", "after_serving", "after_serving done"]


def test_a_background_task_past_the_bound_is_cancelled_over_tapster(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[str] = []
    app = background_app(30, events)
    app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = 0.2
    running = serve(app)
    start_task(running.url, events)
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        started = time.monotonic()
        running.stop()
        took = time.monotonic() - started
    assert events == [f"task started in {app.name}", "task cancelled", "after_serving", "after_serving done"]
    assert 0.2 <= took < 5  # the bound, not the task's 30 s (nor tapster's own 30 s lifespan bound)
    assert [r.getMessage() for r in caplog.records if r.name == app.logger.name] == [
        "Background tasks still running after 0.2 s at shutdown: cancelled"
    ]
