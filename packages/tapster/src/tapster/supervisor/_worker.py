"""A worker process: `python -m tapster.supervisor._worker FD` (private; the supervisor starts it).

FD is the worker's end of its channel to the supervisor. The first message is the start order: the
app to import, the Config (its binds are the inherited listening sockets, as fd://N), the number of
requests to serve before asking to be replaced. Then the worker imports the app and serves it with
the ordinary single-process server, and says:

- ``ready`` once it accepts connections;
- ``failed`` (with an exit code and the error) when the app cannot be imported or its lifespan
  startup fails, and exits with that code;
- ``retire`` when it has served its request budget (--max-requests): the supervisor starts a
  replacement and, once that one is ready, tells this one to retire.

It obeys ``stop`` (a graceful shutdown), ``retire`` (a graceful shutdown that leaves idle keep-alive
connections to finish their next request: see `Server.retire`), and EOF on the channel (the
supervisor is gone: stop).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from tapster._importer import import_app
from tapster._run import run
from tapster.asgi._lifespan import LifespanFailure
from tapster.asgi._observe import RequestMetrics
from tapster.asgi._server import Server
from tapster.asgi._types import ASGIApp, Receive, Scope, Send
from tapster.config import Config
from tapster.errors import ConfigError

from ._channel import Channel
from ._codes import EXIT_APP, EXIT_CONFIG, EXIT_OK
from ._metrics import snapshot

__all__ = ["main"]


class RequestBudget:
    """ASGI middleware: counts requests (HTTP and WebSocket) and calls `exhausted` once, at the
    `limit`-th. The worker goes on serving until its replacement is ready."""

    __slots__ = ("app", "count", "exhausted", "limit")

    def __init__(self, app: ASGIApp, limit: int, exhausted: Callable[[], None]) -> None:
        self.app = app
        self.limit = limit
        self.exhausted = exhausted
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            self.count += 1
            if self.count == self.limit:
                self.exhausted()
        await self.app(scope, receive, send)


def config_from_message(values: dict[str, Any]) -> Config:
    """The Config the supervisor sent (JSON has lists where Config has tuples)."""
    fields: dict[str, Any] = {k: _tuples(v) for k, v in values.items()}
    return Config(**fields)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _obey(channel: Channel, server: Server) -> None:
    """The control thread: the supervisor's orders, until EOF (then stop: it is gone)."""
    while True:
        try:
            message = channel.receive()
        except Exception:  # noqa: BLE001 - a broken channel is a supervisor gone wrong: stop
            message = None
        if message is None or message["event"] == "stop":
            if not server.stopping:
                server.shutdown()
            if message is None:
                return
        elif message["event"] == "retire" and not server.stopping:
            server.retire()
        elif message["event"] == "metrics" and server.metrics is not None:
            channel.send(snapshot(server))


def _report_ready(channel: Channel, server: Server) -> None:
    server.started.wait()
    channel.send({"event": "ready", "addresses": server.addresses})


def serve(channel: Channel) -> int:
    order = channel.receive()
    if order is None or order["event"] != "start":
        print("tapster worker: no start order from the supervisor", file=sys.stderr)
        return EXIT_CONFIG
    try:
        config = config_from_message(order["config"])
    except ConfigError as exc:
        channel.send({"event": "failed", "code": EXIT_CONFIG, "error": str(exc)})
        return EXIT_CONFIG
    for fd in order["fds"]:
        os.set_inheritable(fd, False)  # the app's own subprocesses do not hold our listening sockets
    if order["configure_logging"]:
        from tapster.cli import configure_logging

        configure_logging(config)
    try:
        app = import_app(order["app"], factory=order["factory"], app_dir=order["app_dir"])
    except ConfigError as exc:
        channel.send({"event": "failed", "code": EXIT_CONFIG, "error": str(exc)})
        return EXIT_CONFIG
    except BaseException as exc:  # noqa: BLE001 - any failure of the app's import: reported, then exit
        traceback.print_exc()
        error = f"cannot import {order['app']}: {type(exc).__name__}: {exc}"
        channel.send({"event": "failed", "code": EXIT_APP, "error": error})
        return EXIT_APP
    if order["max_requests"]:
        limit = order["max_requests"]
        app = RequestBudget(
            app,
            limit,
            lambda: channel.send({"event": "retire", "reason": f"served {limit} requests (max_requests)"}),
        )
    server = Server(app, config)
    if order.get("metrics"):
        server.metrics = RequestMetrics()  # counted here, served (summed) by the supervisor
    threading.Thread(target=_obey, args=(channel, server), name="tapster-control", daemon=True).start()
    threading.Thread(target=_report_ready, args=(channel, server), name="tapster-ready", daemon=True).start()
    try:
        run(app, server=server)
    except LifespanFailure as exc:
        channel.send({"event": "failed", "code": EXIT_APP, "error": str(exc)})
        return EXIT_APP
    except ConfigError as exc:
        channel.send({"event": "failed", "code": EXIT_CONFIG, "error": str(exc)})
        return EXIT_CONFIG
    return EXIT_OK


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m tapster.supervisor._worker FD (started by the supervisor)", file=sys.stderr)
        return EXIT_CONFIG
    fd = int(argv[0])
    os.set_inheritable(fd, False)
    channel = Channel(socket.socket(fileno=fd))
    return serve(channel)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
