"""A deterministic backend for driving `tapster.asgi` with no sockets and no event loop.

`FakeBackend` satisfies `tapster.asgi._seam.Backend` with a manual clock (`advance()` fires due timers
in order) and a tiny run-until-idle scheduler: a task is a coroutine stepped with ``send()``; the only
thing it may suspend on is a `FakeWaiter`, which puts it back in the ready queue on ``wake()``.
`FakeTransport` satisfies the `Transport` seam, records what the driver does to it, and lets a test
play the peer's and the kernel's part (pause/resume writing, connection loss).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from tapster.asgi._seam import Listener, ProtocolFactory

__all__ = ["Cancelled", "FakeBackend", "FakeStream", "FakeTask", "FakeTimer", "FakeTransport", "FakeWaiter"]

_MAX_STEPS = 100_000  # run_until_idle gives up after this many steps: a livelock is a test failure


class Cancelled(BaseException):
    """Thrown into a task by `FakeTask.cancel()` (a BaseException, like asyncio's and trio's)."""


class FakeTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeAccepting:
    """(The fake backend never listens: this only gives `listen()` the seam's return type.)"""

    def cancel(self) -> None:
        pass

    def connection_closed(self) -> None:
        pass


class FakeWaiter:
    """One-shot wake-up. ``await waiter.wait()`` suspends the awaiting tasks until `wake()`."""

    __slots__ = ("_backend", "_tasks", "woken")

    def __init__(self, backend: FakeBackend) -> None:
        self._backend = backend
        self._tasks: list[FakeTask] = []
        self.woken = False

    def wake(self) -> None:
        if self.woken:
            return
        self.woken = True
        for task in self._tasks:
            self._backend._schedule(task)
        self._tasks.clear()

    def wait(self) -> Awaitable[None]:
        return self

    def __await__(self) -> Generator[FakeWaiter, None, None]:
        # A loop, not an `if`: a stale wake-up of a cancelled wait must not end this one early.
        while not self.woken:
            yield self


class FakeTask:
    """A coroutine run by the fake scheduler. `strict` tasks (the driver's) fail the test if they raise."""

    __slots__ = ("_backend", "_cancel_requested", "_coro", "_result", "done", "error", "scheduled", "strict")

    def __init__(self, backend: FakeBackend, coro: Coroutine[Any, Any, Any], strict: bool) -> None:
        self._backend = backend
        self._coro = coro
        self._cancel_requested = False
        self._result: Any = None
        self.strict = strict
        self.done = False
        self.scheduled = False
        self.error: BaseException | None = None

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, Cancelled)

    def cancel(self) -> None:
        if not self.done:
            self._cancel_requested = True
            self._backend._schedule(self)

    def result(self) -> Any:
        assert self.done, "the task has not finished"
        if self.error is not None:
            raise self.error
        return self._result

    def _step(self) -> None:
        self.scheduled = False
        if self.done:
            return
        try:
            if self._cancel_requested:
                self._cancel_requested = False
                yielded = self._coro.throw(Cancelled())
            else:
                yielded = self._coro.send(None)
        except StopIteration as stop:
            self.done = True
            self._result = stop.value
            return
        except BaseException as exc:  # kept for result(), or re-raised below if strict
            self.done = True
            self.error = exc
            if self.strict and not isinstance(exc, Cancelled):
                raise
            return
        if not isinstance(yielded, FakeWaiter):
            raise RuntimeError(f"a fake-backend task awaited {yielded!r}; only FakeWaiter can suspend it")
        if yielded.woken or self._cancel_requested:
            self._backend._schedule(self)
        else:
            yielded._tasks.append(self)


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class FakeBackend:
    """Clock, timers, tasks and wake-ups, all under the test's control."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._order = itertools.count()
        self._ready: deque[FakeTask] = deque()
        self._callbacks: deque[Callable[[], None]] = deque()
        self.tasks: list[FakeTask] = []

    # ----------------------------------------------------------------- the seam

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(when, callback)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def spawn(self, coro: Coroutine[Any, Any, None]) -> FakeTask:
        return self.start(coro, strict=True)

    def create_waiter(self) -> FakeWaiter:
        return FakeWaiter(self)

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        self.call_soon(callback)

    async def listen(
        self, listeners: list[Listener], protocol_factory: ProtocolFactory, max_connections: int | None = None
    ) -> FakeAccepting:
        raise NotImplementedError("the fake backend has no sockets: attach a FakeTransport instead")

    def add_signal_handlers(self, callback: Callable[[], None]) -> FakeTimer:
        return FakeTimer(0.0, callback)  # never fires; cancel() is all the caller needs

    # ----------------------------------------------------------------- test controls

    def call_soon(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def start(self, awaitable: Awaitable[Any], *, strict: bool = False) -> FakeTask:
        """Schedule `awaitable` as a task (not strict: its exception is kept for `result()`)."""
        coro = awaitable if isinstance(awaitable, Coroutine) else _await(awaitable)
        task = FakeTask(self, coro, strict)
        self.tasks.append(task)
        self._schedule(task)
        return task

    def run_until_idle(self) -> None:
        """Run ready callbacks, due timers and runnable tasks until nothing is left to do now."""
        for _ in range(_MAX_STEPS):
            if self._callbacks:
                self._callbacks.popleft()()
            elif self._timers and self._timers[0][0] <= self._now:
                _, _, timer = heapq.heappop(self._timers)
                if not timer.cancelled:
                    timer.callback()
            elif self._ready:
                self._ready.popleft()._step()
            else:
                return
        raise RuntimeError(f"still busy after {_MAX_STEPS} steps: a livelock?")

    def advance(self, seconds: float) -> None:
        """Move the clock forward, firing each due timer at its own time, in order."""
        assert seconds >= 0, "time only moves forward"
        target = self._now + seconds
        self.run_until_idle()
        while self._timers and self._timers[0][0] <= target:
            self._now = max(self._now, self._timers[0][0])
            self.run_until_idle()
        self._now = target
        self.run_until_idle()

    def _schedule(self, task: FakeTask) -> None:
        if not task.scheduled and not task.done:
            task.scheduled = True
            self._ready.append(task)


class FakeTLS:
    """What the driver reads of a TLS connection: the protocol ALPN chose."""

    def __init__(self, alpn: str | None) -> None:
        self.alpn = alpn

    def selected_alpn_protocol(self) -> str | None:
        return self.alpn


class FakeTransport:
    """Records what the driver writes and asks; `pause_writing()`, `resume_writing()` and
    `lose_connection()` play the kernel's part. close()/abort() report the loss on the next run."""

    def __init__(
        self,
        backend: FakeBackend,
        *,
        peername: Any = ("203.0.113.7", 50123),
        sockname: Any = ("192.0.2.1", 8000),
        tls: bool = False,
        alpn: str | None = "http/1.1",
    ) -> None:
        self.backend = backend
        self.protocol_changes: list[Any] = []
        self.written = bytearray()
        self.late_writes: list[bytes] = []  # written after close(): always a driver bug
        self.closed = False
        self.aborted = False
        self.lost = False
        self.reading = True
        self.pauses = 0  # pause_reading() calls
        self.writes = 0  # write() calls that wrote
        self.supports_eof = True
        self.eof_written = False
        self.high_water: int | None = None
        self.extra: dict[str, Any] = {"peername": peername, "sockname": sockname}
        if tls:
            self.extra["ssl_object"] = FakeTLS(alpn)
        self.protocol: Any = None

    def attach(self, protocol: Any) -> None:
        self.protocol = protocol
        protocol.connection_made(self)

    def take(self) -> bytes:
        """Everything written since the last take()."""
        data = bytes(self.written)
        self.written.clear()
        return data

    # ----------------------------------------------------------------- the seam

    def write(self, data: bytes) -> None:
        if self.closed or self.lost:
            self.late_writes.append(data)
        else:
            self.written += data
            self.writes += 1

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.backend.call_soon(self.lose_connection)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def is_closing(self) -> bool:
        return self.closed or self.lost

    def can_write_eof(self) -> bool:
        return self.supports_eof

    def write_eof(self) -> None:
        assert not self.closed, "write_eof() after close()"
        self.eof_written = True

    def pause_reading(self) -> None:
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol
        self.protocol_changes.append(protocol)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high_water = high

    # ----------------------------------------------------------------- the kernel's part

    def pause_writing(self) -> None:
        assert self.protocol is not None
        self.protocol.pause_writing()

    def resume_writing(self) -> None:
        assert self.protocol is not None
        self.protocol.resume_writing()

    def lose_connection(self, exc: BaseException | None = None) -> None:
        if not self.lost:
            self.lost = True
            assert self.protocol is not None
            self.protocol.connection_lost(exc)


class FakeStream:
    """A `tapster.asgi._stream.Stream` that records what a cycle asks of it, for testing the ASGI
    cycles without any HTTP version's connection. `calls` lists ``(method, args...)`` in order;
    a test plays the connection's part by calling the cycle's own methods (body_received, ...)."""

    def __init__(
        self,
        state: Any,
        *,
        client: Any = ("203.0.113.7", 50123),
        server: Any = ("192.0.2.1", 8000),
        scheme: str = "http",
        reject_head: Exception | None = None,
    ) -> None:
        self.state = state
        self.client = client
        self.server = server
        self.scheme = scheme
        self.write_paused = False
        self.pause_each_send = False  # every send_data fills the window again
        self.closing = False
        self.reject_head = reject_head  # raised by send_head (an invalid app response)
        self.calls: list[tuple[Any, ...]] = []
        self.written = bytearray()  # upgraded-stream bytes
        self.leftover = b""  # what upgrade() hands back
        self._drain: FakeWaiter | None = None

    def names(self) -> list[str]:
        return [call[0] for call in self.calls]

    def unblock(self) -> None:
        """The peer's window opened (or the transport drained)."""
        self.write_paused = False
        if self._drain is not None:
            self._drain.wake()
            self._drain = None

    # ----------------------------------------------------------------- the stream interface

    def is_closing(self) -> bool:
        return self.closing

    def send_head(self, status: int, headers: Any, body: bytes, more: bool) -> None:
        if self.reject_head is not None:
            raise self.reject_head
        self.calls.append(("send_head", status, list(headers), body, more))

    def send_data(self, data: bytes, more: bool) -> None:
        self.calls.append(("send_data", data, more))
        self.write_paused = self.pause_each_send

    def send_continue(self) -> None:
        self.calls.append(("send_continue",))

    def send_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.calls.append(("send_informational", status, list(headers)))

    def send_trailers(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.calls.append(("send_trailers", list(headers)))

    def push_promise(self, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        self.calls.append(("push_promise", path, list(headers)))

    def send_error(self, status: int, message: str, headers: bytes = b"") -> None:
        self.calls.append(("send_error", status))

    def abort(self) -> None:
        self.calls.append(("abort",))
        self.closing = True

    def done(self, task: Any) -> None:
        self.calls.append(("done",))

    def body_consumed(self, size: int) -> None:
        self.calls.append(("body_consumed", size))

    def body_wanted(self) -> None:
        self.calls.append(("body_wanted",))

    async def wait_writable(self) -> None:
        from tapster import ClientDisconnected

        while self.write_paused and not self.closing:
            if self._drain is None:
                self._drain = self.state.backend.create_waiter()
            await self._drain
        if self.closing:
            raise ClientDisconnected("gone")

    def upgrade(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        self.calls.append(("upgrade", list(headers)))
        return self.leftover

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.calls.append(("close",))
        self.closing = True

    def pause_reading(self) -> None:
        self.calls.append(("pause_reading",))

    def resume_reading(self) -> None:
        self.calls.append(("resume_reading",))
