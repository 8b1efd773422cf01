"""The ASGI cycles against a fake stream: what a request or a WebSocket asks of the connection that
carries it, whatever the HTTP version (the stream interface in tapster.asgi._stream)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from tapster import ClientDisconnected, Config, LocalProtocolError
from tapster.asgi._cycle import RequestCycle
from tapster.asgi._scope import http_scope
from tapster.asgi._state import ServerState
from tapster.asgi._types import ASGIApp, Message, Receive, Scope, Send
from tapster.asgi._websocket import WebSocketCycle
from tapster.protocol import Request
from tapster.protocol.websocket import Handshake, WebSocketConnection

from .fakes import FakeBackend, FakeStream, FakeTask, FakeWaiter


def request(
    method: bytes = b"GET",
    *,
    has_body: bool = False,
    expect_continue: bool = False,
    version: bytes = b"1.1",
) -> Request:
    return Request(
        method, b"/p?q=1", b"/p", b"q=1", version, [(b"host", b"h")], True, expect_continue, has_body
    )


class Harness:
    def __init__(self, app: ASGIApp, req: Request | None = None, **config: Any) -> None:
        self.backend = FakeBackend()
        self.state = ServerState(app, Config(**config), self.backend)
        self.stream = FakeStream(self.state)
        req = req if req is not None else request()
        self.cycle = RequestCycle(self.stream, http_scope(self.stream, req), req)
        self.task: FakeTask = self.backend.start(self.cycle.run())
        self.run()

    def run(self) -> None:
        self.backend.run_until_idle()


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"a", b"1")]})
    await send({"type": "http.response.body", "body": b"hi"})


def test_a_whole_response_is_one_send_head_then_done() -> None:
    h = Harness(hello)
    assert h.stream.calls == [("send_head", 200, [(b"a", b"1")], b"hi", False), ("done",)]
    assert h.cycle.response_complete
    assert h.task.done


def test_the_scope_comes_from_the_version_neutral_head() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await hello(scope, receive, send)

    Harness(app, request(version=b"2"), root_path="/r")
    scope = scopes[0]
    assert scope["http_version"] == "2"
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == ("/r/p", b"/p", b"q=1")
    assert scope["client"] == ("203.0.113.7", 50123)
    assert scope["scheme"] == "http"


def test_streaming_sends_the_first_piece_with_the_head_and_waits_while_paused() -> None:
    sent: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        sent.append("a")
        await send({"type": "http.response.body", "body": b"b", "more_body": True})
        sent.append("b")
        await send({"type": "http.response.body", "body": b""})

    backend = FakeBackend()
    state = ServerState(app, Config(), backend)
    stream = FakeStream(state)
    stream.write_paused = stream.pause_each_send = True  # the window is shut, and shuts again
    req = request()
    cycle = RequestCycle(stream, http_scope(stream, req), req)
    backend.start(cycle.run())
    backend.run_until_idle()
    assert stream.calls == [("send_head", 200, [], b"a", True)]
    assert sent == []  # waiting for the stream to become writable
    stream.unblock()
    backend.run_until_idle()
    assert sent == ["a"]
    stream.unblock()
    backend.run_until_idle()
    assert stream.names() == ["send_head", "send_data", "send_data", "done"]
    assert stream.calls[-2] == ("send_data", b"", False)


def test_body_is_delivered_and_each_piece_reported_consumed() -> None:
    got: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        got.append(await receive())
        got.append(await receive())
        await hello(scope, receive, send)

    h = Harness(app, request(b"POST", has_body=True))
    h.cycle.body_received(b"ab")
    h.cycle.body_received(b"c")
    h.run()
    h.cycle.body_complete()
    h.run()
    assert got == [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": False},
    ]
    assert ("body_consumed", 3) in h.stream.calls


def test_expect_continue_sends_100_only_when_the_app_reads() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await hello(scope, receive, send)

    h = Harness(app, request(b"POST", has_body=True, expect_continue=True))
    assert h.stream.names() == ["send_continue", "body_wanted"]
    h.cycle.body_received(b"x")
    h.cycle.body_complete()
    h.run()
    assert h.stream.names()[-2:] == ["send_head", "done"]


def test_no_100_when_the_app_answers_without_reading() -> None:
    h = Harness(hello, request(b"POST", has_body=True, expect_continue=True))
    assert "send_continue" not in h.stream.names()


def test_disconnect_is_reported_and_send_then_raises() -> None:
    outcome: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        outcome.append(await receive())
        try:
            await send({"type": "http.response.start", "status": 200})
        except ClientDisconnected:
            outcome.append("raised")
            raise

    h = Harness(app, request(b"POST", has_body=True))
    h.cycle.disconnect()
    h.run()
    assert outcome == [{"type": "http.disconnect"}, "raised"]
    assert h.stream.names() == ["abort", "done"]  # no 500 for a client that left


def test_an_app_that_fails_before_the_head_gets_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="tapster.error"):
        h = Harness(app)
    assert h.stream.calls == [("send_error", 500), ("done",)]
    assert "Exception in ASGI application" in caplog.text


def test_an_app_that_fails_after_the_head_aborts_its_stream(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="tapster.error"):
        h = Harness(app)
    assert h.stream.names() == ["send_head", "abort", "done"]


def test_an_invalid_head_is_not_a_complete_response(caplog: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend()
    state = ServerState(hello, Config(), backend)
    stream = FakeStream(state, reject_head=LocalProtocolError("bad header"))
    req = request()
    cycle = RequestCycle(stream, http_scope(stream, req), req)
    with caplog.at_level(logging.ERROR, logger="tapster.error"):
        backend.start(cycle.run())
        backend.run_until_idle()
    assert stream.calls == [("send_error", 500), ("done",)]  # nothing of the bad head went out
    assert "invalid response from the ASGI app" in caplog.text


def test_returning_without_a_response_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return

    with caplog.at_level(logging.ERROR, logger="tapster.error"):
        h = Harness(app)
    assert h.stream.calls == [("send_error", 500), ("done",)]


# ----------------------------------------------------------------------------- WebSocket cycles


class WSHarness:
    def __init__(
        self,
        app: ASGIApp,
        *,
        subprotocols: list[str] | None = None,
        backend: FakeBackend | None = None,
        **config: Any,
    ) -> None:
        self.backend = backend if backend is not None else FakeBackend()
        self.state = ServerState(app, Config(**config), self.backend)
        self.stream = FakeStream(self.state)
        req = request()
        handshake = Handshake(None, subprotocols or [], [])  # no key: as over HTTP/2 (RFC 8441)
        self.cycle = WebSocketCycle(self.stream, req, handshake)
        self.task = self.backend.start(self.cycle.run())
        self.backend.run_until_idle()
        # The client end, to make and read frames.
        self.peer = WebSocketConnection(1 << 20)

    def feed_text(self, text: str) -> None:
        self.cycle.data_received(_client_frame(text))
        self.backend.run_until_idle()


def _client_frame(text: str) -> bytes:
    from wsproto.frame_protocol import FrameProtocol

    return bytes(FrameProtocol(client=True, extensions=[]).send_data(text, fin=True))


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "subprotocol": "chat"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message["text"]})


def test_accept_upgrades_the_stream_with_the_negotiated_headers() -> None:
    h = WSHarness(echo, subprotocols=["chat"])
    assert h.stream.calls == [("upgrade", [(b"sec-websocket-protocol", b"chat")])]
    h.feed_text("hi")
    assert h.stream.written == b"\x81\x02hi"


def test_the_websocket_keeps_its_own_ping_deadline() -> None:
    h = WSHarness(echo, subprotocols=["chat"], ws_ping_interval=5.0, ws_ping_timeout=2.0)
    h.backend.advance(5.0)
    assert h.stream.written[:1] == b"\x89"  # a ping
    h.backend.advance(2.0)  # no pong: close 1011 and end the stream
    assert h.stream.written.endswith(b"\x88\x18\x03\xf3keepalive ping timeout")
    assert h.stream.names()[-2:] == ["close", "done"]


def test_a_full_queue_pauses_reading_and_draining_it_resumes() -> None:
    taken: list[Message] = []
    gate: list[FakeWaiter] = []

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await gate[0]
        taken.append(await receive())

    backend = FakeBackend()
    gate.append(backend.create_waiter())
    h = WSHarness(slow, backend=backend, ws_max_queue=2)
    for text in ("a", "b", "c"):
        h.feed_text(text)
    assert h.stream.names().count("pause_reading") == 1
    gate[0].wake()
    h.backend.run_until_idle()
    assert taken == [{"type": "websocket.receive", "text": "a"}]
    assert "resume_reading" in h.stream.names()


def test_close_before_accept_is_a_403() -> None:
    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})

    h = WSHarness(refuse)
    assert h.stream.calls == [("send_error", 403), ("done",)]


def test_a_denial_response_goes_through_send_head() -> None:
    async def deny(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 401, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"no"})

    h = WSHarness(deny)
    assert h.stream.calls == [("send_head", 401, [], b"no", False), ("done",)]


def test_a_lost_stream_disconnects_the_app_with_1006() -> None:
    got: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        got.append(await receive())

    h = WSHarness(app)
    h.cycle.connection_lost()
    h.backend.run_until_idle()
    assert got == [{"type": "websocket.disconnect", "code": 1006, "reason": ""}]
    assert h.cycle.deadline.when is None


def test_a_stream_that_cannot_send_disconnects_the_cycle_quietly(caplog: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend()
    state = ServerState(hello, Config(), backend)
    stream = FakeStream(state, reject_head=ClientDisconnected("gone"))
    req = request()
    cycle = RequestCycle(stream, http_scope(stream, req), req)
    with caplog.at_level(logging.DEBUG, logger="tapster.error"):
        backend.start(cycle.run())
        backend.run_until_idle()
    assert cycle.disconnected
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # a client leaving is not an error
    assert stream.names() == ["abort", "done"]
