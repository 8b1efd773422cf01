"""WSGI apps served by tapster, end to end: a Flask app and raw PEP 3333 apps over real sockets
(httpx, raw sockets, a raw `h2` client, curl), on every backend.

Back-pressure is checked where it shows: a client whose upload the app does not read is made to
wait by TCP (tapster stops reading), and an app whose client does not read is not asked for more.
"""

from __future__ import annotations

import hashlib
import json
import select
import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import flask
import httpx
import pytest
from tapster._interface import StartResponse

from conftest import ServeFactory, require_tool

from .h2client import H2Client

Environ = dict[str, Any]
MiB = 1024 * 1024


# ----------------------------------------------------------------------------- a Flask app

flask_app = flask.Flask(__name__)
flask_app.secret_key = "test only"


@flask_app.get("/")
def index() -> str:
    return "hello " + flask.request.args.get("name", "world")


@flask_app.post("/json")
def echo_json() -> Any:
    return flask.jsonify(flask.request.get_json())


@flask_app.post("/form")
def form() -> Any:
    upload = flask.request.files["file"]
    return {"fields": dict(flask.request.form), "file": [upload.filename, len(upload.read())]}


@flask_app.get("/session")
def session() -> Any:
    flask.session["visits"] = flask.session.get("visits", 0) + 1
    return {"visits": flask.session["visits"], "cookie": flask.request.cookies.get("theme")}


@flask_app.get("/environ")
def environ() -> Any:
    env = flask.request.environ
    keys = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL", "wsgi.url_scheme", "HTTP_ACCEPT")
    return {key: env.get(key) for key in keys} | {"url": flask.request.url}


@flask_app.get("/client")
def client() -> Any:
    request = flask.request
    return {"remote_addr": request.remote_addr, "scheme": request.scheme, "host": request.host}


@flask_app.post("/upload")
def upload() -> Any:
    # Read in pieces, as an app storing a large upload does; note how much the server's reader
    # ever held beyond what the app took.
    stream = flask.request.environ["wsgi.input"]
    digest, size, most_held = hashlib.sha256(), 0, 0
    while piece := flask.request.stream.read(64 * 1024):
        digest.update(piece)
        size += len(piece)
        most_held = max(most_held, stream.buffered)
    return {"size": size, "sha256": digest.hexdigest(), "most_held": most_held}


@flask_app.get("/download")
def download() -> flask.Response:
    size = int(flask.request.args["mib"]) * MiB

    def generate() -> Iterator[bytes]:
        chunk = b"d" * (256 * 1024)
        for _ in range(size // len(chunk)):
            yield chunk

    return flask.Response(generate(), mimetype="application/octet-stream")


@flask_app.get("/file")
def send_file() -> flask.Response:
    return flask.send_file(__file__, mimetype="text/x-python")


@flask_app.get("/fails")
def fails() -> str:
    raise RuntimeError("the view failed")


def test_flask_app(serve: ServeFactory) -> None:
    running = serve(flask_app)
    with httpx.Client(base_url=running.url) as client:
        response = client.get("/", params={"name": "tapster"})
        assert (response.status_code, response.text) == (200, "hello tapster")
        assert response.headers["content-length"] == "13"
        assert client.post("/json", json={"a": [1, 2]}).json() == {"a": [1, 2]}
        files = {"file": ("notes.txt", b"x" * 5000)}
        assert client.post("/form", data={"k": "v"}, files=files).json() == {
            "fields": {"k": "v"},
            "file": ["notes.txt", 5000],
        }
        client.cookies.set("theme", "dark")
        assert client.get("/session").json() == {"visits": 1, "cookie": "dark"}
        assert client.get("/session").json() == {"visits": 2, "cookie": "dark"}  # the signed cookie came back
        assert client.get("/missing").status_code == 404
        assert client.put("/").status_code == 405
        assert client.get("/fails").status_code == 500  # Flask's own error page
        head = client.head("/")
        assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "11")
        with open(__file__, "rb") as source:
            assert client.get("/file").content == source.read()  # through wsgi.file_wrapper
        env = client.get("/environ?x=%C3%BC", headers={"accept": "a/b"}).json()
        assert env == {
            "SCRIPT_NAME": "",
            "PATH_INFO": "/environ",
            "QUERY_STRING": "x=%C3%BC",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "HTTP_ACCEPT": "a/b",
            "url": f"{running.url}/environ?x=ü",  # werkzeug gives an IRI
        }
        assert client.post("/upload", content=b"u" * 100_000).json()["size"] == 100_000


def test_flask_under_a_root_path(serve: ServeFactory) -> None:
    running = serve(flask_app, root_path="/app")
    env = httpx.get(f"{running.url}/environ").json()
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/environ")
    assert env["url"] == f"{running.url}/app/environ"  # url_for and redirects keep the prefix


def test_flask_behind_a_proxy_sees_the_client(serve: ServeFactory) -> None:
    # --proxy-headers wraps the adapter: the environ is built from the scope the proxy headers made.
    running = serve(flask_app, proxy_headers=True)
    forwarded = {
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "example.com",
    }
    assert httpx.get(f"{running.url}/client", headers=forwarded).json() == {
        "remote_addr": "203.0.113.7",
        "scheme": "https",
        "host": "example.com",
    }


def test_flask_with_curl_chunked_upload(serve: ServeFactory) -> None:
    # No Content-Length: the app reads to the end (wsgi.input_terminated).
    running = serve(flask_app)
    result = subprocess.run(
        [
            require_tool("curl", "curl"),
            "-sS",
            "-H",
            "transfer-encoding: chunked",
            "--data-binary",
            "@-",
            f"{running.url}/upload",
        ],
        input=b"c" * 300_000,
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert json.loads(result.stdout)["sha256"] == hashlib.sha256(b"c" * 300_000).hexdigest()


def test_flask_over_http2(serve: ServeFactory) -> None:
    running = serve(flask_app)
    with httpx.Client(base_url=running.url, http1=False, http2=True) as client:
        response = client.get("/", params={"name": "h2"})
        assert (response.http_version, response.text) == ("HTTP/2", "hello h2")
        assert client.get("/environ").json()["SERVER_PROTOCOL"] == "HTTP/2"
        body = bytes(range(256)) * 4000
        assert client.post("/upload", content=body).json()["sha256"] == hashlib.sha256(body).hexdigest()
        assert len(client.get("/download", params={"mib": 4}).content) == 4 * MiB
        assert client.get("/fails").status_code == 500


def test_a_large_upload_is_read_in_pieces_with_a_bounded_buffer(serve: ServeFactory) -> None:
    running = serve(flask_app)
    body = hashlib.sha256(b"seed").digest() * (32 * MiB // 32)  # 32 MiB

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), MiB):
            yield body[i : i + MiB]

    with httpx.Client(base_url=running.url, timeout=30) as client:
        result = client.post("/upload", content=chunks(), headers={"content-length": str(len(body))}).json()
    assert result["size"] == len(body)
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    # The reader holds at most the rest of one message, and a message is what the server had
    # buffered: max_body_buffer (64 KiB) plus at most one read from the socket (256 KiB).
    assert result["most_held"] <= 64 * 1024 + 256 * 1024


def test_a_large_streamed_response(serve: ServeFactory) -> None:
    running = serve(flask_app)
    with (
        httpx.Client(base_url=running.url, timeout=30) as client,
        client.stream("GET", "/download", params={"mib": 64}) as response,
    ):
        assert response.headers["transfer-encoding"] == "chunked"  # streamed, never buffered whole
        total = sum(len(chunk) for chunk in response.iter_bytes())
    assert total == 64 * MiB


# ----------------------------------------------------------------------------- raw WSGI apps


class Probe:
    """A raw WSGI app whose requests the test can hold and watch from the outside."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.read_first = threading.Event()
        self.closed = threading.Event()
        self.produced = 0
        self.lock = threading.Lock()
        self.running = 0
        self.most_running = 0
        self.started = threading.Semaphore(0)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Any:
        path = environ["PATH_INFO"]
        if path == "/slow-reader":
            stream = environ["wsgi.input"]
            digest = hashlib.sha256(stream.read(64 * 1024))
            self.read_first.set()
            assert self.release.wait(20)
            while piece := stream.read(64 * 1024):
                digest.update(piece)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [digest.hexdigest().encode()]
        if path == "/endless":
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return Endless(self)
        if path == "/hold":
            with self.lock:
                self.running += 1
                self.most_running = max(self.most_running, self.running)
            self.started.release()
            assert self.release.wait(20)
            with self.lock:
                self.running -= 1
            start_response("200 OK", [])
            return [b"held"]
        if path == "/errors":
            print("first line\nsecond", end="", file=environ["wsgi.errors"])
            environ["wsgi.errors"].flush()
            start_response("204 No Content", [])
            return []
        if path == "/raise":
            raise RuntimeError("the app failed before answering")
        if path == "/raise-late":
            return raise_late(start_response)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


def raise_late(start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [])
    yield b"a first part"
    raise RuntimeError("the app failed mid-response")


class Endless:
    """An unending response iterable that counts what it made and records close()."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def __iter__(self) -> Iterator[bytes]:
        chunk = b"e" * 65536
        while True:
            self.probe.produced += len(chunk)
            yield chunk

    def close(self) -> None:
        self.probe.closed.set()


def wait_blocked(sock: socket.socket, timeout: float = 0.5) -> bool:
    """True when `sock` stays unwritable for `timeout` seconds (the peer stopped reading)."""
    _, writable, _ = select.select([], [sock], [], timeout)
    return not writable


def test_an_upload_the_app_does_not_read_stops_the_client(serve: ServeFactory) -> None:
    probe = Probe()
    running = serve(probe)
    size = 64 * MiB
    sock = running.connect()
    sock.sendall(b"POST /slow-reader HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % size)
    pattern = bytes(range(256)) * 256  # the body repeats these 64 KiB
    sent = 0
    sock.setblocking(False)
    while True:
        try:
            sent += sock.send(pattern[sent % len(pattern) :])
        except BlockingIOError:
            if probe.read_first.is_set() and wait_blocked(sock):
                break
    # The app read 64 KiB and waits: what the client got out is that, tapster's bounded buffer
    # and the kernel's socket buffers; nowhere near the body.
    assert sent < 16 * MiB, sent
    probe.release.set()
    sock.setblocking(True)
    while sent < size:
        sent += sock.send(pattern[sent % len(pattern) :][: size - sent])
    digest = hashlib.sha256()
    for _ in range(size // len(pattern)):
        digest.update(pattern)
    sock.settimeout(20)
    response = b""
    while not response.endswith(digest.hexdigest().encode()):
        data = sock.recv(65536)
        assert data, response
        response += data
    assert response.startswith(b"HTTP/1.1 200 ")
    sock.close()


def test_a_client_that_does_not_read_stops_the_app(serve: ServeFactory) -> None:
    probe = Probe()
    running = serve(probe)
    sock = running.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.sendall(b"GET /endless HTTP/1.1\r\nhost: x\r\n\r\n")
    assert sock.recv(1)
    # Wait until the app stops producing (its next send() waits for the socket to drain).
    last = -1
    while probe.produced != last:
        last = probe.produced
        assert not probe.closed.wait(0.3)
    assert probe.produced < 16 * MiB  # socket buffers and write_buffer_size, not the endless body
    sock.close()
    assert probe.closed.wait(10)  # the client left: close() was called


def test_client_disconnect_mid_response_calls_close_over_http2(serve: ServeFactory) -> None:
    probe = Probe()
    running = serve(probe)
    client = H2Client(running.host, running.port)
    sid = client.request("/endless")
    while len(client.responses[sid].body) < 256 * 1024:
        client.read_some()
    client.reset(sid)
    assert probe.closed.wait(10)
    assert bytes(client.get("/").body) == b"ok"  # the connection lives on
    client.close()


def test_app_exceptions(serve: ServeFactory, caplog: pytest.LogCaptureFixture) -> None:
    running = serve(Probe())
    with httpx.Client(base_url=running.url) as client:
        response = client.get("/raise")
        assert response.status_code == 500
        assert response.headers["connection"] == "close"
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/raise-late")  # the head went out: the connection is cut, never a short body
        assert client.get("/").text == "ok"  # the server goes on
    assert "the app failed before answering" in caplog.text


def test_wsgi_errors_go_to_the_error_log(serve: ServeFactory, caplog: pytest.LogCaptureFixture) -> None:
    running = serve(Probe())
    assert httpx.get(f"{running.url}/errors").status_code == 204
    lines = [r.getMessage() for r in caplog.records if r.name == "tapster.error" and r.levelname == "ERROR"]
    assert lines == ["first line", "second"]


def test_app_exceptions_leave_the_other_streams_alone(serve: ServeFactory) -> None:
    running = serve(Probe())
    client = H2Client(running.host, running.port)
    failed = client.request("/raise")
    cut = client.request("/raise-late")
    fine = [client.request("/") for _ in range(5)]
    assert client.wait(failed).status == 500
    assert client.wait(cut).reset == 2  # INTERNAL_ERROR
    assert all(bytes(client.wait(sid).body) == b"ok" for sid in fine)
    client.close()


def test_requests_wait_for_a_free_thread(serve: ServeFactory) -> None:
    probe = Probe()
    running = serve(probe, wsgi_threads=2)
    client = H2Client(running.host, running.port)
    held = [client.request("/hold") for _ in range(4)]
    assert probe.started.acquire(timeout=10)
    assert probe.started.acquire(timeout=10)
    # Two run; the other two wait for a thread, so they have not started.
    assert not probe.started.acquire(timeout=0.3)
    assert probe.running == 2
    probe.release.set()
    assert all(bytes(client.wait(sid).body) == b"held" for sid in held)
    assert probe.most_running == 2
    client.close()


def test_shutdown_finishes_a_wsgi_request_in_flight(serve: ServeFactory) -> None:
    probe = Probe()
    running = serve(probe)
    outcome: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: outcome.append(httpx.get(f"{running.url}/hold", timeout=20)))
    thread.start()
    assert probe.started.acquire(timeout=10)
    running.server.shutdown()
    probe.release.set()
    thread.join(20)
    running.thread.join(20)
    assert not running.thread.is_alive()
    assert outcome[0].text == "held"


def test_a_websocket_to_a_wsgi_app_is_refused(serve: ServeFactory) -> None:
    running = serve(Probe())
    sock = running.connect()
    sock.sendall(
        b"GET / HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
        b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
    )
    assert sock.recv(65536).startswith(b"HTTP/1.1 403 ")
    sock.close()


def test_the_shutdown_deadline_ends_a_wsgi_request_and_closes_it(serve: ServeFactory) -> None:
    # A response the client does not read keeps the app's thread waiting in send(): at the
    # deadline the connection is dropped, the send fails in the thread, close() runs, the server stops.
    probe = Probe()
    running = serve(probe, shutdown_timeout=0.5)
    sock = running.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.sendall(b"GET /endless HTTP/1.1\r\nhost: x\r\n\r\n")
    assert sock.recv(1)
    running.server.shutdown()
    running.thread.join(20)
    assert not running.thread.is_alive()
    assert probe.closed.is_set()
    sock.close()
