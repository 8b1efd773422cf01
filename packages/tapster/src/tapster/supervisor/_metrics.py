"""Prometheus metrics with workers: the supervisor serves `--metrics-bind`, summing its workers'.

Every worker counts its own exchanges (`asgi._observe.RequestMetrics`); a worker cannot serve the
endpoint, since each would bind it. The supervisor binds it once, and for each scrape asks every
running worker for a snapshot over its channel (`{"event": "metrics"}`, answered from the worker's
control thread), sums the answers that come within `_SCRAPE_WAIT` seconds, adds what only it knows
(`tapster_worker_restarts_total`, `tapster_workers`) and answers. A worker's counters start again
from zero when it is replaced; the sum then goes down, which Prometheus reads as a counter reset.

The endpoint is deliberately small: one GET per connection, the request head bounded (8 KiB, 5 s),
at most `_MAX_SCRAPES` connections at once, plain HTTP/1.0-style answers with Connection: close.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tapster._prometheus import Census, TapsterCollector, census_of
from tapster.asgi._observe import RequestMetrics

if TYPE_CHECKING:
    from tapster.asgi._server import Server

__all__ = ["MetricsEndpoint", "snapshot"]

_MAX_HEAD = 8 * 1024  # bytes of a scrape's request head
_HEAD_WAIT = 5.0  # seconds for it to arrive
_SCRAPE_WAIT = 2.0  # seconds the workers get to answer
_MAX_SCRAPES = 16  # connections to the endpoint at once; more are closed at once


def snapshot(server: Server) -> dict[str, Any]:
    """A worker's numbers, for the supervisor (called on the worker's control thread: the event
    loop's thread may be changing them, so the counters are copied and the census retried)."""
    metrics = server.metrics
    assert metrics is not None
    census: Census = (0, 0, 0, 0)
    state = server._state
    for _ in range(5):
        try:
            census = census_of(state) if state is not None else census
            break
        except RuntimeError:  # its connections changed while they were counted: again
            continue
    return {
        "event": "metrics",
        "requests": [[method, status, count] for (method, status), count in list(metrics.requests.items())],
        "buckets": list(metrics.duration_buckets),
        "sum": metrics.duration_sum,
        "census": list(census),
    }


class _Scrape:
    __slots__ = ("answers", "buffer", "deadline", "sock", "waiting")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.deadline = time.monotonic() + _HEAD_WAIT
        self.waiting: set[int] | None = None  # the workers asked and not answered yet
        self.answers: list[dict[str, Any]] = []


class MetricsEndpoint:
    """The supervisor's `--metrics-bind` listener and the scrapes in progress."""

    def __init__(
        self, sock: socket.socket, selector: selectors.BaseSelector, ask: Callable[[], set[int]]
    ) -> None:
        self.sock = sock
        self.selector = selector
        self.ask = ask  # sends {"event": "metrics"} to every running worker; their pids
        self.restarts = 0
        self.workers = 0
        self.scrapes: list[_Scrape] = []
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, self.accept)

    def accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if len(self.scrapes) >= _MAX_SCRAPES:
            conn.close()
            return
        conn.setblocking(False)
        scrape = _Scrape(conn)
        self.scrapes.append(scrape)
        self.selector.register(conn, selectors.EVENT_READ, lambda: self._read(scrape))

    def _read(self, scrape: _Scrape) -> None:
        try:
            data = scrape.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._finish(scrape, None)
            return
        scrape.buffer += data
        if b"\r\n\r\n" not in scrape.buffer and b"\n\n" not in scrape.buffer:
            if len(scrape.buffer) > _MAX_HEAD:
                self._finish(scrape, _answer(431, b"request head too large\n"))
            return
        self.selector.unregister(scrape.sock)
        method, _, rest = scrape.buffer.partition(b" ")
        path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
        if path != b"/metrics":
            self._finish(scrape, _answer(404, b"not found: metrics are served on /metrics\n"))
        elif method not in (b"GET", b"HEAD"):
            self._finish(scrape, _answer(405, b"method not allowed: GET /metrics\n"))
        else:
            scrape.waiting = self.ask()
            scrape.deadline = time.monotonic() + _SCRAPE_WAIT
            self._complete_if_answered(scrape)

    def answered(self, pid: int, message: dict[str, Any] | None) -> None:
        """A worker's snapshot, for every scrape waiting on it; None: the worker is gone and will
        not answer."""
        for scrape in list(self.scrapes):
            if scrape.waiting is not None and pid in scrape.waiting:
                scrape.waiting.discard(pid)
                if message is not None:
                    scrape.answers.append(message)
                self._complete_if_answered(scrape)

    def _complete_if_answered(self, scrape: _Scrape) -> None:
        if scrape.waiting is not None and not scrape.waiting:
            self._respond(scrape)

    def _respond(self, scrape: _Scrape) -> None:
        body = render(scrape.answers, self.restarts, self.workers)
        self._finish(scrape, _answer(200, body, "text/plain; version=0.0.4; charset=utf-8"))

    def check_deadlines(self) -> None:
        now = time.monotonic()
        for scrape in list(self.scrapes):
            if now < scrape.deadline:
                continue
            if scrape.waiting is None:
                self._finish(scrape, None)  # the head never came
            else:
                self._respond(scrape)  # with the answers that came in time

    def next_deadline(self) -> float | None:
        return min((s.deadline for s in self.scrapes), default=None)

    def _finish(self, scrape: _Scrape, response: bytes | None) -> None:
        if scrape.sock.fileno() in self.selector.get_map():  # (still reading its request head)
            self.selector.unregister(scrape.sock)
        self.scrapes.remove(scrape)
        if response is not None:
            try:
                scrape.sock.setblocking(True)
                scrape.sock.settimeout(1.0)  # a small answer to a local scraper: bounded anyway
                scrape.sock.sendall(response)
            except OSError:
                pass
        scrape.sock.close()

    def close(self) -> None:
        for scrape in list(self.scrapes):
            self._finish(scrape, None)
        self.selector.unregister(self.sock)
        self.sock.close()


def _answer(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 431: "Request Header Fields Too Large"}
    head = (
        f"HTTP/1.1 {status} {reason[status]}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def render(answers: list[dict[str, Any]], restarts: int, workers: int) -> bytes:
    """The Prometheus text format of the workers' numbers summed, through the collector a single
    process serves its own with (tapster._prometheus), so both pages have the same metrics."""
    from prometheus_client import CollectorRegistry, generate_latest

    total = RequestMetrics()
    total.worker_restarts = restarts
    summed = [0, 0, 0, 0]
    for answer in answers:
        for method, status, count in answer["requests"]:
            key = (str(method), str(status))
            total.requests[key] = total.requests.get(key, 0) + int(count)
        for i, count in enumerate(answer["buckets"][: len(total.duration_buckets)]):
            total.duration_buckets[i] += int(count)
        total.duration_sum += float(answer["sum"])
        for i, value in enumerate(answer["census"][:4]):
            summed[i] += int(value)
    census: Census = (summed[0], summed[1], summed[2], summed[3])
    registry = CollectorRegistry(auto_describe=True)
    registry.register(TapsterCollector(total, lambda: census, lambda: workers))
    body: bytes = generate_latest(registry)
    return body
