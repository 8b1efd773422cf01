"""Serving lifecycle end to end: lifespan, graceful shutdown, TLS, Unix sockets, logs, timeouts."""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import tapster
import trustme
from tapster import Config, Server
from tapster.asgi._lifespan import LifespanFailure
from tapster.asgi._types import Receive, Scope, Send

from conftest import ServeFactory, start_server

from .apps import Recorder
from .test_http11 import recv_all, recv_response


def test_lifespan_runs_around_serving(serve: ServeFactory) -> None:
    recorder = Recorder()
    running = serve(recorder)
    assert recorder.lifespan == ["lifespan.startup"]
    running.stop()
    assert recorder.lifespan == ["lifespan.startup", "lifespan.shutdown"]


async def _failing_startup(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "database unreachable"})


def test_lifespan_startup_failure_stops_the_server(loop_name: str) -> None:
    with pytest.raises(LifespanFailure, match="database unreachable"):
        start_server(_failing_startup, loop_name)


async def _http_only(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope {scope['type']}")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"plain"})


def test_app_without_lifespan_is_served(serve: ServeFactory, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tapster.error"):
        running = serve(_http_only)
        assert httpx.get(running.url).text == "plain"
    assert any("lifespan" in r.getMessage() and "not supported" in r.getMessage() for r in caplog.records)


def test_lifespan_on_requires_support(loop_name: str) -> None:
    with pytest.raises(LifespanFailure):
        start_server(_http_only, loop_name, lifespan="on")


class _Stopped(logging.Handler):
    """Sets `event` at the backend's "Stopped listening" line: the listening sockets are closed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Stopped listening"):
            self.event.set()


def test_graceful_shutdown_finishes_in_flight_request(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    stopped = _Stopped()
    logging.getLogger("tapster.error").addHandler(stopped)
    caplog.set_level(logging.DEBUG, logger="tapster.error")
    release = threading.Event()
    entered = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        entered.set()
        await send({"type": "http.response.body", "body": b"first ", "more_body": True})
        # Let the loop run while the test triggers the shutdown: poll a thread event.
        while not release.is_set():
            await tiny_sleep()
        await send({"type": "http.response.body", "body": b"done"})

    running = serve(app)
    with running.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(5)
        stopper = threading.Thread(target=running.stop)
        stopper.start()
        # New connections are refused once the shutdown has closed the listening socket: wait for
        # the backend to say so, however long a busy machine takes to get there.
        try:
            assert stopped.event.wait(10), "the listening sockets were not closed"
        finally:
            logging.getLogger("tapster.error").removeHandler(stopped)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((running.host, running.port), timeout=2).close()
        release.set()
        data = recv_all(sock)
        stopper.join(10)
    # The head left before the shutdown (so no "connection: close"); the body completes, then EOF.
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"6\r\nfirst \r\n4\r\ndone\r\n0\r\n\r\n")


def probe(client: httpx.Client, url: str) -> None:
    assert client.get(f"{url}/probe").text == "ok"


def wait_stalled(count: Callable[[], int], probe: Callable[[], None], rounds: int = 200) -> int:
    """The value of `count` once it has stopped moving: unchanged across two requests the server
    answered on other connections (so its loop ran many times meanwhile). Fails if it never stops."""
    last = count()
    for _ in range(rounds):
        probe()
        probe()
        now = count()
        if now == last:
            return now
        last = now
    raise AssertionError(f"still moving after {rounds} rounds: {last}")


async def tiny_sleep() -> None:
    """Let the loop run for 10 ms, on whichever loop the server runs."""
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        await trio.sleep(0.01)
    else:
        import asyncio

        await asyncio.sleep(0.01)


def test_idle_connections_close_at_shutdown(serve: ServeFactory) -> None:
    running = serve(Recorder())
    with running.connect() as sock:
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        recv_response(sock)
        start = time.monotonic()
        running.stop()
        assert recv_all(sock) == b""
    assert time.monotonic() - start < 5


def test_shutdown_deadline_cancels_the_app(serve: ServeFactory) -> None:
    recorder = Recorder()
    running = serve(recorder, shutdown_timeout=0.5)
    with running.connect() as sock:
        sock.sendall(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        assert recorder.started.wait(5)
        running.stop()
        assert recorder.cancelled.wait(5)
        assert recv_all(sock) == b""
    assert recorder.lifespan[-1] == "lifespan.shutdown"


def test_tls(serve: ServeFactory, tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_pem.write_to_path(keyfile)
    cert.cert_chain_pems[0].write_to_path(certfile)
    with open(certfile, "ab") as chain:
        for pem in cert.cert_chain_pems[1:]:
            chain.write(pem.bytes())
    running = serve(Recorder(), certfile=str(certfile), keyfile=str(keyfile))
    assert running.url.startswith("https://")
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with httpx.Client(verify=context) as client:
        scope = client.get(f"{running.url}/scope").json()
        assert client.post(f"{running.url}/echo", content=b"x" * 100_000).content == b"x" * 100_000
    assert scope["scheme"] == "https"


def test_unix_socket(serve: ServeFactory, tmp_path: Path) -> None:
    path = tmp_path / "tapster.sock"
    running = serve(Recorder(), binds=(f"unix:{path}",))
    assert running.server.addresses == [f"unix:{path}"]
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path))) as client:
        scope = client.get("http://localhost/scope").json()
    assert scope["client"] is None
    running.stop()
    assert not path.exists(), "the socket file is removed at shutdown"


def test_ipv6_bind(serve: ServeFactory) -> None:
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6 loopback")
    running = serve(Recorder(), binds=("[::1]:0",))
    assert running.url.startswith("http://[::1]:")
    assert httpx.get(f"{running.url}/status").text == "ok"


def test_fd_bind(serve: ServeFactory) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        running = serve(Recorder(), binds=(f"fd://{listener.fileno()}",))
        assert running.url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{running.url}/status").text == "ok"
        running.stop()
    finally:
        listener.detach()


def test_access_log_escapes_control_characters(serve: ServeFactory, caplog: pytest.LogCaptureFixture) -> None:
    running = serve(Recorder(), access_log=True)
    with caplog.at_level(logging.INFO, logger="tapster.access"):
        httpx.get(f"{running.url}/status%0d%0aforged-line")
        running.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "tapster.access"]
    assert len(lines) == 1
    assert "\n" not in lines[0]
    assert "\r" not in lines[0]
    assert "\\r\\nforged-line" in lines[0]
    assert '"GET /status' in lines[0]
    assert lines[0].endswith(" 404 9")


def test_access_log_off_by_default(serve: ServeFactory, caplog: pytest.LogCaptureFixture) -> None:
    running = serve(Recorder())
    with caplog.at_level(logging.INFO, logger="tapster.access"):
        httpx.get(f"{running.url}/status")
    assert not [r for r in caplog.records if r.name == "tapster.access"]


def test_server_and_date_headers_can_be_turned_off(serve: ServeFactory) -> None:
    running = serve(Recorder(), server_header=False, date_header=False)
    response = httpx.get(f"{running.url}/status")
    assert "server" not in response.headers
    assert "date" not in response.headers


def test_slowloris_gets_408_on_a_real_socket(serve: ServeFactory) -> None:
    # Proof that the backend's timers drive the head timeout; the timing logic itself is tested on a
    # controllable clock in tests/asgi.
    running = serve(Recorder(), head_timeout=0.5)
    with running.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        data = recv_all(sock, timeout=5)
    assert data.startswith(b"HTTP/1.1 408 ")


def test_idle_keep_alive_closes_on_a_real_socket(serve: ServeFactory) -> None:
    running = serve(Recorder(), keep_alive_timeout=0.5)
    with running.connect() as sock:
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        recv_response(sock)
        # Kept alive: a second request on the same connection is answered ...
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        assert recv_response(sock).startswith(b"HTTP/1.1 200 ")
        idle_from = time.monotonic()
        # ... and the connection is closed once it has been idle for keep_alive_timeout, not before.
        assert recv_all(sock, timeout=5) == b""
        idle = time.monotonic() - idle_from
    assert idle >= 0.45, f"closed after {idle:.3f} s idle, before keep_alive_timeout (0.5 s)"


def test_programmatic_serve_inside_a_running_loop(loop_name: str) -> None:
    results: list[str] = []

    async def main() -> None:
        server = Server(Recorder(), Config(binds=("127.0.0.1:0",)))

        async def client() -> None:
            while not server.started.is_set():
                await tiny_sleep()
            async with httpx.AsyncClient() as c:
                results.append((await c.get(f"{server.addresses[0]}/status")).text)
            server.shutdown()

        if loop_name == "trio":
            import trio

            async with trio.open_nursery() as nursery:
                nursery.start_soon(client)
                await tapster.serve(server.app, server=server)
        else:
            import asyncio

            task = asyncio.ensure_future(client())
            await tapster.serve(server.app, server=server)
            await task

    if loop_name == "trio":
        import trio

        trio.run(main)
    else:
        import asyncio

        if loop_name == "uvloop":
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(main())
        else:
            asyncio.run(main())
    assert results == ["ok"]


def test_back_pressure_on_a_slow_reader(serve: ServeFactory) -> None:
    # The app streams 64 MiB to a client that does not read yet: send() must wait for the socket
    # to drain instead of queueing it all in memory (write_buffer_size).
    sent = [0]
    total = 64 * 1024 * 1024
    chunk = b"z" * 65536

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/probe":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % total)]}
        )
        while sent[0] < total:
            await send(
                {"type": "http.response.body", "body": chunk, "more_body": sent[0] + len(chunk) < total}
            )
            sent[0] += len(chunk)

    running = serve(app)
    with running.connect(timeout=20) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with httpx.Client() as prober:
            stalled = wait_stalled(lambda: sent[0], lambda: probe(prober, running.url))
        # The app ran (it filled the write buffer and the kernel's), then send() made it wait.
        assert stalled >= len(chunk), "the app never sent"
        assert stalled < 16 * 1024 * 1024, f"{stalled} bytes queued for a client that reads nothing"
        received = 0
        while received < total:
            data = sock.recv(1 << 20)
            assert data
            received += len(data)
    assert sent[0] == total


def test_back_pressure_on_a_slow_app(serve: ServeFactory) -> None:
    # The client uploads 64 MiB to an app that does not read yet: the server must stop reading
    # (max_body_buffer) so the client's sends block, instead of buffering the body in memory.
    release = threading.Event()
    total = 64 * 1024 * 1024
    received = [0]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/probe":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        while not release.is_set():
            await tiny_sleep()
        more = True
        while more:
            message = await receive()
            received[0] += len(message.get("body", b""))
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"%d" % received[0]})

    running = serve(app)
    uploaded = [0]
    with running.connect(timeout=20) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)

        def upload() -> None:
            block = b"u" * 65536
            while uploaded[0] < total:
                sock.sendall(block)
                uploaded[0] += len(block)

        uploader = threading.Thread(target=upload)
        uploader.start()
        with httpx.Client() as prober:
            stalled = wait_stalled(lambda: uploaded[0], lambda: probe(prober, running.url))
        # The client sent (the server read up to max_body_buffer, the kernel took more), then its
        # sends blocked: the server stopped reading.
        assert stalled >= 65536, "the client never sent"
        assert stalled < 16 * 1024 * 1024, f"{stalled} bytes accepted while the app read nothing"
        release.set()
        uploader.join(20)
        data = recv_response(sock, timeout=20)
    assert data.endswith(b"\r\n\r\n%d" % total)


def test_app_that_never_yields_is_stopped_when_the_client_leaves(serve: ServeFactory) -> None:
    # The app streams without any await that suspends; once the client is gone, a write fails and
    # the transport is closing: send() must raise instead of writing into the void.
    stopped = threading.Event()
    sent = [0]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for _ in range(200_000):
                await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
                sent[0] += 1
        except OSError:
            stopped.set()

    running = serve(app)
    with running.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200 OK")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
    assert stopped.wait(10), "the app was never told"
    assert sent[0] < 200_000


def test_retire_answers_each_keep_alive_connection_once_more(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Server.retire() (a rolling restart: others go on serving the same sockets) never closes a
    # keep-alive connection under a client that may be sending: an idle one, and one whose
    # response head promised keep-alive before the retirement, each get their next request answered
    # with "connection: close", then close.
    release = threading.Event()
    entered = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/slow":
            await send({"type": "http.response.body", "body": b"first ", "more_body": True})
            entered.set()
            while not release.is_set():
                await tiny_sleep()
        await send({"type": "http.response.body", "body": b"done"})

    stopped = _Stopped()
    logging.getLogger("tapster.error").addHandler(stopped)
    caplog.set_level(logging.DEBUG, logger="tapster.error")
    try:
        running = serve(app)
        with running.connect() as idle, running.connect() as busy:
            idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"connection: close" not in recv_one(idle)
            busy.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            assert entered.wait(5)
            running.server.retire()
            assert stopped.event.wait(10), "the listening sockets were not closed"
            release.set()
            assert b"connection: close" not in recv_one(busy)  # its head left before
            for sock in (busy, idle):
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                last = recv_one(sock)
                assert last.startswith(b"HTTP/1.1 200 ")
                assert b"connection: close" in last
                assert recv_all(sock) == b""
        running.thread.join(10)
        assert not running.thread.is_alive(), "the server did not finish retiring"
    finally:
        logging.getLogger("tapster.error").removeHandler(stopped)


def recv_one(sock: socket.socket) -> bytes:
    """One response, head and body (chunked, or with a Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    if b"transfer-encoding: chunked" not in head:
        return data[: len(head) + 4] + recv_response_body(sock, data, head)
    while not data.endswith(b"0\r\n\r\n"):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def recv_response_body(sock: socket.socket, data: bytes, head: bytes) -> bytes:
    length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    body = data[len(head) + 4 :]
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, body
        body += chunk
    return body


def test_shutdown_waits_for_app_calls_that_outlive_their_connection(serve: ServeFactory) -> None:
    """A websocket handler still cleaning up after its client closed (a database write, a notice to
    other processes) ends before the lifespan's shutdown starts: the connection being gone does not
    make the server idle while the app still runs for it."""
    import anyio
    from websockets.sync.client import connect

    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        events.append("disconnected")
        await anyio.sleep(0.3)  # the cleanup, after the socket is gone
        events.append("cleaned up")

    running = serve(app)
    with connect(f"ws://{running.host}:{running.port}/") as ws:
        ws.send("hello")
    deadline = time.monotonic() + 5
    while "disconnected" not in events and time.monotonic() < deadline:
        time.sleep(0.01)
    running.stop()
    assert events == ["lifespan.startup", "disconnected", "cleaned up", "lifespan.shutdown"]


def test_the_shutdown_deadline_cancels_app_calls_that_outlive_their_connection(serve: ServeFactory) -> None:
    import anyio
    from websockets.sync.client import connect

    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    events.append("lifespan.shutdown")
                    return
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        events.append("disconnected")
        try:
            await anyio.sleep(30)  # a cleanup that never ends
        except anyio.get_cancelled_exc_class():
            events.append("cancelled")
            raise

    running = serve(app, shutdown_timeout=0.5)
    with connect(f"ws://{running.host}:{running.port}/") as ws:
        ws.send("hello")
    deadline = time.monotonic() + 5
    while "disconnected" not in events and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    running.stop()
    assert time.monotonic() - start < 5
    assert events == ["disconnected", "cancelled", "lifespan.shutdown"]
