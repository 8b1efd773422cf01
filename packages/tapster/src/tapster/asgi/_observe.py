"""What the server records about each finished exchange: the access-log line, the request counters
and the duration histogram, and the datagrams of a StatsD sink.

Off by default, and then nothing here runs: the driver tests `state.observer is None` once when a
request starts and once when its response ends (the old access-log flag test), nothing else.

The counters are plain ints on the event loop's thread (no locks: one server, one loop thread).
`prometheus_client`'s own Counter and Histogram cost about 2.5 µs a request here, against 0.3 µs for
these (measured in-process, bench/metrics_cost.py), so tapster counts and `tapster._prometheus`
only exposes the numbers at scrape time.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable
from typing import Protocol

from tapster._access import AccessEntry, resolve_format
from tapster.config import Config
from tapster.protocol import Request

from ._state import access_log
from ._stream import Address

__all__ = ["DURATION_BUCKETS", "METHODS", "Observer", "RequestMetrics", "Sink"]

#: Methods counted under their own label; any other is "other" (a client picks the method: an
#: unbounded label set would let it grow the metrics without bound).
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"))
#: Upper bounds (seconds) of the duration histogram's buckets: prometheus_client's defaults.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


def method_label(method: bytes) -> str:
    name = method.decode("ascii")
    return name if name in METHODS else "other"


def status_class(status: int) -> str:
    return _STATUS_CLASSES[status // 100 - 1] if 100 <= status < 600 else "other"


class RequestMetrics:
    """Counters of one server: requests by (method, status class), durations, worker restarts."""

    __slots__ = ("duration_buckets", "duration_count", "duration_sum", "requests", "worker_restarts")

    def __init__(self) -> None:
        #: (method label, status class) -> requests answered. Bounded: 10 methods x 6 classes.
        self.requests: dict[tuple[str, str], int] = {}
        #: Non-cumulative counts per bucket of DURATION_BUCKETS, the last one for +Inf.
        self.duration_buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0
        self.duration_count = 0
        #: tapster_worker_restarts_total: the supervisor calls worker_restarted().
        self.worker_restarts = 0

    def count(self, method: str, status: int, duration: float) -> None:
        key = (method, status_class(status))
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        self.duration_buckets[bisect.bisect_left(DURATION_BUCKETS, duration)] += 1
        self.duration_sum += duration
        self.duration_count += 1

    def worker_restarted(self) -> None:
        self.worker_restarts += 1


class Sink(Protocol):
    """Where else an exchange is reported (the StatsD client, tapster._statsd)."""

    def exchange(self, method: str, status: int, duration: float) -> None: ...


class Observer:
    """One per server: called once per finished exchange (response complete, cut short, refused)."""

    __slots__ = ("_format", "log_access", "metrics", "sinks")

    def __init__(self, config: Config, metrics: RequestMetrics | None, sinks: Iterable[Sink] = ()) -> None:
        self.log_access = config.access_log
        self._format = resolve_format(config.access_log_format)
        self.metrics = metrics
        self.sinks = tuple(sinks)

    def exchange(
        self,
        request: Request,
        client: Address,
        status: int,
        response_headers: Iterable[tuple[bytes, bytes]],
        sent: int,
        duration: float,
    ) -> None:
        """`request` was answered with `status` and `sent` body bytes in `duration` seconds."""
        if self.log_access and access_log.isEnabledFor(logging.INFO):
            access_log.info(
                self._format, AccessEntry(request, client, status, response_headers, sent, duration)
            )
        if self.metrics is not None or self.sinks:
            method = method_label(request.method)
            if self.metrics is not None:
                self.metrics.count(method, status, duration)
            for sink in self.sinks:
                sink.exchange(method, status, duration)
