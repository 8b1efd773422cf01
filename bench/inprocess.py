"""Per-request cost of the frameworks themselves: the ASGI callable called directly, no server.

    python bench/inprocess.py [--number N] [--repeat R] [--frameworks firkin,quart,starlette]
                              [--routes plaintext,json,...] [--loop uvloop|asyncio]
                              [--profile | --bytecodes] [--json FILE]

Each framework serves the same app (``bench/fw_apps/``) on the same rows as bench/frameworks.py
(``REQUESTS`` there; ``--routes`` picks some). A request is one call ``await app(scope, receive,
send)`` with a fresh scope (the headers wrk sends: ``host``, and for a POST its ``content-type`` and
``content-length``), a ``send`` that keeps the messages, and a ``receive`` that returns the body in
one message and then blocks on an ``asyncio.Event().wait()``: a framework that listens for
the disconnect in a task of its own (Quart does) then waits instead of spinning, and that task is
cancelled by the framework as it would be under a server. The lifespan is started first, like a
server does, and its state copied into every scope.

The number is µs per request: the median over ``--repeat`` runs of ``--number`` requests in a row (after
a warm-up), each run ending with two loop iterations so work the framework left to the loop (cancelled
tasks) is counted. Every route is checked first to answer the expected status and body. The ratios
are the peer's µs over firkin's (above 1: firkin spends less per request).

``--profile`` instead runs firkin's routes under cProfile and prints the top costs overall and in
firkin's own code. ``--bytecodes`` instead counts the bytecode instructions each request executes (a
deterministic measure: the same code gives the same count on any machine), and the functions that
execute most of them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import importlib
import io
import json
import platform
import pstats
import statistics
import sys
import time
import types
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/inprocess.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, git_revision, version_of
from bench.fw_apps import REQUESTS, Expected

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FRAMEWORKS = {
    "firkin": "bench.fw_apps.firkin_app",
    "quart": "bench.fw_apps.quart_app",
    "starlette": "bench.fw_apps.starlette_app",
}
BASE = "firkin"
HEADERS = [(b"host", b"127.0.0.1:8000")]


def load(framework: str) -> ASGIApp:
    app: ASGIApp = importlib.import_module(FRAMEWORKS[framework]).app
    return app


def http_scope(row: Expected, state: dict[str, Any]) -> Scope:
    headers = list(HEADERS)
    if row.body is not None:
        headers += [
            (b"content-type", (row.content_type or "").encode("latin-1")),
            (b"content-length", str(len(row.body.encode())).encode("ascii")),
        ]
    path = row.path
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": row.method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("ascii"),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": state.copy(),
    }


async def request(app: ASGIApp, row: Expected, state: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []
    body_given = False
    body = b"" if row.body is None else row.body.encode()

    async def receive() -> Message:
        nonlocal body_given
        if not body_given:
            body_given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never set: the client neither sends nor leaves
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    await app(http_scope(row, state), receive, send)
    return sent


class Lifespan:
    """A server's side of the ASGI lifespan: startup before the requests, shutdown after."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        await self.app(scope, self._to_app.get, self._from_app.put)

    async def __aenter__(self) -> Lifespan:
        self._task = asyncio.create_task(self._run())
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._from_app.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"lifespan startup: {message}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._from_app.get()
        if self._task is not None:
            await self._task


def check(framework: str, row: Expected, messages: list[Message]) -> None:
    start = messages[0] if messages else {}
    body = b"".join(m.get("body", b"") for m in messages[1:])
    want = row.want
    got: Any = None if want is None else body.decode() if isinstance(want, str) else json.loads(body)
    if start.get("status") != row.status or got != want:
        raise RuntimeError(f"{framework} {row.method} {row.path}: {start.get('status')}, body {body[:80]!r}")


async def time_route(app: ASGIApp, row: Expected, state: dict[str, Any], number: int) -> float:
    """Seconds per request over `number` requests in a row."""
    start = time.perf_counter()
    for _ in range(number):
        await request(app, row, state)
    await asyncio.sleep(0)  # what the framework left to the loop (cancelled tasks) is part of the cost
    await asyncio.sleep(0)
    return (time.perf_counter() - start) / number


async def measure(
    frameworks: list[str], routes: list[str], number: int, repeat: int
) -> dict[str, dict[str, list[float]]]:
    """µs per request, every repeat, by framework and route."""
    results: dict[str, dict[str, list[float]]] = {}
    for framework in frameworks:
        app = load(framework)
        results[framework] = {}
        async with Lifespan(app) as lifespan:
            for route in routes:
                row = REQUESTS[route]
                check(framework, row, await request(app, row, lifespan.state))
                await time_route(app, row, lifespan.state, max(number // 10, 100))  # warm-up
                results[framework][route] = [
                    await time_route(app, row, lifespan.state, number) * 1e6 for _ in range(repeat)
                ]
                print(
                    f"  {framework:<10} {route:<9} {statistics.median(results[framework][route]):8.2f} µs"
                    f"  (min {min(results[framework][route]):.2f})",
                    flush=True,
                )
    return results


async def profile(framework: str, routes: list[str], number: int, top: int) -> None:
    app = load(framework)
    async with Lifespan(app) as lifespan:
        for route in routes:
            await time_route(app, REQUESTS[route], lifespan.state, 200)  # warm-up: imports, caches
        profiler = cProfile.Profile()
        profiler.enable()
        for route in routes:
            await time_route(app, REQUESTS[route], lifespan.state, number)
        profiler.disable()
    for title, sort, restrict in (
        ("top costs overall, by own time", "tottime", ()),
        (f"in {framework}'s own code, by own time", "tottime", (f"/{framework}/",)),
        (f"in {framework}'s own code, by cumulative time", "cumulative", (f"/{framework}/",)),
    ):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        if not restrict:
            stats.strip_dirs()
        stats.sort_stats(sort).print_stats(*restrict, top)
        text = out.getvalue().split("\n\n", 1)[-1].rstrip().replace(f"{ROOT}/", "")
        print(f"\n== {title} ({len(routes) * number} requests)\n{text}")


class _Counting:
    """A trace function that counts the bytecode instructions and lines run, by function."""

    def __init__(self) -> None:
        self.ops: collections.Counter[str] = collections.Counter()
        self.lines: collections.Counter[str] = collections.Counter()

    def start(self, frame: types.FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes = True
        return self.local(frame, event, arg)

    def local(self, frame: types.FrameType, event: str, arg: object) -> Any:
        code = frame.f_code
        where = f"{code.co_filename.replace(f'{ROOT}/', '')}:{code.co_name}"
        if event == "opcode":
            self.ops[where] += 1
        elif event == "line":
            self.lines[where] += 1
        return self.local


async def count_bytecodes(frameworks: list[str], routes: list[str], number: int, top: int) -> None:
    """Bytecode instructions (and source lines) executed per request, by route and framework, then
    the functions that execute most of them in each framework's first route. Deterministic, unlike a
    timing: the same code gives the same count on any machine, so a change shows even when it is
    smaller than the noise of a shared machine. (Not a time: a C call counts as one instruction.)"""
    print(f"bytecode instructions per request (lines in brackets), over {number} requests after a warm-up")
    for framework in frameworks:
        app = load(framework)
        async with Lifespan(app) as lifespan:
            for index, route in enumerate(routes):
                row = REQUESTS[route]
                await time_route(app, row, lifespan.state, 50)  # warm-up: caches, first-request work
                tracer = _Counting()
                sys.settrace(tracer.start)
                try:
                    for _ in range(number):
                        await request(app, row, lifespan.state)
                finally:
                    sys.settrace(None)
                ops, lines = tracer.ops, tracer.lines
                total_ops, total_lines = sum(ops.values()) / number, sum(lines.values()) / number
                print(f"  {framework:<10} {route:<9} {total_ops:8.0f}  ({total_lines:.0f})", flush=True)
                if index == 0 and top:
                    for where, count in ops.most_common(top):
                        print(f"      {count / number:7.1f}  {where}")
    print("(the harness's own calls, in bench/inprocess.py, are about 100 of each request's instructions)")


def new_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == "asyncio":
        return None
    import uvloop

    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--number", type=int, default=2000, help="requests per timed run")
    p.add_argument("--repeat", type=int, default=7, help="timed runs per route; the median is reported")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated subset")
    p.add_argument("--routes", default=",".join(REQUESTS), help="comma-separated subset of the rows")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop", help="event loop (uvloop)")
    p.add_argument("--profile", action="store_true", help="cProfile firkin's routes instead of timing")
    p.add_argument(
        "--bytecodes",
        action="store_true",
        help="count the bytecode instructions each request executes instead of timing (deterministic)",
    )
    p.add_argument("--top", type=int, default=25, help="rows per profile table")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    args = p.parse_args(argv)
    frameworks = [f for f in args.frameworks.split(",") if f]
    routes = [r for r in args.routes.split(",") if r]
    for asked, known in ((frameworks, FRAMEWORKS), (routes, REQUESTS)):
        unknown = set(asked) - set(known)
        if unknown:
            print(f"inprocess: unknown {', '.join(sorted(unknown))}; choose from {','.join(known)}")
            return 2

    with asyncio.Runner(loop_factory=new_loop_factory(args.loop)) as runner:
        if args.bytecodes:
            runner.run(count_bytecodes(frameworks, routes, min(args.number, 200), args.top))
            return 0
        if args.profile:
            runner.run(profile(BASE, routes, args.number, args.top))
            return 0
        print(
            f"µs per request, median of {args.repeat} runs of {args.number} requests; loop {args.loop};"
            f" git {git_revision()}",
            flush=True,
        )
        results = runner.run(measure(frameworks, routes, args.number, args.repeat))

    medians = {f: {r: statistics.median(v) for r, v in routes.items()} for f, routes in results.items()}
    peers = [f for f in frameworks if f != BASE]
    print(f"\n{'route':<10}" + "".join(f" {f + ' µs':>14}" for f in frameworks), end="")
    print("".join(f" {f + '/' + BASE:>16}" for f in peers) if BASE in medians else "")
    for route in routes:
        line = f"{route:<10}" + "".join(f" {medians[f][route]:>14.2f}" for f in frameworks)
        if BASE in medians:
            line += "".join(f" {medians[f][route] / medians[BASE][route]:>16.2f}" for f in peers)
        print(line)

    if args.json is not None:
        summary = {
            "git": git_revision(),
            "loop": args.loop,
            "number": args.number,
            "repeat": args.repeat,
            "python": platform.python_version(),
            "versions": {d: version_of(d) for d in ("firkin", "quart", "starlette", "werkzeug", "uvloop")},
            "us_per_request": medians,
            "samples_us": results,
        }
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
