"""The HTTP/1.1 driver on a fake backend: transport callbacks called directly, bytes written asserted.

No sockets, no sleeps, no event loop: time moves only when a test calls `advance()` (STYLE.md #14).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tapster import ClientDisconnected, Config, LocalProtocolError, Server
from tapster.asgi._http11 import H11Protocol
from tapster.asgi._state import ServerState
from tapster.asgi._types import ASGIApp, Message, Receive, Scope, Send

from .fakes import Cancelled, FakeBackend, FakeTransport, FakeWaiter

# ----------------------------------------------------------------------------- harness


class Conn:
    """One connection under test: an H11Protocol with its ServerState, FakeBackend and FakeTransport."""

    def __init__(
        self,
        app: ASGIApp,
        backend: FakeBackend | None = None,
        *,
        state: ServerState | None = None,
        peername: Any = ("203.0.113.7", 50123),
        sockname: Any = ("192.0.2.1", 8000),
        tls: bool = False,
        **config: Any,
    ) -> None:
        # No Date or Server header: the bytes written are then exact and stable.
        config.setdefault("date_header", False)
        config.setdefault("server_header", False)
        self.backend = backend if backend is not None else FakeBackend()
        self.config = Config(**config) if state is None else state.config
        self.state = ServerState(app, self.config, self.backend) if state is None else state
        self.proto = H11Protocol(self.state)
        self.transport = FakeTransport(self.backend, peername=peername, sockname=sockname, tls=tls)
        self.transport.attach(self.proto)
        self.run()

    def run(self) -> None:
        self.backend.run_until_idle()

    def feed(self, data: bytes) -> None:
        assert self.transport.reading, "a real transport delivers nothing while reading is paused"
        self.proto.data_received(data)
        self.run()

    def advance(self, seconds: float) -> None:
        self.backend.advance(seconds)

    def take(self) -> bytes:
        return self.transport.take()

    @property
    def closed(self) -> bool:
        return self.transport.closed

    @property
    def finished(self) -> bool:
        """Closed, or lingering: our side shut down while the client may still be sending."""
        return self.transport.closed or self.transport.eof_written


ConnFactory = Callable[..., Conn]


@pytest.fixture
def make_conn() -> Iterator[ConnFactory]:
    made: list[Conn] = []

    def factory(app: ASGIApp, backend: FakeBackend | None = None, **options: Any) -> Conn:
        conn = Conn(app, backend, **options)
        made.append(conn)
        return conn

    yield factory
    for conn in made:
        assert not conn.transport.late_writes, "the driver wrote to a closed transport"


def get(path: str = "/", *headers: bytes) -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: example.com\r\n" + b"".join(headers) + b"\r\n"


def post(length: int, *headers: bytes) -> bytes:
    """A POST head announcing `length` body bytes (the body is fed separately)."""
    return b"POST /upload HTTP/1.1\r\nHost: example.com\r\ncontent-length: %d\r\n%b\r\n" % (
        length,
        b"".join(headers),
    )


def ok(body: bytes = b"ok") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body)


EXPECT = b"Expect: 100-continue\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


async def respond(send: Send, body: bytes = b"ok", status: int = 200, headers: Any = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        chunk: bytes = message["body"]
        body += chunk
        if not message["more_body"]:
            return body


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send)


# ----------------------------------------------------------------------------- the scope


def test_scope_follows_the_asgi_http_spec(make_conn: ConnFactory) -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await respond(send)

    c = make_conn(app, root_path="/api")
    pool = object()
    c.state.lifespan_state["pool"] = pool
    c.feed(b"GET /caf%C3%A9/a%2Fb?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nX-Trace-ID: AbC\r\n\r\n")

    assert c.take() == ok()
    [scope] = scopes
    assert scope["type"] == "http"
    assert scope["asgi"]["version"] == "3.0"
    assert isinstance(scope["asgi"]["spec_version"], str)
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/café/a/b"  # percent-decoded (UTF-8), under the root path
    assert scope["raw_path"] == b"/caf%C3%A9/a%2Fb"  # as received
    assert scope["query_string"] == b"x=1&y=%20"  # as received, without "?"
    assert scope["headers"] == [(b"host", b"example.com"), (b"x-trace-id", b"AbC")]
    assert scope["client"] == ("203.0.113.7", 50123)
    assert scope["server"] == ("192.0.2.1", 8000)
    assert scope["state"] == {"pool": pool}
    assert scope["state"] is not c.state.lifespan_state


def test_scope_http10_https_and_unix_socket(make_conn: ConnFactory) -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await respond(send)

    c = make_conn(app, tls=True, peername="", sockname="/run/tapster.sock")
    c.feed(b"GET /plain HTTP/1.0\r\n\r\n")

    [scope] = scopes
    assert scope["http_version"] == "1.0"
    assert scope["scheme"] == "https"
    assert scope["root_path"] == ""
    assert scope["path"] == "/plain"
    assert scope["query_string"] == b""
    assert scope["client"] is None
    assert scope["server"] is None
    assert c.take().startswith(b"HTTP/1.1 200 OK\r\n")
    assert c.closed  # HTTP/1.0 without keep-alive


def test_scope_state_is_a_copy_per_request(make_conn: ConnFactory) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["state"]
        seen.append(dict(state))
        state["request"] = scope["path"]  # must not leak into the next request or the lifespan state
        await respond(send)

    c = make_conn(app)
    c.state.lifespan_state["shared"] = 1
    c.feed(get("/one"))
    c.feed(get("/two"))

    assert seen == [{"shared": 1}, {"shared": 1}]
    assert c.state.lifespan_state == {"shared": 1}


# ----------------------------------------------------------------------------- keep-alive, pipelining


def test_keep_alive_serves_two_requests_on_one_connection(make_conn: ConnFactory) -> None:
    paths: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        paths.append(scope["path"])
        await respond(send, scope["path"].encode())

    c = make_conn(app)
    c.feed(get("/a"))
    assert c.take() == ok(b"/a")
    assert not c.closed
    c.feed(get("/b"))
    assert c.take() == ok(b"/b")
    assert not c.closed
    assert paths == ["/a", "/b"]


def test_pipelined_requests_are_answered_in_order_one_at_a_time() -> None:
    backend = FakeBackend()
    gate = backend.create_waiter()
    log: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        log.append("start " + path)
        if path == "/1":
            await gate.wait()
        await respond(send, path.encode())
        log.append("end " + path)

    c = Conn(app, backend)
    c.feed(get("/1") + get("/2"))
    assert log == ["start /1"]  # the second app call waits for the first response
    assert c.take() == b""

    gate.wake()
    c.run()
    assert log == ["start /1", "end /1", "start /2", "end /2"]
    assert c.take() == ok(b"/1") + ok(b"/2")
    assert not c.closed


def test_connection_close_request_closes_after_the_response(make_conn: ConnFactory) -> None:
    c = make_conn(hello)
    c.feed(get("/", b"Connection: close\r\n"))
    assert c.take() == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
    assert c.closed


def test_half_closed_client_still_gets_its_response(make_conn: ConnFactory) -> None:
    # A client may shut down its sending side after the request (RFC 9112 §9.6) and still read the
    # answer: EOF while a response is owed keeps the connection open until that response is out.
    backend = FakeBackend()
    gate = FakeWaiter(backend)
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages.append(await receive())
        await gate.wait()
        await respond(send, b"late")

    c = make_conn(app, backend)
    c.feed(get())
    assert c.proto.eof_received() is True  # keep the half-closed transport open
    c.run()
    assert not c.closed
    gate.wake()
    c.run()
    assert c.take() == ok(b"late")
    assert c.closed  # then the EOF is acted on
    assert messages == [{"type": "http.request", "body": b"", "more_body": False}]


def test_eof_tells_a_listening_app_the_client_left(make_conn: ConnFactory) -> None:
    # An app waiting for the client to leave (long poll, server-sent events) hears of an EOF at once.
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages.append(await receive())
        messages.append(await receive())

    c = make_conn(app)
    c.feed(get())
    assert c.proto.eof_received() is True
    c.run()
    assert messages[1:] == [{"type": "http.disconnect"}]
    assert c.take() == b""  # no 500: the app gave up because the client left
    assert c.closed


def test_error_with_input_still_arriving_lingers_then_closes(make_conn: ConnFactory) -> None:
    # RFC 9112 §9.6: closing with unread input makes the kernel reset the connection, which can
    # destroy the 400 before the client reads it. Half-close, discard, then close.
    c = make_conn(hello)
    c.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    assert c.take().startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert c.transport.eof_written
    assert not c.closed
    c.feed(b"x" * 100_000)  # discarded: nothing is parsed or written
    assert c.take() == b""
    assert c.proto.eof_received() is False  # the client's EOF ends the linger
    c.run()
    assert c.closed


def test_linger_is_bounded_by_linger_timeout(make_conn: ConnFactory) -> None:
    c = make_conn(hello, linger_timeout=2.0)
    c.feed(b"GET / HTTP/1.1\r\nHost: a\r\nFoo : bar\r\n\r\n")
    assert c.take().startswith(b"HTTP/1.1 400 ")
    c.advance(1.9)
    assert not c.closed
    c.advance(0.2)
    assert c.closed


def test_no_linger_without_half_close_support(make_conn: ConnFactory) -> None:
    c = make_conn(hello)
    c.transport.supports_eof = False  # e.g. TLS: no write_eof()
    c.feed(b"GET / HTTP/1.1\r\nHost: a\r\nFoo : bar\r\n\r\n")
    assert c.take().startswith(b"HTTP/1.1 400 ")
    c.run()
    assert c.closed
    assert not c.transport.eof_written


def test_no_linger_when_the_client_is_done_sending(make_conn: ConnFactory) -> None:
    c = make_conn(hello)
    c.feed(get("/", b"Connection: close\r\n"))
    assert c.take() == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
    c.run()
    assert c.closed
    assert not c.transport.eof_written


def test_disconnect_reaches_every_task_waiting_in_receive(make_conn: ConnFactory) -> None:
    backend = FakeBackend()
    seen: list[Message] = []

    async def listener(receive: Receive) -> None:
        seen.append(await receive())

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["more_body"] is False
        backend.spawn(listener(receive))  # a second task waiting on the same receive
        await listener(receive)

    c = make_conn(app, backend)
    c.feed(get())
    c.transport.lose_connection()
    c.run()
    assert seen == [{"type": "http.disconnect"}, {"type": "http.disconnect"}]
    assert c.take() == b""  # the app returned after the client left: no 500, no error


def test_eof_on_an_idle_connection_closes_it(make_conn: ConnFactory) -> None:
    c = make_conn(hello)
    assert c.proto.eof_received() is False
    c.run()
    assert c.closed
    assert c.take() == b""


def test_malformed_request_gets_400_and_close(make_conn: ConnFactory) -> None:
    c = make_conn(hello)
    c.feed(b"GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    assert c.take().startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert c.finished


# ----------------------------------------------------------------------------- Expect: 100-continue


def test_100_continue_is_sent_when_the_app_first_receives() -> None:
    backend = FakeBackend()
    gate = backend.create_waiter()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await respond(send, await read_body(receive))

    c = Conn(app, backend)
    c.feed(post(5, EXPECT))
    assert c.take() == b""  # not before the app asks for the body

    gate.wake()
    c.run()
    assert c.take() == CONTINUE
    c.feed(b"hello")
    assert c.take() == ok(b"hello")
    assert not c.closed


def test_100_continue_is_never_sent_if_the_app_answers_without_reading(make_conn: ConnFactory) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, b"no", status=403)

    c = make_conn(app)
    c.feed(post(5, EXPECT))
    out = c.take()
    assert out.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b" 100 " not in out
    assert c.finished  # the unread body makes the connection unusable


def test_100_continue_after_response_start_when_no_head_was_written(make_conn: ConnFactory) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})  # writes nothing yet
        await send({"type": "http.response.body", "body": await read_body(receive)})

    c = make_conn(app)
    c.feed(post(5, EXPECT))
    assert c.take() == CONTINUE  # otherwise a client waiting for it and the app wait for each other
    c.feed(b"hello")
    assert c.take() == ok(b"hello")


def test_no_100_continue_after_the_head_but_the_body_timeout_runs(make_conn: ConnFactory) -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        messages.append(await receive())

    c = make_conn(app, body_timeout=30.0)
    c.feed(post(5, EXPECT))
    # No 100 after the head; and the body is still owed, so this is the connection's last response.
    assert c.take() == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    c.advance(29.9)
    assert not c.finished
    c.advance(0.1)
    assert c.finished
    assert messages == [{"type": "http.disconnect"}]


# ----------------------------------------------------------------------------- flow control


def test_body_beyond_max_body_buffer_pauses_reading_until_the_app_consumes() -> None:
    backend = FakeBackend()
    gate = backend.create_waiter()
    chunks: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        while True:
            message = await receive()
            chunks.append(message["body"])
            if not message["more_body"]:
                break
        await respond(send)

    c = Conn(app, backend, max_body_buffer=10)
    c.feed(post(40) + b"a" * 8)
    assert c.transport.reading  # 8 bytes buffered: within the bound
    c.proto.data_received(b"b" * 12)
    c.run()
    assert not c.transport.reading  # 20 bytes buffered, the app reads nothing

    gate.wake()
    c.run()
    assert c.transport.reading  # consumed: reading resumes
    assert chunks == [b"a" * 8 + b"b" * 12]
    c.feed(b"c" * 20)
    assert chunks == [b"a" * 8 + b"b" * 12, b"c" * 20]
    assert c.take() == ok()


def test_body_fully_buffered_while_paused_does_not_time_out_a_slow_app() -> None:
    backend = FakeBackend()
    slow = backend.create_waiter()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        await slow.wait()  # the app works on the complete body for a long time
        await respond(send, body)

    c = Conn(app, backend, max_body_buffer=10, body_timeout=30.0)
    c.feed(post(20) + b"x" * 20)
    c.advance(100)
    assert c.take() == b""  # the body was complete: no body timeout may fire
    assert not c.closed
    slow.wake()
    c.run()
    assert c.take() == ok(b"x" * 20)


def test_max_pipelined_bound_pauses_reading_until_the_response_is_done() -> None:
    backend = FakeBackend()
    gate = backend.create_waiter()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/1":
            await gate.wait()
        await respond(send, scope["path"].encode())

    c = Conn(app, backend, max_pipelined=16)
    c.feed(get("/1"))
    assert c.transport.reading
    c.feed(get("/2"))  # more than 16 bytes waiting behind the request being answered
    assert not c.transport.reading

    gate.wake()
    c.run()
    assert c.transport.reading
    assert c.take() == ok(b"/1") + ok(b"/2")


async def stream_ab(scope: Scope, receive: Receive, send: Send, log: list[str]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        log.append("a sent")
        await send({"type": "http.response.body", "body": b"b"})
        log.append("b sent")
    except OSError as exc:
        log.append(type(exc).__name__)
        try:
            await send({"type": "http.response.body", "body": b"c"})
        except OSError as again:
            log.append("again " + type(again).__name__)


def test_send_waits_while_the_transport_is_paused(make_conn: ConnFactory) -> None:
    log: list[str] = []
    c = make_conn(lambda scope, receive, send: stream_ab(scope, receive, send, log))
    c.transport.pause_writing()
    c.feed(get())
    assert c.take() == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n"
    assert log == []  # send() of "a" has not returned

    c.transport.resume_writing()
    c.run()
    assert log == ["a sent", "b sent"]
    assert c.take() == b"1\r\nb\r\n0\r\n\r\n"


def test_send_raises_client_disconnected_after_connection_loss(make_conn: ConnFactory) -> None:
    log: list[str] = []
    c = make_conn(lambda scope, receive, send: stream_ab(scope, receive, send, log))
    c.transport.pause_writing()
    c.feed(get())
    c.take()
    c.transport.lose_connection()
    c.run()
    assert log == ["ClientDisconnected", "again ClientDisconnected"]
    assert issubclass(ClientDisconnected, OSError)
    assert c.proto not in c.state.connections


# ----------------------------------------------------------------------------- disconnects


def test_http_disconnect_reaches_an_app_waiting_in_receive(make_conn: ConnFactory) -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages.append(await receive())  # the (empty) request body
        messages.append(await receive())  # blocks until the client goes away

    c = make_conn(app)
    c.feed(get())
    assert messages == [{"type": "http.request", "body": b"", "more_body": False}]
    c.transport.lose_connection()
    c.run()
    assert messages[1:] == [{"type": "http.disconnect"}]


def test_http_disconnect_reaches_an_app_waiting_for_more_body(make_conn: ConnFactory) -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (message := await receive())["type"] == "http.request":
            messages.append(message)
        messages.append(message)

    c = make_conn(app)
    c.feed(post(10) + b"abc")
    c.transport.lose_connection()
    c.run()
    assert [m["type"] for m in messages] == ["http.request", "http.disconnect"]


def test_http_disconnect_reaches_a_streaming_app(make_conn: ConnFactory) -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"tick", "more_body": True})
        await receive()
        messages.append(await receive())  # e.g. a server-sent-events app watching for the client

    c = make_conn(app)
    c.feed(get())
    assert c.take().endswith(b"4\r\ntick\r\n")
    assert messages == []
    c.transport.lose_connection()
    c.run()
    assert messages == [{"type": "http.disconnect"}]


# ----------------------------------------------------------------------------- app errors


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="tapster.error")
    return caplog


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "tapster.error" and r.levelno >= logging.ERROR
    ]


def test_exception_before_response_start_gives_500(
    make_conn: ConnFactory, errors: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    c = make_conn(app)
    c.feed(get("/fail"))
    out = c.take()
    assert out.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"connection: close\r\n" in out
    assert c.closed
    assert error_lines(errors) == ["Exception in ASGI application for GET /fail"]
    [record] = [r for r in errors.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


def test_exception_after_the_head_closes_without_a_second_response(
    make_conn: ConnFactory, errors: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("boom")

    c = make_conn(app)
    c.feed(get())
    out = c.take()
    assert out == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\npart\r\n"  # no last chunk
    assert c.closed
    assert error_lines(errors) == ["Exception in ASGI application for GET /"]


def test_app_returning_without_a_response_gives_500(
    make_conn: ConnFactory, errors: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    c = make_conn(app)
    c.feed(get())
    assert c.take().startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert c.closed
    assert error_lines(errors) == ["ASGI app returned without sending a response to GET /"]


def test_app_returning_mid_response_closes_the_connection(
    make_conn: ConnFactory, errors: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b"12345", "more_body": True})

    c = make_conn(app)
    c.feed(get())
    assert c.take() == b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345"
    assert c.closed
    assert error_lines(errors) == ["ASGI app returned before finishing the response to GET /"]


def test_invalid_response_header_value_gives_500_and_names_the_header(
    make_conn: ConnFactory, errors: pytest.LogCaptureFixture
) -> None:
    raised: list[Exception] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await respond(send, headers=[(b"x-bad", b"a\r\nb")])
        except LocalProtocolError as exc:
            raised.append(exc)
            raise

    c = make_conn(app)
    c.feed(get())
    out = c.take()
    assert out.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"x-bad" not in out
    assert b"\r\nb" not in out
    assert c.closed
    assert len(raised) == 1
    [line] = error_lines(errors)  # logged once, where it was detected
    assert line.startswith("invalid response from the ASGI app for GET /")
    assert "b'x-bad'" in line


# ----------------------------------------------------------------------------- timeouts (fake clock)


def test_idle_connection_closes_after_keep_alive_timeout(make_conn: ConnFactory) -> None:
    c = make_conn(hello, keep_alive_timeout=5.0)
    c.advance(4.9)
    assert not c.closed
    c.advance(0.1)
    assert c.closed
    assert c.take() == b""


def test_keep_alive_timeout_counts_from_the_end_of_the_last_response(make_conn: ConnFactory) -> None:
    c = make_conn(hello, keep_alive_timeout=5.0)
    c.advance(3)
    c.feed(get())
    assert c.take() == ok()
    c.advance(4.9)  # 7.9 s after connecting, 4.9 s idle
    assert not c.closed
    c.advance(0.1)
    assert c.closed
    assert c.take() == b""


def test_partial_head_gets_408_at_the_head_timeout(make_conn: ConnFactory) -> None:
    c = make_conn(hello, head_timeout=10.0, keep_alive_timeout=5.0)
    c.advance(1)
    c.feed(b"GET / HTTP/1.1\r\nHost: exa")
    c.advance(9.9)  # past the keep-alive timeout: a started head is no longer idle
    assert not c.finished
    c.advance(0.1)
    assert c.take().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert c.finished


def test_slowloris_gets_408_at_the_deadline_from_the_first_byte(make_conn: ConnFactory) -> None:
    c = make_conn(hello, head_timeout=10.0)
    head = get("/", b"X-Padding: " + b"a" * 40 + b"\r\n")
    start = c.backend.now()
    for byte in head:
        c.feed(bytes([byte]))
        c.advance(1)
        if c.finished:
            break
    assert c.backend.now() - start == 10.0  # not reset by each byte
    assert c.take().startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_stalled_body_gets_408_and_the_app_sees_a_disconnect(make_conn: ConnFactory) -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (message := await receive())["type"] == "http.request":
            messages.append(message)
        messages.append(message)

    c = make_conn(app, body_timeout=30.0)
    c.feed(post(10) + b"abc")
    c.advance(20)
    c.feed(b"def")  # progress: the timeout starts again
    c.advance(29.9)
    assert not c.finished
    c.advance(0.1)
    assert c.take().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert c.finished
    assert [m["type"] for m in messages] == ["http.request", "http.request", "http.disconnect"]


def test_stalled_body_after_the_response_started_just_closes(make_conn: ConnFactory) -> None:
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        while (message := await receive())["type"] == "http.request":
            pass
        messages.append(message)

    c = make_conn(app, body_timeout=30.0)
    c.feed(post(10) + b"abc")
    c.take()
    c.advance(30)
    assert c.take() == b""  # no 408 after a head went out
    assert c.finished
    assert messages == [{"type": "http.disconnect"}]


def test_body_timeout_waits_for_100_continue_to_be_sent() -> None:
    # The client waits for "100 Continue" (RFC 9110 §10.1.1): until the app asks, no body is due.
    backend = FakeBackend()
    gate = backend.create_waiter()
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        messages.append(await receive())

    c = Conn(app, backend, body_timeout=30.0)
    c.feed(post(5, EXPECT))
    c.advance(60)
    assert c.take() == b""
    assert not c.closed

    gate.wake()
    c.run()
    assert c.take() == CONTINUE
    c.advance(29.9)
    assert not c.closed
    c.advance(0.1)
    assert c.take().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert messages == [{"type": "http.disconnect"}]


def test_no_timeout_while_the_app_works_on_a_bodiless_request() -> None:
    backend = FakeBackend()
    gate = backend.create_waiter()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await respond(send)

    c = Conn(app, backend)
    c.feed(get())
    c.advance(3600)
    assert not c.closed
    gate.wake()
    c.run()
    assert c.take() == ok()


# ----------------------------------------------------------------------------- shutdown and abort


def test_shutdown_closes_an_idle_connection_at_once(make_conn: ConnFactory) -> None:
    c = make_conn(hello)
    c.feed(get())
    c.take()
    c.proto.shutdown()
    c.run()
    assert c.closed
    assert not c.transport.aborted
    assert c.take() == b""
    assert c.proto not in c.state.connections


def test_shutdown_lets_a_busy_connection_finish_then_closes() -> None:
    backend = FakeBackend()
    gate = backend.create_waiter()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await respond(send)

    c = Conn(app, backend)
    c.feed(get("/1") + get("/2"))
    c.proto.shutdown()
    c.run()
    assert not c.closed

    gate.wake()
    c.run()
    assert c.take() == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"  # not /2
    assert c.closed
    assert not c.transport.aborted


def test_draining_server_closes_new_connections(make_conn: ConnFactory) -> None:
    backend = FakeBackend()
    state = ServerState(hello, Config(), backend)
    state.draining = True
    transport = FakeTransport(backend)
    transport.attach(H11Protocol(state))
    backend.run_until_idle()
    assert transport.closed
    assert not state.connections


def test_abort_cancels_the_app_task() -> None:
    backend = FakeBackend()
    never: FakeWaiter = backend.create_waiter()
    log: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await never.wait()
        except Cancelled:
            log.append("cancelled")
            raise

    c = Conn(app, backend)
    c.feed(get())
    [task] = [t for t in backend.tasks if not t.done]
    c.proto.terminate()
    c.run()
    assert log == ["cancelled"]
    assert task.cancelled
    assert c.transport.aborted
    assert c.take() == b""
    assert c.proto not in c.state.connections


def drain_setup() -> tuple[FakeBackend, FakeWaiter, ServerState, Conn, Conn]:
    """One server with an idle connection and a busy one (its app waits for the gate)."""
    backend = FakeBackend()
    gate = backend.create_waiter()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await respond(send)

    state = ServerState(app, Config(date_header=False, server_header=False, shutdown_timeout=30.0), backend)
    idle, busy = Conn(app, backend, state=state), Conn(app, backend, state=state)
    busy.feed(get())
    return backend, gate, state, idle, busy


def test_server_drain_lets_busy_connections_finish() -> None:
    backend, gate, state, idle, busy = drain_setup()
    drain = backend.start(Server(state.app, state.config)._drain(state))
    backend.run_until_idle()
    assert idle.closed
    assert not busy.closed
    backend.advance(29)
    assert not drain.done

    gate.wake()
    backend.run_until_idle()
    assert drain.result() is None
    assert busy.take() == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
    assert not busy.transport.aborted
    assert not state.connections


def test_server_drain_aborts_what_is_left_at_the_shutdown_timeout() -> None:
    backend, _, state, idle, busy = drain_setup()
    drain = backend.start(Server(state.app, state.config)._drain(state))
    backend.advance(29.9)
    assert idle.closed
    assert not drain.done
    backend.advance(0.1)
    assert drain.result() is None
    assert busy.transport.aborted
    assert busy.take() == b""
    assert not state.connections
    assert [t for t in backend.tasks if t.cancelled]  # the app task was cancelled, not left behind


def test_send_raises_once_the_transport_is_closing(make_conn: ConnFactory) -> None:
    # asyncio marks a transport closing when a write fails, and reports the loss only on a later
    # loop iteration: an app streaming without ever yielding must still be stopped.
    outcome: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        c.transport.closed = True  # what asyncio's _force_close does, before connection_lost runs
        try:
            await send({"type": "http.response.body", "body": b"second", "more_body": True})
        except ClientDisconnected:
            outcome.append("disconnected")

    c = make_conn(app)
    c.feed(get())
    assert outcome == ["disconnected"]
