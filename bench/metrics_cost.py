"""What recording one request costs, in process: prometheus_client's own metrics against tapster's
counters, and an access-log line (dropped by the level, and formatted).

    python bench/metrics_cost.py [--repeat N] [--min-time S]

Rows (µs per request, the median of `--repeat` timeit repeats, each about `--min-time` seconds):
  prometheus_client   Counter.labels(method, status).inc() + Histogram.observe(duration): what the
                      metrics would cost if tapster kept them in prometheus_client's objects (each
                      takes a lock, and labels() looks the child up)
  tapster counters    RequestMetrics.count(): a dict increment and a bisect into the buckets, what
                      tapster does (the Prometheus collector reads them at scrape time)
  observer, metrics   Observer.exchange() with metrics on and the access log off
  access log dropped  Observer.exchange() with --access-log on and the logger's level above INFO
  access log line     Observer.exchange() with --access-log on, the default format, one handler
                      writing to an in-memory stream

With the access log, metrics and StatsD all off (the default), the driver never calls the observer:
its only cost is one `observer is None` test when a request starts and one when its response ends
(the access-log flag test the code had before), not measurable here.
"""

from __future__ import annotations

import argparse
import io
import logging

from prometheus_client import CollectorRegistry, Counter, Histogram
from tapster import Config
from tapster.asgi._observe import Observer, RequestMetrics
from tapster.protocol import Request

from bench._common import time_us


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2)
    args = parser.parse_args()

    registry = CollectorRegistry()
    requests = Counter("requests", "requests", ["method", "status"], registry=registry)
    durations = Histogram("duration_seconds", "durations", registry=registry)

    def prometheus() -> None:
        requests.labels("GET", "2xx").inc()
        durations.observe(0.0031)

    metrics = RequestMetrics()
    request = Request(b"GET", b"/users/1", b"/users/1", b"", b"1.1", [(b"host", b"x")], True, False, False)
    client = ("127.0.0.1", 50312)
    counting = Observer(Config(), metrics)
    logging_on = Observer(Config(access_log=True), None)

    access = logging.getLogger("tapster.access")
    access.propagate = False
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    access.addHandler(handler)

    def drop() -> None:
        logging_on.exchange(request, client, 200, (), 27, 0.0031)

    def line() -> None:
        logging_on.exchange(request, client, 200, (), 27, 0.0031)
        sink.seek(0)
        sink.truncate()

    rows = [
        ("prometheus_client", prometheus),
        ("tapster counters", lambda: metrics.count("GET", 200, 0.0031)),
        ("observer, metrics", lambda: counting.exchange(request, client, 200, (), 27, 0.0031)),
        ("access log dropped", drop),
    ]
    access.setLevel(logging.WARNING)
    for name, call in rows:
        print(f"{name:20s} {time_us(call, args.repeat, args.min_time):6.2f} µs")
    access.setLevel(logging.INFO)
    print(f"{'access log line':20s} {time_us(line, args.repeat, args.min_time):6.2f} µs")


if __name__ == "__main__":
    main()
