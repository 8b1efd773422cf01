"""Request-head parsing cost: tapster's own strict parser against httptools (llhttp) and h11.

    python bench/parser.py [--repeat N] [--min-time S]

Each parser turns one complete request head into what a server needs, per request; the figure is µs per
request, the median of `--repeat` timeit repeats (each long enough to last `--min-time` seconds).
Two inputs: wrk's minimal GET and a browser-like GET with 12 header fields.

Variants (one pass of each = one request):
  tapster           `H11Connection(limits)`, `receive_data`, `next_event` until PAUSED: a fresh connection
                    per request (the result is a validated `Request`: method, path, query, lower-cased
                    headers, keep-alive and body framing decided, Host/CL/TE checked)
  tapster, reused   one connection: `receive_data`, `next_event` until PAUSED, then a dummy
                    `response_head(200, [], body=b"")` and `start_next_cycle()` (what a kept-alive
                    connection does; includes formatting that small response head)
  httptools         one `HttpRequestParser` per connection fed every request (llhttp keeps its state
                    across messages); callbacks collect the URL and the (name, value) pairs as sent
  httptools, +scope the same plus what a server then does to get tapster's result: lower-case names,
                    `parse_url` for path/query, `get_method()`, `should_keep_alive()` (Uvicorn does this)
  h11               `h11.Connection(h11.SERVER)` per request, `receive_data`, `next_event` until PAUSED
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/parser.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import h11
import httptools
from tapster.protocol import PAUSED, H11Connection, H11Limits, Request

from bench._common import time_us

MINIMAL = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
BROWSER = (
    b"GET /search?q=tapster&page=2 HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Referer: https://www.example.com/\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=8f2a1c3e9b7d4f60a5e1c2b3d4e5f607; theme=dark; consent=yes\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"\r\n"
)
INPUTS = {"minimal GET (wrk)": MINIMAL, "browser GET (12 headers)": BROWSER}
HEADER_COUNTS = {MINIMAL: 1, BROWSER: 12}

# A parse function takes the request bytes and returns the number of header fields it saw, which
# the self-check compares with the input (so no variant is timed doing less than the others).
Parse = Callable[[bytes], int]


# ---------------------------------------------------------------------------------------------- tapster


def tapster_fresh() -> Parse:
    limits = H11Limits()  # shared, as the server shares one per listener

    def parse(data: bytes) -> int:
        conn = H11Connection(limits)
        conn.receive_data(data)
        count = 0
        while (event := conn.next_event()) is not PAUSED:
            if type(event) is Request:
                count = len(event.headers)
        return count

    return parse


def tapster_reused() -> Parse:
    conn = H11Connection(H11Limits())

    def parse(data: bytes) -> int:
        conn.receive_data(data)
        count = 0
        while (event := conn.next_event()) is not PAUSED:
            if type(event) is Request:
                count = len(event.headers)
        conn.response_head(200, [], body=b"")
        conn.start_next_cycle()
        return count

    return parse


# ---------------------------------------------------------------------------------------------- httptools


class _Minimal:
    """Callbacks that keep only what the head says: the URL and the fields as sent."""

    __slots__ = ("complete", "headers", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.complete = True


class _Scope(_Minimal):
    """The same, plus the work that turns it into what tapster's `Request` already holds."""

    __slots__ = ("keep_alive", "method", "parser", "path", "query")

    def __init__(self) -> None:
        super().__init__()
        self.parser: Any = None
        self.method = b""
        self.path = b""
        self.query: bytes | None = None
        self.keep_alive = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parsed = httptools.parse_url(self.url)
        self.path = parsed.path
        self.query = parsed.query
        self.method = self.parser.get_method()
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True


def httptools_minimal() -> Parse:
    proto = _Minimal()
    parser = httptools.HttpRequestParser(proto)

    def parse(data: bytes) -> int:
        parser.feed_data(data)
        return len(proto.headers) if proto.complete else -1

    return parse


def httptools_scope() -> Parse:
    proto = _Scope()
    parser = httptools.HttpRequestParser(proto)
    proto.parser = parser

    def parse(data: bytes) -> int:
        parser.feed_data(data)
        return len(proto.headers) if proto.complete else -1

    return parse


# ---------------------------------------------------------------------------------------------- h11


def h11_fresh() -> Parse:
    def parse(data: bytes) -> int:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        count = 0
        while True:
            event = conn.next_event()
            if event is h11.PAUSED or event is h11.NEED_DATA:
                return count
            if isinstance(event, h11.Request):
                count = len(event.headers)

    return parse


VARIANTS: dict[str, Callable[[], Parse]] = {
    "tapster": tapster_fresh,
    "tapster, reused": tapster_reused,
    "httptools": httptools_minimal,
    "httptools, +scope": httptools_scope,
    "h11": h11_fresh,
}
REFERENCE = "tapster"


# ---------------------------------------------------------------------------------------------- timing


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=7, help="timeit repeats; the median is reported")
    p.add_argument("--min-time", type=float, default=0.3, help="seconds per repeat")
    args = p.parse_args(argv)

    versions = ", ".join(
        f"{dist} {importlib.metadata.version(dist)}" for dist in ("tapster", "httptools", "h11")
    )
    print(f"Python {platform.python_version()} ({platform.machine()}); {versions}")
    print(f"median of {args.repeat} repeats of >= {args.min_time:g} s; µs per request (lower is better)\n")

    results: dict[str, dict[str, float]] = {}
    for label, data in INPUTS.items():
        results[label] = {}
        for name, make in VARIANTS.items():
            parse = make()
            for _ in range(3):  # the self-check, which also warms each variant up
                got = parse(data)
                if got != HEADER_COUNTS[data]:
                    print(f"{name} saw {got} header fields in {label}, expected {HEADER_COUNTS[data]}")
                    return 1
            results[label][name] = time_us(partial(parse, data), args.repeat, args.min_time)

    labels = list(INPUTS)
    header = f"{'parser':<20}" + "".join(f"{label:>29}" for label in labels)
    print(header)
    print("-" * len(header))
    for name in VARIANTS:
        cells = ""
        for label in labels:
            us = results[label][name]
            ratio = us / results[label][REFERENCE]
            cells += f"{us:>11.2f} µs ({ratio:5.2f}x tapster)"
        print(f"{name:<20}{cells}")
    print(f"\n({len(MINIMAL)} and {len(BROWSER)} bytes; ratio = time / tapster's time, so < 1 is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
