"""Real tapster processes for the supervisor tests: started in a test's directory, their stderr
read line by line in a thread so that every wait has a deadline and waits for a line, not a time."""

from __future__ import annotations

import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

# A raw ASGI app, on any loop: "/" answers the worker's PID; "/hold" sends its head, then waits for
# the request body before it finishes (a request in flight for as long as the test likes); "/die"
# ends the worker process; "/grow" makes the worker hold 200 MiB.
APP = """
import os

held = []

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    path = scope["path"]
    if path == "/die":
        os._exit(7)
    if path == "/grow":
        held.append(bytearray(200 * 1024 * 1024))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if path == "/hold":
        await send({"type": "http.response.body", "body": b"held ", "more_body": True})
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.body", "body": b"%d" % os.getpid()})
"""


class Lines:
    """The lines of a child's stream, collected by a thread."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, count: int = 1, timeout: float = 30.0) -> str:
        """The `count`-th line containing `text` (from the start), once it has come."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.lines if text in line]
            if len(found) >= count:
                return found[count - 1]
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"{text!r} x{count} did not come within {timeout}s:\n{self.text()}"
                ) from None
            if line is None:
                self._queue.put(None)
                raise AssertionError(f"the stream ended before {text!r} x{count}:\n{self.text()}")
            self.lines.append(line)

    def rest(self) -> str:
        """Everything, once the stream has ended."""
        self.thread.join(15)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return self.text()

    def text(self) -> str:
        return "".join(self.lines)


class Tapster:
    """`python -m tapster ARGS` in `cwd`, stderr collected (workers write there too)."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tapster", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stderr is not None
        self.stderr = Lines(self.proc.stderr)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_serving(self, text: str = "worker(s) serving on", timeout: float = 30.0) -> str:
        """The URL, once every worker is ready (or, single-process, "Tapster serving on")."""
        line = self.stderr.wait_for(text, timeout=timeout)
        return line.rsplit(" ", 1)[1].strip()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        self.stderr.rest()
        return code

    def close(self) -> None:
        """At teardown: whatever is still running is killed (the workers stop when their supervisor
        is gone; the tests that care wait for that)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.stderr.rest()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def worker_pids(text: str) -> list[int]:
    """The PIDs of 'Worker N ready' lines, in order."""
    return [
        int(line.split("Worker ", 1)[1].split()[0])
        for line in text.splitlines()
        if "ready" in line and "Worker " in line
    ]


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child to end (a pidfd becomes readable when it does)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    return bool(ready) or gone(pid)


def gone(pid: int) -> bool:
    """True if the process no longer runs (a zombie, not yet reaped by whoever adopted it, is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
