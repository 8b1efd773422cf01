"""The HTTP/2 connection driver on a fake backend and transport: timeouts on a controllable clock,
flow control both ways and the bounded per-stream buffers, with an `h2` client playing the peer."""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
from tapster import Config
from tapster.asgi._http2 import H2Protocol
from tapster.asgi._state import ServerState
from tapster.asgi._types import ASGIApp, Message, Receive, Scope, Send

from .fakes import FakeBackend, FakeTransport, FakeWaiter


class Peer:
    """A tapster H2Protocol on a FakeTransport, and an h2 client connection talking to it."""

    def __init__(self, app: ASGIApp, *, window: int | None = None, **config: Any) -> None:
        config.setdefault("date_header", False)
        self.backend = FakeBackend()
        self.state = ServerState(app, Config(**config), self.backend)
        self.proto = H2Protocol(self.state)
        self.transport = FakeTransport(self.backend)
        self.transport.attach(self.proto)
        self.client = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.client.initiate_connection()
        if window is not None:
            self.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.events: list[h2.events.Event] = []
        self.exchange()

    def exchange(self) -> list[h2.events.Event]:
        """Deliver what the client queued, run the loop, read what the server wrote; again until
        neither side has anything more to say (window updates, acks)."""
        events: list[h2.events.Event] = []
        for _ in range(20):
            data = self.client.data_to_send()
            if data:
                self.proto.data_received(data)
            self.backend.run_until_idle()
            written = self.transport.take()
            if written:
                events += self.client.receive_data(written)
            if not data and not written:
                break
        self.events += events
        return events

    def request(self, path: str = "/", method: str = "GET", *, end: bool = True) -> int:
        sid = self.client.get_next_available_stream_id()
        self.client.send_headers(
            sid,
            [(":method", method), (":scheme", "http"), (":path", path), (":authority", "a")],
            end_stream=end,
        )
        self.exchange()
        return sid

    def data(self, sid: int) -> bytes:
        return b"".join(
            e.data for e in self.events if isinstance(e, h2.events.DataReceived) and e.stream_id == sid
        )

    def resets(self) -> dict[int, int]:
        return {e.stream_id: int(e.error_code) for e in self.events if isinstance(e, h2.events.StreamReset)}

    def ended(self, sid: int) -> bool:
        return any(isinstance(e, h2.events.StreamEnded) and e.stream_id == sid for e in self.events)

    def status(self, sid: int) -> int | None:
        for e in self.events:
            if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid:
                return int(dict(e.headers or [])[b":status"])
        return None


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hi"})


def test_an_idle_connection_gets_goaway_and_is_closed() -> None:
    peer = Peer(hello, keep_alive_timeout=5.0)
    sid = peer.request()
    assert peer.data(sid) == b"hi"
    peer.backend.advance(4.9)
    assert not peer.transport.closed
    peer.backend.advance(0.2)
    peer.exchange()
    assert peer.transport.closed
    assert any(isinstance(e, h2.events.ConnectionTerminated) and e.error_code == 0 for e in peer.events)


def test_an_open_stream_keeps_the_connection_from_idling() -> None:
    gate: list[FakeWaiter] = []

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await gate[0]
        await hello(scope, receive, send)

    peer = Peer(slow, keep_alive_timeout=5.0)
    gate.append(peer.backend.create_waiter())
    sid = peer.request()
    peer.backend.advance(60)
    assert not peer.transport.closed
    gate[0].wake()
    peer.exchange()
    assert peer.data(sid) == b"hi"


def test_a_stalled_request_body_times_out_on_its_own_stream() -> None:
    got: list[Message] = []

    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/other":
            await hello(scope, receive, send)
            return
        got.append(await receive())
        got.append(await receive())

    peer = Peer(hello, body_timeout=30.0)
    peer.state.app = reader
    stalled = peer.request("/upload", "POST", end=False)
    peer.client.send_data(stalled, b"part")
    peer.exchange()
    other = peer.request("/other")
    peer.backend.advance(31)
    peer.exchange()
    assert got[-1] == {"type": "http.disconnect"}
    assert peer.status(stalled) == 408  # the app had not answered: a 408 on that stream
    assert not peer.transport.closed  # the connection, and its other streams, go on
    assert peer.data(other) == b"hi"


def test_the_request_window_reopens_only_as_the_app_reads() -> None:
    gate: list[FakeWaiter] = []
    received: list[int] = []

    async def slow_reader(scope: Scope, receive: Receive, send: Send) -> None:
        await gate[0]
        while True:
            message = await receive()
            received.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        await hello(scope, receive, send)

    peer = Peer(slow_reader, h2_stream_window=16384)
    gate.append(peer.backend.create_waiter())
    sid = peer.request("/upload", "POST", end=False)
    body = b"x" * 40000
    sent = 0
    while sent < len(body):  # send what the window allows
        window = min(peer.client.local_flow_control_window(sid), peer.client.max_outbound_frame_size)
        if window == 0:
            break
        peer.client.send_data(sid, body[sent : sent + window])
        sent += window
        peer.exchange()
    assert sent == 16384  # the stream window, not more: the app has read nothing
    gate[0].wake()
    peer.exchange()
    while sent < len(body):
        window = min(peer.client.local_flow_control_window(sid), peer.client.max_outbound_frame_size)
        assert window > 0, "the window must reopen as the app reads"
        chunk = body[sent : sent + window]
        sent += len(chunk)
        peer.client.send_data(sid, chunk, end_stream=sent == len(body))
        peer.exchange()
    assert sum(received) == 40000
    assert peer.data(sid) == b"hi"


def test_a_stream_buffer_is_bounded_and_send_waits() -> None:
    progress: list[int] = []

    async def big(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(20):
            await send({"type": "http.response.body", "body": b"z" * 16384, "more_body": True})
            progress.append(i)
        await send({"type": "http.response.body", "body": b""})

    peer = Peer(big, window=0, write_buffer_size=32768)  # the client opens no window at first
    sid = peer.request()
    # The stream window is shut: the app may queue up to the buffer bound, then send() waits.
    assert len(progress) <= 3
    assert peer.data(sid) == b""
    peer.client.increment_flow_control_window(1 << 20, sid)
    peer.client.increment_flow_control_window(1 << 20)
    for _ in range(30):
        peer.exchange()
    assert len(progress) == 20
    assert len(peer.data(sid)) == 20 * 16384
    assert peer.ended(sid)


def test_shutdown_sends_goaway_and_the_deadline_terminates_what_is_left() -> None:
    cancelled: list[bool] = []

    async def forever(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            while True:
                await receive()
        except BaseException:
            cancelled.append(True)
            raise

    peer = Peer(forever)
    peer.request("/forever", "POST", end=False)
    peer.proto.shutdown()
    peer.exchange()
    goaway = [e for e in peer.events if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway
    assert goaway[0].error_code == 0
    assert goaway[0].last_stream_id == 1
    assert not peer.transport.closed  # the stream is still in flight
    peer.proto.terminate()  # what the server does at the shutdown deadline
    peer.backend.run_until_idle()
    assert cancelled == [True]
    assert peer.transport.aborted


def test_the_connection_window_is_shared_fairly_across_streams() -> None:
    async def big(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"z" * 200_000})

    peer = Peer(big, window=1 << 20)  # streams may take a lot; the connection's 64 KiB limits them
    first = peer.request("/a")
    second = peer.request("/b")
    for _ in range(3):
        peer.client.increment_flow_control_window(65536)  # the connection window only
        peer.exchange()
    a, b = len(peer.data(first)), len(peer.data(second))
    # The first stream started with the whole initial window; what came later is shared a frame
    # at a time, so neither stream takes it all.
    assert a + b >= 3 * 65536
    assert b >= 65536, (a, b)
    assert abs((a - 65535) - b) <= 2 * 16384, (a, b)
