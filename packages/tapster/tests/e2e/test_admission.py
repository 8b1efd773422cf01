"""Admission limits end to end, hit exactly: `limit_concurrency` (503 + Retry-After without calling
the app) over HTTP/1.1, HTTP/2 and a WebSocket handshake, and `max_connections` (accepting pauses,
the listen backlog holds the next connection, which is served once another closes). Real sockets,
on asyncio, uvloop and trio; the app waits at a gate the test opens (no sleeps)."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest
from tapster.asgi._types import Receive, Scope, Send
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import RunningServer, ServeFactory

from .apps import respond
from .gate import Gate
from .h2client import H2Client
from .test_http2 import TLSFiles, client_context, tls_files  # noqa: F401 - tls_files: a fixture
from .test_http11 import recv_all, recv_response


class Gated:
    """`/block` waits at the gate, then answers 200; anything else answers at once. Counts the
    calls it got (the refused requests must not be among them)."""

    def __init__(self) -> None:
        self.gate = Gate()
        self.calls: list[str] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        with self._lock:
            self.calls.append(scope["path"])
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await receive()
            return
        if scope["path"] == "/block":
            await self.gate.wait()
        await respond(send, 200, b"ok " + scope["path"].encode())


def send_get(running: RunningServer, path: str) -> socket.socket:
    sock = running.connect()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_limit_concurrency_http11_answers_503_without_calling_the_app(serve: ServeFactory) -> None:
    app = Gated()
    running = serve(app, limit_concurrency=2)
    first, second = send_get(running, "/block"), send_get(running, "/block")
    app.gate.wait_entered(2)

    refused = httpx.get(running.url + "/refused")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["connection"] == "close"
    assert app.calls == ["/block", "/block"]  # the app never saw it

    app.gate.release_one()
    assert status_of(recv_response(first)) == 200
    # One place free: exactly one more is admitted, and the next is refused again.
    third = send_get(running, "/block")
    app.gate.wait_entered(3)
    assert httpx.get(running.url + "/refused-again").status_code == 503
    app.gate.release_all()
    assert status_of(recv_response(second)) == 200
    assert status_of(recv_response(third)) == 200
    assert httpx.get(running.url + "/after").text == "ok /after"
    assert app.calls == ["/block", "/block", "/block", "/after"]
    for sock in (first, second, third):
        sock.close()


def test_limit_concurrency_http2_refuses_the_stream_only(serve: ServeFactory) -> None:
    app = Gated()
    running = serve(app, limit_concurrency=2)
    client = H2Client(running.host, running.port)
    try:
        blocked = [client.request("/block"), client.request("/block")]
        app.gate.wait_entered(2)
        refused = client.get("/refused")
        assert refused.status == 503
        assert dict(refused.headers)[b"retry-after"] == b"1"
        assert app.calls == ["/block", "/block"]

        app.gate.release_one()  # (whichever stream reached the gate first: trio may start either)
        while not any(client.responses[sid].done for sid in blocked):
            client.read_some()
        done = [sid for sid in blocked if client.responses[sid].done]
        assert len(done) == 1
        assert client.responses[done[0]].status == 200
        # The connection goes on: the place given back admits the next stream.
        assert client.get("/next").status == 200
        app.gate.release_all()
        assert all(client.wait(sid).status == 200 for sid in blocked)
        assert app.calls == ["/block", "/block", "/next"]
    finally:
        client.close()


def test_limit_concurrency_refuses_a_websocket_handshake(serve: ServeFactory) -> None:
    app = Gated()
    running = serve(app, limit_concurrency=1)
    blocked = send_get(running, "/block")
    app.gate.wait_entered(1)
    with pytest.raises(InvalidStatus) as refused:
        connect("ws://" + running.url.split("//", 1)[1] + "/ws", open_timeout=5)
    assert refused.value.response.status_code == 503
    assert refused.value.response.headers["retry-after"] == "1"
    assert app.calls == ["/block"]
    app.gate.release_one()
    assert status_of(recv_response(blocked)) == 200
    blocked.close()
    # Admitted now: the WebSocket holds its place while it is open.
    with connect("ws://" + running.url.split("//", 1)[1] + "/ws", open_timeout=5):
        assert httpx.get(running.url + "/busy").status_code == 503
    assert app.calls == ["/block", "/ws"]


def test_max_connections_pauses_accepting_and_resumes(serve: ServeFactory) -> None:
    app = Gated()
    running = serve(app, max_connections=2)
    first, second = send_get(running, "/one"), send_get(running, "/two")
    assert status_of(recv_response(first)) == 200
    assert status_of(recv_response(second)) == 200

    # The kernel completes the handshake (the backlog holds it); tapster does not accept it.
    waiting = send_get(running, "/waiting")
    # A full round trip on an accepted connection: the server's loop has run since `waiting`
    # connected, and would have accepted it by now if it were accepting.
    first.sendall(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(recv_response(first)) == 200
    waiting.setblocking(False)
    with pytest.raises(BlockingIOError):
        waiting.recv(1)
    assert app.calls == ["/one", "/two", "/again"]

    second.close()  # room for one: `waiting` is accepted and answered
    assert status_of(recv_response(waiting)) == 200
    assert app.calls[-1] == "/waiting"

    # At the bound again (first, waiting): the next one waits in turn.
    later = send_get(running, "/later")
    first.sendall(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(recv_response(first)) == 200
    later.setblocking(False)
    with pytest.raises(BlockingIOError):
        later.recv(1)
    first.close()
    assert status_of(recv_response(later)) == 200
    for sock in (waiting, later):
        sock.close()


def test_max_connections_over_tls_a_failed_handshake_gives_its_place_back(
    serve: ServeFactory,
    tls_files: TLSFiles,  # noqa: F811 - the fixture imported from test_http2
) -> None:
    ca, certfile, keyfile = tls_files
    app = Gated()
    running = serve(app, max_connections=1, certfile=str(certfile), keyfile=str(keyfile))
    for _ in range(3):  # more failed handshakes than places: each must give its place back
        with running.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not TLS: the handshake fails
            assert recv_all(sock) == b""
    # Over TLS, HTTP/1.1 and then HTTP/2 (ALPN), each in the one place there is.
    with httpx.Client(verify=client_context(ca), timeout=5) as client:
        assert client.get(running.url + "/tls").text == "ok /tls"
    with httpx.Client(http2=True, verify=client_context(ca), timeout=5) as client:
        response = client.get(running.url + "/h2")
        assert (response.http_version, response.text) == ("HTTP/2", "ok /h2")
    assert app.calls == ["/tls", "/h2"]


def test_max_connections_with_the_proxy_protocol(serve: ServeFactory) -> None:
    # A connection whose PROXY header is refused gives its place back; the next one is served,
    # with the client its header names.
    app = Gated()
    running = serve(app, max_connections=1, proxy_protocol=True, access_log=True)
    for _ in range(3):
        with running.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # no PROXY header: closed
            try:
                assert recv_all(sock) == b""
            except ConnectionResetError:
                pass  # (closed with the request unread: the kernel may answer with a reset)
    with running.connect() as sock:
        sock.sendall(b"PROXY TCP4 203.0.113.7 10.0.0.1 4711 80\r\nGET /proxied HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(recv_response(sock)) == 200
    assert app.calls == ["/proxied"]
