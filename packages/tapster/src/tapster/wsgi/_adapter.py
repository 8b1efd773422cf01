"""`WSGIAdapter`: a WSGI app served as an ASGI app, each request in a thread of a bounded pool.

The adapter is an ASGI 3 app like any other, so the one driver serves it over HTTP/1.1 and HTTP/2
on asyncio, uvloop and trio. Each request runs whole in one worker thread (the WSGI call, the
iteration of its response, `close()`); the thread reaches the event loop only through the
request's ASGI `receive` and `send`, one call at a time:

- the body: `wsgi.input` pulls the next `http.request` message when the app reads past what it
  holds (the server buffers at most `max_body_buffer` and then stops reading the socket);
- the response: each chunk the app yields (or passes to `write()`) is one `send()`, which returns
  once the socket's buffer is below `write_buffer_size`; the app's generator is not advanced
  before that, so a slow client slows the app down instead of filling memory.

Threads come from anyio (the loop's own: `trio.to_thread` on trio, anyio's worker threads on
asyncio), at most `threads` at a time per event loop; requests beyond that wait, without a thread,
for one to come free.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import anyio
import anyio.lowlevel
from anyio import from_thread, to_thread

from tapster._interface import WSGIApp
from tapster.errors import ClientDisconnected

from ._environ import ErrorStream, ExcInfo, ResponseHead, build_environ
from ._input import WSGIInput

__all__ = ["FileWrapper", "WSGIAdapter", "WSGIApp"]

_log = logging.getLogger("tapster.error")


# Each chunk of a response is one trip from the app's thread to the event loop and back; the block
# sizes frameworks pass to wsgi.file_wrapper (werkzeug 8 KiB, Django 4 KiB) would make a large file
# thousands of them. PEP 3333 makes blksize a suggestion; blocks are at least the default
# write_buffer_size.
_MIN_FILE_BLOCK = 64 * 1024


class FileWrapper:
    """`wsgi.file_wrapper` (PEP 3333 "Optional Platform-Specific File Handling"): the file is read
    in the request's thread, in blocks of `blksize` bytes (at least 64 KiB), each sent as it is read."""

    __slots__ = ("blksize", "filelike")

    def __init__(self, filelike: IO[bytes], blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = max(blksize, _MIN_FILE_BLOCK)

    def __iter__(self) -> Iterator[bytes]:
        read, size = self.filelike.read, self.blksize
        while data := read(size):
            yield data

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


async def _send_all(send: Callable[[dict[str, Any]], Any], messages: list[dict[str, Any]]) -> None:
    for message in messages:
        await send(message)


_QUEUED, _RUNNING, _DONE, _ABANDONED = range(4)


class _Call:
    """One WSGI request, run in its worker thread."""

    __slots__ = (
        "_lock",
        "_state",
        "_waiter",
        "app",
        "body_done",
        "finished",
        "head",
        "multiprocess",
        "receive",
        "scope",
        "send",
        "sent",
    )

    def __init__(self, app: WSGIApp, scope: Any, receive: Any, send: Any, multiprocess: bool) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send
        self.multiprocess = multiprocess
        self.head = ResponseHead()
        self.body_done = False
        self.finished = False  # the last body message went out
        self.sent = 0  # body bytes sent
        # The thread and a cancelled task agree, under the lock, on whether the app runs at all.
        self._lock = threading.Lock()
        self._state = _QUEUED
        self._waiter: anyio.Event | None = None

    def run(self) -> None:
        """The thread's work: the whole request, unless the task gave it up before it began."""
        with self._lock:
            if self._state == _ABANDONED:
                return
            self._state = _RUNNING
        try:
            self._serve()
        finally:
            with self._lock:
                self._state = _DONE
                waiter = self._waiter
            if waiter is not None:
                from_thread.run_sync(waiter.set)

    async def wait_after_cancel(self) -> None:
        """The task awaiting the thread was cancelled (the shutdown deadline). On asyncio a task's
        cancel() goes through anyio's shield at once, leaving the thread to run on its own: wait
        for the app to return here, so that the request's thread stays counted against the pool
        and its close() runs while the loop is still there to carry its last send()s (which fail
        fast: the connection is gone). A request whose thread had not begun never starts."""
        with self._lock:
            if self._state == _QUEUED:
                self._state = _ABANDONED
                return
            if self._state == _DONE:
                return
            waiter = self._waiter = anyio.Event()
        while not waiter.is_set():
            try:
                with anyio.CancelScope(shield=True):
                    await waiter.wait()
            except anyio.get_cancelled_exc_class():
                continue  # cancelled again (asyncio): the app has still not returned

    def _serve(self) -> None:
        environ = build_environ(self.scope, multiprocess=self.multiprocess)
        errors = ErrorStream()
        environ["wsgi.input"] = WSGIInput(self._pull)
        environ["wsgi.errors"] = errors
        environ["wsgi.file_wrapper"] = FileWrapper
        try:
            result = self.app(environ, self._start_response)
            try:
                self._respond(result)
            finally:
                # PEP 3333: close() "must" be called whenever the app returned an iterable, also
                # when iterating failed or the client left.
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        finally:
            errors.flush()

    def _start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | tuple[None, None, None] | None = None,
    ) -> Callable[[bytes], None]:
        self.head.start(status, headers, exc_info)
        return self._write

    def _write(self, data: bytes) -> None:
        """The legacy `write()` callable: the data goes out before write() returns."""
        if not isinstance(data, bytes):
            raise TypeError(f"WSGI: write() takes bytes, not {type(data).__name__}")
        if self.finished:
            return  # past the Content-Length the app declared (warned about when it happened)
        if data:
            self._send(data, more=True)

    def _respond(self, result: Iterable[bytes]) -> None:
        # A list or tuple (what most frameworks return) says which chunk is the last: it goes
        # out marked as such, and a one-chunk response is one write with a Content-Length.
        if self.finished:
            return  # write() reached the declared Content-Length: the iterable is not started
        last = len(result) - 1 if isinstance(result, list | tuple) else -1
        for index, chunk in enumerate(result):
            if not isinstance(chunk, bytes):
                raise TypeError(f"WSGI: the response iterable yielded {type(chunk).__name__}, not bytes")
            if chunk or index == last:
                self._send(chunk, more=index != last)
                if self.finished:
                    return  # the declared Content-Length was reached: no further chunk is made
        self._send(b"", more=False)

    def _send(self, data: bytes, *, more: bool) -> None:
        head = self.head
        if head.status is None:
            raise RuntimeError("WSGI: the app sent body data before calling start_response()")
        if head.content_length is not None:
            remaining = head.content_length - self.sent
            if len(data) >= remaining:
                if len(data) > remaining:
                    _log.warning(
                        "WSGI app sent more than its Content-Length (%d bytes) to %s %s: the rest is dropped",
                        head.content_length,
                        self.scope["method"],
                        self.scope["path"],
                    )
                    data = data[:remaining]
                more = False
        messages = []
        if not head.sent:
            head.sent = True
            messages.append({"type": "http.response.start", "status": head.status, "headers": head.headers})
        messages.append({"type": "http.response.body", "body": data, "more_body": more})
        self.sent += len(data)
        if not more:
            self.finished = True
        from_thread.run(_send_all, self.send, messages)

    def _pull(self) -> bytes:
        while not self.body_done:
            message = from_thread.run(self.receive)
            if message["type"] == "http.disconnect":
                self.body_done = True
                raise ClientDisconnected("the client went away before sending the whole request body")
            self.body_done = not message.get("more_body", False)
            body: bytes = message.get("body", b"")
            if body:
                return body
        return b""


class WSGIAdapter:
    """Serve the WSGI app `app` (PEP 3333) as an ASGI 3 app, on at most `threads` threads.

    `multiprocess` is what the app reads in `wsgi.multiprocess` (true when several worker processes
    serve it).
    """

    def __init__(self, app: WSGIApp, *, threads: int = 10, multiprocess: bool = False) -> None:
        if type(threads) is not int or threads <= 0:
            raise ValueError(f"threads must be a positive integer; got {threads!r}")
        self.app = app
        self.threads = threads
        self.multiprocess = multiprocess
        # Limiters per event loop (a limiter belongs to the loop it was made in; the same adapter
        # may be served by one loop after another, as the tests do).
        self._limiters: anyio.lowlevel.RunVar[tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]] = (
            anyio.lowlevel.RunVar("tapster.wsgi.limiters")
        )

    def __repr__(self) -> str:
        return f"WSGIAdapter({self.app!r}, threads={self.threads})"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            call = _Call(self.app, scope, receive, send, self.multiprocess)
            bound, threads = self._get_limiters()
            # `bound` is held until the app has returned, cancelled or not: `threads` is a true
            # bound. (anyio's own limiter, `threads`, is let go at once when asyncio cancels.)
            async with bound:
                try:
                    await to_thread.run_sync(call.run, limiter=threads)
                except anyio.get_cancelled_exc_class():
                    await call.wait_after_cancel()
                    raise
        elif kind == "lifespan":
            # WSGI has no lifespan; answering keeps `--lifespan on` usable and the log quiet.
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            # Closing before accepting is a 403 (ASGI): a WSGI app cannot take a websocket.
            await send(
                {"type": "websocket.close", "code": 1000, "reason": "WSGI apps do not serve websockets"}
            )
        else:
            raise ValueError(f"WSGIAdapter: unknown scope type {kind!r}")

    def _get_limiters(self) -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
        """(the bound on requests in threads, the limiter handed to anyio for its worker threads)"""
        limiters = self._limiters.get(None)
        if limiters is None:
            limiters = anyio.CapacityLimiter(self.threads), anyio.CapacityLimiter(self.threads)
            self._limiters.set(limiters)
        return limiters
