"""A gate the test thread controls and the app (on the server's asyncio or trio loop) waits at.

`await gate.wait()` in the app counts the caller in (`wait_entered(n)` in the test thread returns
once n are waiting) and blocks until the test calls `release_one()` or `release_all()`. Nothing is
timed: each side waits for an event the other sets.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Awaitable, Callable


class Gate:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._waiting: deque[Callable[[], None]] = deque()  # wake-ups, oldest first
        self._free = 0  # releases given before anyone waited for them
        self.entered = 0  # callers that reached the gate so far

    async def wait(self) -> None:
        import sniffio

        if sniffio.current_async_library() == "trio":
            import trio

            trio_event = trio.Event()
            token = trio.lowlevel.current_trio_token()

            def wake() -> None:
                token.run_sync_soon(trio_event.set)

            waiter: Callable[[], Awaitable[object]] = trio_event.wait
        else:
            import asyncio

            loop = asyncio.get_running_loop()
            asyncio_event = asyncio.Event()

            def wake() -> None:
                loop.call_soon_threadsafe(asyncio_event.set)

            waiter = asyncio_event.wait
        with self._lock:
            self.entered += 1
            self._lock.notify_all()
            if self._free:
                self._free -= 1
                return
            self._waiting.append(wake)
        await waiter()

    def wait_entered(self, count: int, timeout: float = 10.0) -> None:
        with self._lock:
            assert self._lock.wait_for(lambda: self.entered >= count, timeout), (
                f"{self.entered} of {count} callers reached the gate"
            )

    def release_one(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft()()
            else:
                self._free += 1

    def release_all(self) -> None:
        with self._lock:
            while self._waiting:
                self._waiting.popleft()()
