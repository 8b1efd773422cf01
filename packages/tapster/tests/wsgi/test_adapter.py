"""WSGIAdapter as an ASGI app, on asyncio and trio, against an ASGI peer written here (the server's
side of receive/send): what a WSGI app's calls turn into, message by message."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import anyio
import anyio.abc
import pytest
import sniffio
from tapster import ClientDisconnected
from tapster._interface import StartResponse
from tapster.wsgi import FileWrapper, WSGIAdapter
from tapster.wsgi._adapter import _Call

pytestmark = pytest.mark.anyio

Environ = dict[str, Any]


def http_scope(method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/p",
        "raw_path": b"/p",
        "root_path": "",
        "query_string": b"",
        "headers": headers or [(b"host", b"h")],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1234),
    }


class Peer:
    """The server side: hands out body messages, records what is sent, can lose the client."""

    def __init__(self, body: Iterable[bytes] = (), *, disconnect_after: int | None = None) -> None:
        chunks = list(body)
        self.incoming: list[dict[str, Any]] = [
            {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
            for i, chunk in enumerate(chunks)
        ] or [{"type": "http.request", "body": b"", "more_body": False}]
        self.sent: list[dict[str, Any]] = []
        self.receives = 0
        self.disconnect_after = disconnect_after  # body messages accepted before send() fails

    async def receive(self) -> dict[str, Any]:
        self.receives += 1
        await anyio.lowlevel.checkpoint()
        return self.incoming.pop(0) if self.incoming else {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        await anyio.lowlevel.checkpoint()
        bodies = sum(m["type"] == "http.response.body" for m in self.sent)
        limit = self.disconnect_after
        if message["type"] == "http.response.body" and limit is not None and bodies >= limit:
            raise ClientDisconnected("the client closed the connection")
        self.sent.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(m["body"] for m in self.sent if m["type"] == "http.response.body")

    @property
    def start(self) -> dict[str, Any]:
        assert self.sent[0]["type"] == "http.response.start"
        return self.sent[0]


async def call(app: Any, peer: Peer, scope: dict[str, Any] | None = None, **kwargs: Any) -> None:
    with anyio.fail_after(10):
        await WSGIAdapter(app, **kwargs)(scope or http_scope(), peer.receive, peer.send)


def hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


async def test_a_one_chunk_list_is_one_start_and_one_final_body() -> None:
    peer = Peer()
    await call(hello, peer)
    assert peer.sent == [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]},
        {"type": "http.response.body", "body": b"hello", "more_body": False},
    ]


async def test_a_list_marks_its_last_chunk() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [b"a", b"", b"b"]

    peer = Peer()
    await call(app, peer)
    assert [(m["body"], m["more_body"]) for m in peer.sent[1:]] == [(b"a", True), (b"b", False)]


class Closing:
    """A response iterable that records how far it was iterated and whether close() came."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.yielded = 0
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.yielded += 1
            yield chunk

    def close(self) -> None:
        self.closed += 1


async def test_a_generator_streams_chunk_by_chunk_then_closes() -> None:
    body = Closing([b"one", b"", b"two", b"three"])

    def app(environ: Environ, start_response: StartResponse) -> Closing:
        start_response("200 OK", [])
        return body

    peer = Peer()
    await call(app, peer)
    assert [(m["body"], m["more_body"]) for m in peer.sent[1:]] == [
        (b"one", True),
        (b"two", True),
        (b"three", True),
        (b"", False),
    ]
    assert body.closed == 1


async def test_the_head_waits_for_the_first_non_empty_chunk() -> None:
    # PEP 3333: an app may call start_response again (with exc_info) until a body byte is out.
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b""
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("500 Internal Server Error", [("X-Error", "1")], sys.exc_info())
        yield b"sorry"

    peer = Peer()
    await call(app, peer)
    assert (peer.start["status"], peer.start["headers"]) == (500, [(b"x-error", b"1")])
    assert peer.body == b"sorry"


async def test_exc_info_after_the_head_is_out_reraises_in_the_app() -> None:
    seen: list[BaseException] = []

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"partial"
        try:
            raise ValueError("late failure")
        except ValueError:
            try:
                start_response("500 Internal Server Error", [], sys.exc_info())
            except ValueError as exc:
                seen.append(exc)
                raise

    with pytest.raises(ValueError, match="late failure"):
        await call(app, Peer())
    assert len(seen) == 1


async def test_write_callable_sends_at_once_then_the_iterable_follows() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"legacy ")
        write(b"")
        return [b"and iterable"]

    peer = Peer()
    await call(app, peer)
    assert [(m["body"], m["more_body"]) for m in peer.sent[1:]] == [
        (b"legacy ", True),
        (b"and iterable", False),
    ]


async def test_content_length_ends_the_response_and_stops_iterating() -> None:
    body = Closing([b"12345", b"67890", b"never"])

    def app(environ: Environ, start_response: StartResponse) -> Closing:
        start_response("200 OK", [("Content-Length", "8")])
        return body

    peer = Peer()
    await call(app, peer)
    assert [(m["body"], m["more_body"]) for m in peer.sent[1:]] == [(b"12345", True), (b"678", False)]
    assert (body.yielded, body.closed) == (2, 1)


async def test_content_length_zero_with_no_chunks() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("204 No Content", [("Content-Length", "0")])
        return []

    peer = Peer()
    await call(app, peer)
    assert peer.sent[1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert len(peer.sent) == 2


async def test_request_body_is_read_in_pieces_as_it_arrives() -> None:
    seen: list[bytes] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        stream = environ["wsgi.input"]
        while data := stream.read(4):
            seen.append(data)
        start_response("200 OK", [])
        return [b"".join(seen)]

    peer = Peer([b"abc", b"defgh", b"", b"ij"])
    await call(app, peer, http_scope("POST"))
    assert seen == [b"abcd", b"efgh", b"ij"]
    assert peer.body == b"abcdefghij"


async def test_the_body_is_not_pulled_until_the_app_reads() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ignored the body"]

    peer = Peer([b"x" * 10, b"y" * 10])
    await call(app, peer, http_scope("POST"))
    assert peer.receives == 0


async def test_a_client_gone_while_the_app_reads_raises_client_disconnected() -> None:
    errors: list[BaseException] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except OSError as exc:
            errors.append(exc)
            raise
        raise AssertionError("unreachable")

    peer = Peer([b"part"])
    peer.incoming[0]["more_body"] = True  # ... and then the disconnect
    with pytest.raises(ClientDisconnected):
        await call(app, peer, http_scope("POST"))
    assert isinstance(errors[0], ClientDisconnected)


async def test_client_gone_mid_response_closes_the_iterable() -> None:
    body = Closing([b"a", b"b", b"c", b"d"])

    def app(environ: Environ, start_response: StartResponse) -> Closing:
        start_response("200 OK", [])
        return body

    with pytest.raises(ClientDisconnected):
        await call(app, Peer(disconnect_after=2))
    assert (body.yielded, body.closed) == (3, 1)


async def test_an_iterable_that_fails_is_closed_and_the_error_reaches_the_server() -> None:
    class Failing(Closing):
        def __iter__(self) -> Iterator[bytes]:
            yield b"first"
            raise KeyError("mid-stream")

    body = Failing([])

    def app(environ: Environ, start_response: StartResponse) -> Closing:
        start_response("200 OK", [])
        return body

    peer = Peer()
    with pytest.raises(KeyError, match="mid-stream"):
        await call(app, peer)
    assert body.closed == 1
    assert peer.body == b"first"


async def test_body_before_start_response_is_an_error() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return [b"no head"]

    with pytest.raises(RuntimeError, match="before calling start_response"):
        await call(app, Peer())


async def test_str_chunks_are_an_error() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[str]:
        start_response("200 OK", [])
        return ["text"]

    with pytest.raises(TypeError, match="yielded str, not bytes"):
        await call(app, Peer())


async def test_file_wrapper_streams_the_file_and_closes_it(tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 1000)  # 256000 bytes
    opened: list[Any] = []

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        handle = path.open("rb")
        opened.append(handle)
        wrapper: FileWrapper = environ["wsgi.file_wrapper"](handle, 100_000)
        return wrapper

    peer = Peer()
    await call(app, peer)
    assert peer.body == path.read_bytes()
    assert [len(m["body"]) for m in peer.sent[1:]] == [100_000, 100_000, 56_000, 0]
    assert opened[0].closed


def test_file_wrapper_blocks_are_at_least_64_kib(tmp_path: Any) -> None:
    # werkzeug asks for 8 KiB blocks and Django for 4 KiB: each block is a trip to the event loop.
    path = tmp_path / "data.bin"
    path.write_bytes(b"f" * 100_000)
    with path.open("rb") as handle:
        assert [len(block) for block in FileWrapper(handle, 4096)] == [65536, 100_000 - 65536]


async def test_lifespan_is_answered() -> None:
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await WSGIAdapter(hello)({"type": "lifespan"}, receive, send)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


async def test_a_websocket_is_refused() -> None:
    peer = Peer()
    await WSGIAdapter(hello)({"type": "websocket"}, peer.receive, peer.send)
    assert peer.sent[0]["type"] == "websocket.close"


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        WSGIAdapter(hello, threads=0)


async def test_requests_beyond_the_thread_bound_wait_for_a_free_thread() -> None:
    release = threading.Event()
    lock = threading.Lock()
    running = [0, 0]  # now, most at once

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        release.wait(10)
        with lock:
            running[0] -= 1
        start_response("200 OK", [])
        return [b"done"]

    adapter = WSGIAdapter(app, threads=2)
    peers = [Peer() for _ in range(5)]
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for peer in peers:
                tg.start_soon(adapter, http_scope(), peer.receive, peer.send)
            limiter = adapter._get_limiters()[0]
            while limiter.statistics().tasks_waiting < 3 or running[0] < 2:
                await anyio.sleep(0.001)
            assert limiter.borrowed_tokens == 2
            assert running[0] == 2
            release.set()
    assert running[1] == 2
    assert all(peer.body == b"done" for peer in peers)


class Cancellable:
    """Runs a coroutine in a task the way tapster cancels it: asyncio's Task.cancel() (which goes
    through anyio's shield), trio's cancel scope."""

    def __init__(self, tg: anyio.abc.TaskGroup, coro: Any) -> None:
        self.done = anyio.Event()
        self.cancelled = False
        self.cancel: Callable[[], object]
        if sniffio.current_async_library() == "asyncio":
            import asyncio

            task = asyncio.get_running_loop().create_task(coro)
            self.cancel = task.cancel

            async def watch() -> None:
                try:
                    await task
                except asyncio.CancelledError:
                    self.cancelled = True
                self.done.set()

            tg.start_soon(watch)
        else:
            scope = anyio.CancelScope()
            self.cancel = scope.cancel

            async def run() -> None:
                with scope:
                    await coro
                self.cancelled = scope.cancelled_caught
                self.done.set()

            tg.start_soon(run)


async def test_a_cancelled_request_waits_for_its_app_and_keeps_its_thread_counted() -> None:
    entered, release = threading.Event(), threading.Event()
    body = Closing([b"never delivered"])

    def app(environ: Environ, start_response: StartResponse) -> Closing:
        entered.set()
        assert release.wait(10)
        start_response("200 OK", [])
        return body

    adapter = WSGIAdapter(app, threads=1)
    peer = Peer(disconnect_after=0)  # the connection is gone: the app's sends fail
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            running = Cancellable(tg, adapter(http_scope(), peer.receive, peer.send))
            await anyio.to_thread.run_sync(entered.wait, 5)
            running.cancel()
            for _ in range(20):
                await anyio.lowlevel.checkpoint()
            assert not running.done.is_set()  # the app has not returned: the task waits for it
            assert adapter._get_limiters()[0].borrowed_tokens == 1  # and the thread still counts
            release.set()
            await running.done.wait()
    assert running.cancelled
    assert body.closed == 1
    assert adapter._get_limiters()[0].borrowed_tokens == 0


async def test_a_request_given_up_before_its_thread_began_never_calls_the_app() -> None:
    called: list[int] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        called.append(1)
        return []

    peer = Peer()
    call = _Call(app, http_scope(), peer.receive, peer.send, False)
    await call.wait_after_cancel()  # cancelled while queued: returns at once, and ...
    await anyio.to_thread.run_sync(call.run)  # ... the thread, when it comes, does nothing
    assert called == []
    assert peer.sent == []
