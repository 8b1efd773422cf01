"""Per-message cost of the frameworks' websocket paths: the ASGI callable called directly, no server.

    python bench/ws_inprocess.py [--messages N] [--repeat R] [--frameworks firkin,quart,starlette]
                                 [--loop uvloop|asyncio] [--size BYTES]

Each framework serves the same echo handler, written as its users write it:

    firkin     @app.websocket("/ws"): `data = await websocket.receive()`, `await websocket.send(data)`
    quart      the same, with Quart's names
    starlette  a WebSocketRoute function: `await ws.accept()`, `receive_text()`, `send_text()`

One run is one websocket: `websocket.connect`, then N text messages of `--size` bytes, one at a time
(the next is handed to the app only after it sent its echo back, as a client waiting for each answer
does), then `websocket.disconnect`. The server's side is as cheap as it can be: `receive` waits on an
`asyncio.Event` that `send` sets. The number is µs per echoed message (the run's time over N), the
median over `--repeat` runs; every run checks that each echo came back unchanged. The ratios are the
peer's µs over firkin's (above 1: firkin spends less per message).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/ws_inprocess.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import git_revision

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]
BASE = "firkin"


def firkin_app() -> ASGIApp:
    from firkin import Firkin, websocket

    app = Firkin(__name__)

    @app.websocket("/ws")
    async def echo() -> None:
        while True:
            data = await websocket.receive()
            await websocket.send(data)

    return app


def quart_app() -> ASGIApp:
    from quart import Quart, websocket

    app = Quart(__name__)

    @app.websocket("/ws")
    async def echo() -> None:
        while True:
            data = await websocket.receive()
            await websocket.send(data)

    asgi: ASGIApp = app  # type: ignore[assignment]  # Quart types its scope and messages narrowly
    return asgi


def starlette_app() -> ASGIApp:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except WebSocketDisconnect:
            pass

    return Starlette(routes=[WebSocketRoute("/ws", echo)])


FRAMEWORKS: dict[str, Callable[[], ASGIApp]] = {
    "firkin": firkin_app,
    "quart": quart_app,
    "starlette": starlette_app,
}


def scope() -> MutableMapping[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"upgrade", b"websocket"), (b"connection", b"Upgrade")],
        "subprotocols": [],
        "state": {},
        "extensions": {"websocket.http.response": {}},
    }


async def run_once(app: ASGIApp, messages: int, text: str) -> float:
    """Seconds for one websocket carrying `messages` echoes."""
    turn = asyncio.Event()  # set when the app may have the next message
    done = asyncio.Event()
    connected = False
    handed = 0
    echoed = 0

    async def receive() -> Message:
        nonlocal connected, handed
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        await turn.wait()
        turn.clear()
        if handed >= messages:
            await asyncio.Event().wait()  # the run is over: cancelled below
        handed += 1
        return {"type": "websocket.receive", "text": text}

    async def send(message: Message) -> None:
        nonlocal echoed
        kind = message["type"]
        if kind == "websocket.accept":
            turn.set()
        elif kind == "websocket.send":
            if message.get("text") != text:
                raise AssertionError(f"the echo came back as {message!r}")
            echoed += 1
            if echoed == messages:
                done.set()
            else:
                turn.set()
        elif kind == "websocket.close":
            done.set()

    started = time.perf_counter()
    task = asyncio.ensure_future(app(scope(), receive, send))
    await done.wait()
    elapsed = time.perf_counter() - started
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    if echoed != messages:
        raise AssertionError(f"{echoed} echoes of {messages}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=20000, help="messages per timed run")
    p.add_argument("--repeat", type=int, default=7, help="timed runs; the median is reported")
    p.add_argument("--size", type=int, default=16, help="bytes of each text message")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated subset")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop", help="event loop (uvloop)")
    args = p.parse_args(argv)
    frameworks = [f for f in args.frameworks.split(",") if f]
    if set(frameworks) - set(FRAMEWORKS):
        print(f"ws_inprocess: choose frameworks from {','.join(FRAMEWORKS)}")
        return 2
    text = "x" * args.size
    loop_factory = None
    if args.loop == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    results: dict[str, list[float]] = {f: [] for f in frameworks}
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        apps = {f: FRAMEWORKS[f]() for f in frameworks}
        for f in frameworks:
            runner.run(run_once(apps[f], 200, text))  # warm-up, and the check
        for _ in range(args.repeat):
            for f in frameworks:  # interleaved, so drift spreads over all of them
                results[f].append(runner.run(run_once(apps[f], args.messages, text)) / args.messages * 1e6)
    print(
        f"µs per echoed {args.size}-byte text message, median of {args.repeat} runs of {args.messages};"
        f" loop {args.loop}; git {git_revision()}"
    )
    medians = {f: statistics.median(v) for f, v in results.items()}
    for f in frameworks:
        ratio = f"  {medians[f] / medians[BASE]:.2f}x firkin's" if BASE in medians and f != BASE else ""
        print(f"  {f:<10} {medians[f]:8.2f} µs{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
