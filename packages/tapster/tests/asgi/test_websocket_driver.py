"""The WebSocket driver on a fake backend: the upgrade, the ASGI websocket events, pings, bounds, shutdown.

No sockets, no sleeps: the peer is a wsproto client fed the bytes the driver wrote, and time moves only
when a test calls `advance()` (STYLE.md #14).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from tapster import ClientDisconnected, Config, LocalProtocolError, Server
from tapster.asgi._http11 import H11Protocol
from tapster.asgi._state import ServerState
from tapster.asgi._types import ASGIApp, Message, Receive, Scope, Send
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage

from .fakes import FakeBackend, FakeTransport

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def upgrade(target: bytes = b"/chat?room=1", *extra: bytes) -> bytes:
    return (
        b"GET " + target + b" HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n" + b"".join(extra) + b"\r\n"
    )


class WS:
    """One connection under test and a wsproto client on the other end of it."""

    def __init__(self, app: ASGIApp, backend: FakeBackend | None = None, **config: Any) -> None:
        config.setdefault("date_header", False)
        config.setdefault("server_header", False)
        self.backend = backend if backend is not None else FakeBackend()
        self.state = ServerState(app, Config(**config), self.backend)
        self.proto = H11Protocol(self.state)
        self.transport = FakeTransport(self.backend)
        self.transport.attach(self.proto)
        self.client = Connection(ConnectionType.CLIENT)
        self.head = b""
        self.backend.run_until_idle()

    def feed(self, data: bytes) -> None:
        assert self.transport.reading, "a real transport delivers nothing while reading is paused"
        self.proto.data_received(data)
        self.backend.run_until_idle()

    def open(self, *extra: bytes) -> None:
        """Send the upgrade and expect the 101."""
        self.feed(upgrade(b"/chat?room=1", *extra))
        head, _, rest = self.transport.take().partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n"), head
        assert b"sec-websocket-accept: " + ACCEPT in head
        self.head = head
        self.client.receive_data(rest)

    def send(self, event: Event) -> None:
        self.feed(self.client.send(event))

    def events(self) -> list[Event]:
        """What the client received since the last call."""
        self.client.receive_data(self.transport.take())
        return list(self.client.events())

    def advance(self, seconds: float) -> None:
        self.backend.advance(seconds)

    @property
    def closed(self) -> bool:
        """The server ended the connection: closed it, or (lingering for what the client still
        sends) shut its sending side."""
        return self.transport.closed or self.transport.eof_written


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")})


class Recorder:
    """An app that accepts, records every message it receives, and waits for a disconnect."""

    def __init__(self, accept: dict[str, Any] | None = None) -> None:
        self.accept = accept if accept is not None else {"type": "websocket.accept"}
        self.messages: list[Message] = []
        self.scope: Scope = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.messages.append(await receive())
        await send(self.accept)
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "websocket.disconnect":
                return


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="tapster.error")
    return caplog


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "tapster.error" and r.levelno >= logging.ERROR
    ]


# ----------------------------------------------------------------------------- the handshake


def test_scope_follows_the_asgi_websocket_spec() -> None:
    app = Recorder()
    c = WS(app, root_path="/api")
    c.state.lifespan_state["pool"] = "p"
    c.open(b"Sec-WebSocket-Protocol: chat, json\r\n")
    scope = app.scope
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/api/chat"
    assert scope["raw_path"] == b"/chat"
    assert scope["query_string"] == b"room=1"
    assert scope["root_path"] == "/api"
    assert (b"sec-websocket-key", KEY) in scope["headers"]
    assert scope["client"] == ("203.0.113.7", 50123)
    assert scope["server"] == ("192.0.2.1", 8000)
    assert scope["subprotocols"] == ["chat", "json"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert scope["state"] == {"pool": "p"}
    assert app.messages == [{"type": "websocket.connect"}]


def test_scheme_is_wss_over_tls() -> None:
    app = Recorder()
    backend = FakeBackend()
    state = ServerState(app, Config(), backend)
    proto = H11Protocol(state)
    FakeTransport(backend, tls=True).attach(proto)
    proto.data_received(upgrade())
    backend.run_until_idle()
    assert app.scope["scheme"] == "wss"


def test_accept_with_subprotocol_and_headers() -> None:
    app = Recorder({"type": "websocket.accept", "subprotocol": "json", "headers": [(b"x-room", b"1")]})
    c = WS(app)
    c.open(b"Sec-WebSocket-Protocol: chat, json\r\n")
    assert b"\r\nsec-websocket-protocol: json\r\nx-room: 1" in c.head


def test_accept_with_an_unoffered_subprotocol_is_a_500(errors: pytest.LogCaptureFixture) -> None:
    c = WS(Recorder({"type": "websocket.accept", "subprotocol": "nope"}))
    c.feed(upgrade())
    assert c.transport.take().startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert c.closed
    assert any("not offered" in line for line in error_lines(errors))


@pytest.mark.parametrize(
    ("extra", "status", "header"),
    [
        (b"Sec-WebSocket-Version: 8\r\n", 426, b"sec-websocket-version: 13\r\n"),
        (b"Sec-WebSocket-Key: " + KEY + b"\r\n", 400, b""),
    ],
)
def test_bad_upgrade_gets_a_4xx_and_the_app_is_not_called(extra: bytes, status: int, header: bytes) -> None:
    called: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)

    c = WS(app)
    c.feed(upgrade(b"/", extra))
    response = c.transport.take()
    assert response.startswith(b"HTTP/1.1 %d " % status)
    assert header in response
    assert b"connection: close\r\n" in response
    assert c.closed
    assert called == []


def test_other_upgrades_are_served_as_http() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"plain"})

    c = WS(app)
    c.feed(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n")
    assert c.transport.take() == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain"
    assert [s["type"] for s in scopes] == ["http"]
    assert not c.closed


def test_close_before_accept_is_a_403() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})

    c = WS(app)
    c.feed(upgrade())
    assert c.transport.take().startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert c.closed


def test_denial_response_is_a_real_http_response() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"www-authenticate", b"Basic")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"who ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"are you?"})

    c = WS(app)
    c.feed(upgrade())
    assert c.transport.take() == (
        b"HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Basic\r\ntransfer-encoding: chunked\r\n"
        b"connection: close\r\n\r\n4\r\nwho \r\n8\r\nare you?\r\n0\r\n\r\n"
    )
    assert c.closed


def test_send_before_accept_is_an_error(errors: pytest.LogCaptureFixture) -> None:
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "websocket.send", "text": "too early"})
        except LocalProtocolError as exc:
            raised.append(exc)
            raise

    c = WS(app)
    c.feed(upgrade())
    assert "before 'websocket.accept'" in str(raised[0])
    assert c.transport.take().startswith(b"HTTP/1.1 500 ")


def test_frames_sent_right_behind_the_upgrade_are_kept() -> None:
    app = Recorder()
    c = WS(app)
    early = c.client.send(TextMessage(data="early"))  # a client that does not wait for the 101
    c.feed(upgrade() + early)
    assert c.transport.take().startswith(b"HTTP/1.1 101 ")
    assert app.messages[1:] == [{"type": "websocket.receive", "text": "early"}]


# ----------------------------------------------------------------------------- messages and closing


def test_messages_both_ways_then_client_close() -> None:
    c = WS(echo)
    c.open()
    c.send(TextMessage(data="hé"))
    c.send(BytesMessage(data=b"\x00\x01"))
    assert c.events() == [TextMessage(data="hé"), BytesMessage(data=b"\x00\x01")]
    c.send(CloseConnection(code=1000, reason="done"))
    assert c.events() == [CloseConnection(code=1000, reason="done")]  # the close is answered
    assert c.closed  # and the server closes TCP (RFC 6455 §7.1.1)
    assert all(t.done for t in c.backend.tasks)


def test_client_close_reaches_the_app_as_disconnect() -> None:
    app = Recorder()
    c = WS(app)
    c.open()
    c.send(TextMessage(data="one"))
    c.send(CloseConnection(code=4002, reason="gone"))
    assert app.messages[1:] == [
        {"type": "websocket.receive", "text": "one"},
        {"type": "websocket.disconnect", "code": 4002, "reason": "gone"},
    ]


def test_server_close_waits_for_the_answer() -> None:
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4000, "reason": "kicked"})
        await send({"type": "websocket.close"})  # a second close changes nothing
        seen.append(await receive())
        with pytest.raises(ClientDisconnected):
            await send({"type": "websocket.send", "text": "after close"})

    c = WS(app)
    c.open()
    [close] = c.events()
    assert close == CloseConnection(code=4000, reason="kicked")
    assert not c.closed
    assert isinstance(close, CloseConnection)
    c.send(close.response())
    assert c.closed
    assert seen == [{"type": "websocket.disconnect", "code": 4000, "reason": "kicked"}]


def test_unanswered_close_is_dropped_after_the_timeout() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})

    c = WS(app, ws_ping_timeout=5.0, ws_ping_interval=0)
    c.open()
    assert c.events() == [CloseConnection(code=1000, reason="")]
    c.advance(4.9)
    assert not c.closed
    c.advance(0.2)
    assert c.closed
    assert c.transport.aborted


def test_app_returning_closes_with_1000() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "bye"})

    c = WS(app)
    c.open()
    assert c.events() == [TextMessage(data="bye"), CloseConnection(code=1000, reason="")]


def test_invalid_close_code_from_the_app_is_an_error(errors: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1006})

    c = WS(app)
    c.open()
    assert c.events() == [CloseConnection(code=1011, reason="")]


def test_connection_drop_is_a_1006_disconnect_and_send_raises() -> None:
    outcome: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        outcome.append(await receive())
        try:
            await send({"type": "websocket.send", "bytes": b"x"})
        except ClientDisconnected as exc:
            outcome.append(exc)

    c = WS(app)
    c.open()
    c.transport.lose_connection()
    c.backend.run_until_idle()
    assert outcome[0] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert isinstance(outcome[1], ClientDisconnected)
    assert isinstance(outcome[1], OSError)


def test_eof_without_close_frame_is_1006() -> None:
    app = Recorder()
    c = WS(app)
    c.open()
    assert c.proto.eof_received() is False
    c.backend.run_until_idle()
    assert app.messages[-1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert c.closed


def test_client_leaving_before_accept() -> None:
    outcome: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        outcome.append(await receive())
        try:
            await send({"type": "websocket.accept"})
        except ClientDisconnected as exc:
            outcome.append(exc)

    c = WS(app)
    c.feed(upgrade())
    c.proto.eof_received()
    c.backend.run_until_idle()
    assert outcome[0] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert isinstance(outcome[1], ClientDisconnected)
    assert c.transport.take() == b""


def test_invalid_send_messages_are_refused(errors: pytest.LogCaptureFixture) -> None:
    raised: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for message in (
            {"type": "websocket.send", "bytes": b"a", "text": "b"},
            {"type": "websocket.send"},
            {"type": "websocket.send", "text": b"not str"},
            {"type": "http.response.start", "status": 200},
        ):
            try:
                await send(message)
            except LocalProtocolError as exc:
                raised.append(str(exc))

    c = WS(app)
    c.open()
    assert len(raised) == 4
    assert c.events() == [CloseConnection(code=1000, reason="")]


# ----------------------------------------------------------------------------- errors in the app


def test_app_error_before_accept_is_a_500(errors: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    c = WS(app)
    c.feed(upgrade())
    assert c.transport.take().startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert c.closed
    assert error_lines(errors) == ["Exception in ASGI application for WebSocket /chat?room=1"]


def test_app_error_after_accept_is_close_1011(errors: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise RuntimeError("boom")

    c = WS(app)
    c.open()
    c.send(TextMessage(data="trigger"))
    assert c.events() == [CloseConnection(code=1011, reason="")]
    assert error_lines(errors) == ["Exception in ASGI application for WebSocket /chat?room=1"]


def test_app_returning_without_accepting_is_a_500(errors: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    c = WS(app)
    c.feed(upgrade())
    assert c.transport.take().startswith(b"HTTP/1.1 500 ")
    assert error_lines(errors) == [
        "ASGI app returned without accepting or refusing the WebSocket /chat?room=1"
    ]


def test_app_error_in_a_denial_response_after_its_head_closes(errors: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 404, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("boom")

    c = WS(app)
    c.feed(upgrade())
    assert c.transport.take().startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert c.closed


# ----------------------------------------------------------------------------- pings and bounds


def test_pings_keep_a_live_connection_open() -> None:
    c = WS(Recorder(), ws_ping_interval=20.0, ws_ping_timeout=10.0)
    c.open()
    c.advance(19.9)
    assert c.events() == []
    c.advance(0.2)
    [ping] = c.events()
    assert isinstance(ping, Ping)
    c.send(ping.response())
    c.advance(15)  # past the pong timeout the first ping would have had: answered, so nothing
    assert not c.closed
    c.advance(5.1)
    [ping2] = c.events()
    assert isinstance(ping2, Ping)
    assert ping2.payload != ping.payload


def test_unanswered_ping_closes_1011() -> None:
    app = Recorder()
    c = WS(app, ws_ping_interval=20.0, ws_ping_timeout=10.0)
    c.open()
    c.advance(20.1)
    [ping] = c.events()
    assert isinstance(ping, Ping)
    c.send(Pong(payload=b"unrelated"))  # an unsolicited pong does not count (RFC 6455 §5.5.3)
    c.advance(9.8)
    assert not c.closed
    c.advance(0.2)
    assert c.events() == [CloseConnection(code=1011, reason="keepalive ping timeout")]
    assert c.closed
    assert app.messages[-1] == {
        "type": "websocket.disconnect",
        "code": 1011,
        "reason": "keepalive ping timeout",
    }


def test_ping_interval_zero_sends_no_pings() -> None:
    c = WS(Recorder(), ws_ping_interval=0)
    c.open()
    c.advance(3600)
    assert c.events() == []
    assert not c.closed


def test_client_pings_are_answered() -> None:
    c = WS(Recorder())
    c.open()
    c.send(Ping(payload=b"hi"))
    assert c.events() == [Pong(payload=b"hi")]


def test_message_too_big_closes_1009() -> None:
    app = Recorder()
    c = WS(app, ws_max_message_size=1000)
    c.open()
    c.send(BytesMessage(data=b"x" * 1000))
    c.send(BytesMessage(data=b"x" * 1001))
    assert c.events() == [CloseConnection(code=1009, reason="message larger than 1000 bytes")]
    assert c.closed
    assert app.messages[1:] == [
        {"type": "websocket.receive", "bytes": b"x" * 1000},
        {"type": "websocket.disconnect", "code": 1009, "reason": "message larger than 1000 bytes"},
    ]


def test_slow_app_pauses_reading_at_the_queue_bound() -> None:
    backend = FakeBackend()
    gate = backend.create_waiter()
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await gate.wait()
        while True:
            message = await receive()
            received.append(message)
            if message["type"] == "websocket.disconnect":
                return

    c = WS(app, backend, ws_max_queue=4)
    c.open()
    burst = b"".join(c.client.send(TextMessage(data=str(i))) for i in range(10))
    c.feed(burst)  # one read with ten messages: four are queued, the rest wait in the buffer
    assert not c.transport.reading
    assert received == []
    gate.wake()
    c.backend.run_until_idle()
    assert c.transport.reading
    assert [m["text"] for m in received] == [str(i) for i in range(10)]


def test_send_waits_while_the_transport_is_paused() -> None:
    sent: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for i in range(3):
            await send({"type": "websocket.send", "bytes": b"%d" % i})
            sent.append(i)

    c = WS(app)
    c.transport.pause_writing()  # the socket buffer is full before the app starts sending
    c.open()
    assert sent == []  # the first send() wrote its frame, then waits for the drain
    assert c.events() == [BytesMessage(data=b"0")]
    c.transport.resume_writing()
    c.backend.run_until_idle()
    assert sent == [0, 1, 2]  # not paused any more: the rest go straight through


# ----------------------------------------------------------------------------- shutdown


def test_shutdown_closes_an_open_websocket_with_1001() -> None:
    app = Recorder()
    c = WS(app)
    c.open()
    c.proto.shutdown()
    c.backend.run_until_idle()
    [close] = c.events()
    assert close == CloseConnection(code=1001, reason="server shutting down")
    assert isinstance(close, CloseConnection)
    c.send(close.response())
    assert c.closed
    assert app.messages[-1] == {
        "type": "websocket.disconnect",
        "code": 1001,
        "reason": "server shutting down",
    }


def test_shutdown_during_the_handshake_closes_right_after_accept() -> None:
    backend = FakeBackend()
    gate = backend.create_waiter()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await gate.wait()
        await send({"type": "websocket.accept"})
        await receive()

    c = WS(app, backend)
    c.feed(upgrade())
    c.proto.shutdown()
    gate.wake()
    c.backend.run_until_idle()
    head, _, frames = c.transport.take().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    c.client.receive_data(frames)
    assert list(c.client.events()) == [CloseConnection(code=1001, reason="server shutting down")]


def test_server_drain_waits_for_the_close_handshake() -> None:
    backend = FakeBackend()
    app = Recorder()
    c = WS(app, backend, shutdown_timeout=30.0)
    c.open()
    drain = backend.start(Server(c.state.app, c.state.config)._drain(c.state))
    backend.run_until_idle()
    [close] = c.events()
    assert isinstance(close, CloseConnection)
    assert close.code == 1001
    assert not drain.done
    c.send(close.response())
    backend.run_until_idle()
    assert not drain.done  # the server shut its side; the client has not closed its own yet
    c.proto.eof_received()  # it does, having read the close
    backend.run_until_idle()
    assert drain.result() is None
    assert not c.state.connections


def test_a_late_pong_does_not_extend_the_close_timeout() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        await send({"type": "websocket.close", "code": 1000})

    c = WS(app, ws_ping_interval=10.0, ws_ping_timeout=5.0)
    c.open()
    c.advance(10.1)
    [ping] = c.events()
    assert isinstance(ping, Ping)
    pong = c.client.send(ping.response())  # sent before the client sees the close below
    c.send(TextMessage(data="go"))  # the app closes now: the answer is due within 5 s
    assert c.events() == [CloseConnection(code=1000, reason="")]
    c.feed(pong)  # a pong, but no close answer
    c.advance(4.9)
    assert not c.closed
    c.advance(0.2)
    assert c.closed


# ----------------------------------------------------------------------------- compression


def test_a_quiet_compressing_websocket_frees_its_zlib_state_and_still_talks() -> None:
    from wsproto.extensions import PerMessageDeflate

    c = WS(echo, ws_deflate_idle_timeout=10.0, ws_ping_interval=0)
    c.open(b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
    [answer] = [line for line in c.head.split(b"\r\n") if line.startswith(b"sec-websocket-extensions: ")]
    assert answer == b"sec-websocket-extensions: permessage-deflate; client_max_window_bits=12"
    client_deflate = PerMessageDeflate()
    client_deflate.finalize(answer.split(b": ", 1)[1].decode())
    c.client = Connection(ConnectionType.CLIENT, [client_deflate])
    c.client.receive_data(b"")
    assert c.proto.websocket is not None
    assert c.proto.websocket.ws is not None
    deflate = c.proto.websocket.ws.deflate
    assert deflate is not None

    def holds_zlib() -> bool:
        return deflate._inflater is not None

    for i in range(3):
        c.send(TextMessage(data=f"hello {i} hello {i}"))
        assert c.events() == [TextMessage(data=f"hello {i} hello {i}")]
    assert holds_zlib()
    c.advance(9.9)
    assert holds_zlib()
    c.send(TextMessage(data="still here"))  # a message pushes the idle deadline on
    assert c.events() == [TextMessage(data="still here")]
    c.advance(9.9)
    assert holds_zlib()
    c.advance(0.2)
    assert not holds_zlib()  # quiet for ws_deflate_idle_timeout: freed
    c.send(TextMessage(data="hello 2 hello 2, back again"))  # refers back to earlier messages
    assert c.events() == [TextMessage(data="hello 2 hello 2, back again")]
    assert holds_zlib()


def test_reading_resumes_when_half_the_queue_is_taken() -> None:
    # Not at every message the app takes: a client that keeps the queue full would cost a pause and
    # a resume per message.
    backend = FakeBackend()
    gates: list[Any] = []
    received: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            gate = backend.create_waiter()
            gates.append(gate)
            await gate.wait()
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            received.append(message["text"])

    c = WS(app, backend, ws_max_queue=4)
    c.open()
    c.feed(b"".join(c.client.send(TextMessage(data=str(i))) for i in range(6)))
    assert not c.transport.reading  # four queued, two left in the buffer
    assert c.transport.pauses == 1
    gates[-1].wake()
    backend.run_until_idle()
    assert received == ["0"]
    assert c.transport.pauses == 1  # three queued: still paused, never resumed
    gates[-1].wake()
    backend.run_until_idle()
    assert received == ["0", "1"]
    # Two queued (half): reading resumed, the buffer's two were queued, which filled it again.
    assert not c.transport.reading
    assert c.transport.pauses == 2
    for _ in range(4):
        gates[-1].wake()
        backend.run_until_idle()
    assert received == [str(i) for i in range(6)]
    assert c.transport.reading


def test_frames_sent_while_more_messages_wait_are_written_together() -> None:
    c = WS(echo, ws_max_queue=64)
    c.open()
    writes = c.transport.writes
    c.feed(b"".join(c.client.send(TextMessage(data=f"m{i}")) for i in range(20)))
    # The twenty echoes went out in few writes (the last alone, or with those held before it),
    # in order, whole.
    assert c.transport.writes - writes <= 2
    assert c.events() == [TextMessage(data=f"m{i}") for i in range(20)]
    writes = c.transport.writes
    c.send(TextMessage(data="alone"))  # nothing else waiting: written at once
    assert c.transport.writes - writes == 1
    assert c.events() == [TextMessage(data="alone")]


def test_held_frames_go_before_the_close() -> None:
    async def answer_then_close(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for _ in range(3):
            message = await receive()
            await send({"type": "websocket.send", "text": "re " + message["text"]})
        await send({"type": "websocket.close", "code": 1000})

    c = WS(answer_then_close, ws_max_queue=64)
    c.open()
    c.feed(b"".join(c.client.send(TextMessage(data=str(i))) for i in range(3)))
    assert c.events() == [
        TextMessage(data="re 0"),
        TextMessage(data="re 1"),
        TextMessage(data="re 2"),
        CloseConnection(code=1000, reason=""),
    ]


def test_answers_to_messages_before_a_protocol_error_go_out_before_its_close() -> None:
    # Autobahn 3.2 and others: a valid message, then right behind it (same read) a broken frame.
    # The app still takes the message and its echo goes out, then the close 1002.
    c = WS(echo)
    c.open()
    bad = bytes([0xA1, 0x80]) + b"\x00\x00\x00\x00"  # RSV2 set, masked, empty
    c.feed(c.client.send(TextMessage(data="hello")) + bad)
    events = c.events()
    assert events[0] == TextMessage(data="hello")
    assert isinstance(events[1], CloseConnection)
    assert events[1].code == 1002
    assert c.closed


def test_a_peer_close_behind_messages_lets_the_app_answer_them_first() -> None:
    c = WS(echo)
    c.open()
    c.feed(
        c.client.send(TextMessage(data="one"))
        + c.client.send(TextMessage(data="two"))
        + c.client.send(CloseConnection(code=1000, reason="bye"))
    )
    assert c.events() == [
        TextMessage(data="one"),
        TextMessage(data="two"),
        CloseConnection(code=1000, reason="bye"),
    ]


def test_a_held_close_goes_out_after_ws_ping_timeout_if_the_app_does_not_come_back() -> None:
    backend = FakeBackend()
    gate = backend.create_waiter()

    async def takes_one(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        await gate.wait()  # busy elsewhere, never receives again

    c = WS(takes_one, backend, ws_ping_interval=0, ws_ping_timeout=5.0)
    c.open()
    c.feed(
        c.client.send(TextMessage(data="one"))
        + c.client.send(TextMessage(data="two"))
        + c.client.send(CloseConnection(code=1000))
    )
    assert c.events() == []
    c.advance(4.9)
    assert c.events() == []
    c.advance(0.2)
    assert c.events() == [CloseConnection(code=1000, reason="")]
    assert c.closed


def test_after_a_websocket_closes_the_server_half_closes_and_reads_on_until_the_client_is_done() -> None:
    # Closing with the client's frames unread would reset the connection, and a reset can destroy
    # the frames the server sent last (its close frame, echoes before it) before the client reads
    # them. So: shut the sending side, discard what still arrives, close at the client's EOF.
    c = WS(echo, linger_timeout=2.0)
    c.open()
    c.send(CloseConnection(code=1000))
    assert c.events() == [CloseConnection(code=1000, reason="")]
    assert c.transport.eof_written
    assert not c.transport.closed
    c.proto.data_received(b"\x89\x80\x00\x00\x00\x00")  # a late ping: discarded
    assert c.transport.take() == b""
    c.proto.eof_received()
    c.backend.run_until_idle()
    assert c.transport.closed


def test_a_client_that_never_closes_its_side_is_dropped_after_linger_timeout() -> None:
    c = WS(echo, linger_timeout=2.0)
    c.open()
    c.send(CloseConnection(code=1000))
    c.advance(1.9)
    assert not c.transport.closed
    c.advance(0.2)
    assert c.transport.closed


def test_bytes_arriving_after_a_held_close_do_not_send_it_early() -> None:
    backend = FakeBackend()
    gate = backend.create_waiter()

    async def slow_echo(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        await gate.wait()
        await send({"type": "websocket.send", "text": "re " + message["text"]})
        await receive()

    c = WS(slow_echo, backend)
    c.open()
    c.feed(c.client.send(TextMessage(data="hello")) + bytes([0xA1, 0x80]) + b"\x00\x00\x00\x00")
    c.proto.data_received(c.client.send(Ping(payload=b"late")))  # more bytes from the client
    backend.run_until_idle()
    assert c.transport.take() == b""  # the close still waits for the app's answer
    gate.wake()
    backend.run_until_idle()
    c.client.receive_data(c.transport.take())
    events = list(c.client.events())
    assert events[0] == TextMessage(data="re hello")
    assert isinstance(events[1], CloseConnection)
    assert events[1].code == 1002
