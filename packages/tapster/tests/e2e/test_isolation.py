"""A bug that escapes one connection's code (a protocol callback or a request task that raises) ends
that connection, is logged, and leaves the server and its other connections serving, on every loop.
(On trio such an exception used to cancel the server's whole nursery.)"""

from __future__ import annotations

import logging
import socket
from typing import Any

import httpx
import pytest
from tapster.asgi import _http11

from conftest import ServeFactory

from .test_http11 import recv_all

Scope = dict[str, Any]


async def hello(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_a_protocol_callback_that_raises_ends_only_its_connection(
    serve: ServeFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = _http11.H11Protocol.data_received

    def data_received(self: Any, data: bytes) -> None:
        if data.startswith(b"BOOM"):
            raise RuntimeError("a bug in the protocol")
        original(self, data)

    monkeypatch.setattr(_http11.H11Protocol, "data_received", data_received)
    running = serve(hello)
    with httpx.Client(base_url=running.url) as client:
        assert client.get("/").text == "ok"  # a keep-alive connection, open across the bug
        address = (running.host, int(running.url.rsplit(":", 1)[1]))
        with caplog.at_level(logging.ERROR, logger="tapster"), socket.create_connection(address) as sock:
            sock.sendall(b"BOOM / HTTP/1.1\r\n\r\n")
            assert recv_all(sock) == b""  # closed, without an answer
        assert client.get("/").text == "ok"  # the same connection still served
    assert httpx.get(running.url).text == "ok"  # and new ones accepted
    assert running.errors == []
    assert any("a bug in the protocol" in r.getMessage() or r.exc_info for r in caplog.records)


# On trio only: asyncio runs each request task bare (loop.create_task, no frame of ours around it, to
# keep the hot path short); a task that fails there is the loop's to report, and never stopped more.
@pytest.mark.parametrize("loop_name", ["trio"])
def test_a_request_task_that_raises_leaves_the_server_serving(
    serve: ServeFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tapster.asgi import _cycle

    original = _cycle.RequestCycle.run

    async def run(self: Any) -> None:
        if self.scope["path"] == "/bug":
            raise RuntimeError("a bug in the request task")
        await original(self)

    monkeypatch.setattr(_cycle.RequestCycle, "run", run)
    # (Its request stays in flight, unanswered: shutdown waits for it up to the deadline.)
    running = serve(hello, shutdown_timeout=1)
    with caplog.at_level(logging.ERROR, logger="tapster"), pytest.raises(httpx.HTTPError):
        httpx.get(running.url + "/bug", timeout=1)  # (its request is never answered)
    assert httpx.get(running.url).text == "ok"
    assert running.errors == []
    assert any(r.exc_info and "a bug in the request task" in str(r.exc_info[1]) for r in caplog.records)
