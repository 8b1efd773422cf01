"""The ASGI side of a Firkin app: http requests, the lifespan, background tasks (websockets: `_websocket`).

No task of our own runs beside a request: the body is read from `receive` only when the app asks
for it, and the response is sent from the request's own task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected

from ._scope import scope_location
from ._websocket import handle_websocket
from .wrappers import Body, Request
from .wrappers.response import DataBody, ResponseBody

if TYPE_CHECKING:
    from .app import Firkin
    from .typing import ASGIReceive, ASGIScope, ASGISend

__all__ = [
    "background_tasks",
    "handle_http",
    "handle_lifespan",
    "handle_websocket",
    "request_from_scope",
    "serving_started",
    "serving_stopped",
]


def request_from_scope(app: Firkin, scope: ASGIScope, body: Body) -> Request:
    server, root_path, path, remote_addr = scope_location(scope)
    return app.request_class(
        scope["method"],
        scope.get("scheme", "http"),
        server,
        root_path,
        path,
        scope.get("query_string", b""),
        None,  # the headers: built from raw_headers when the app first reads them
        remote_addr,
        body,
        http_version=scope.get("http_version", "1.1"),
        scope=scope if type(scope) is dict else dict(scope),
        raw_headers=scope["headers"],
    )


class _ClientGone(Exception):
    """The server's send() failed: the client left. Not an error of the app."""


async def handle_http(app: Firkin, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
    request = request_from_scope(app, scope, Body(receive))
    extensions = scope.get("extensions")
    if extensions and ("http.response.push" in extensions or "http.response.early_hint" in extensions):
        request.push_send = send  # server push and early hints (request.send_push_promise / _early_hints)
    response = await app.handle_request(request)
    # One message for a known body, one per chunk for a streamed one.
    start = {
        "type": "http.response.start",
        "status": response.status_code,
        "headers": response.asgi_headers() or _asgi_headers(response.headers),
    }
    head = request.method == "HEAD"
    body = response.response
    try:
        if isinstance(body, DataBody):  # nothing to release
            try:
                await send(start)
                await send({"type": "http.response.body", "body": b"" if head else body.data})
            except (OSError, ClientDisconnected):
                pass  # the client left
        else:
            await _send_streamed(send, start, body, head)
    except _ClientGone:
        pass  # the client left mid-response; the body was released by _send_streamed
    except Exception:
        # Producing the body failed after the head was sent (a generator raised, a file vanished):
        # say so, and let the server end the connection so the client sees the response is cut.
        app.logger.exception("Error while sending the response to %s %s", request.method, request.path)
        raise
    tasks: BackgroundTasks | None = app.__dict__.get("_background_tasks")
    if tasks is not None:
        await tasks.after_response()


async def _send_or_gone(send: ASGISend, message: dict[str, Any]) -> None:
    try:
        await send(message)
    except (OSError, ClientDisconnected) as exc:
        raise _ClientGone() from exc


# Header names as ASGI wants them (lowercase bytes), for the names responses carry again and again.
_NAMES: dict[str, bytes] = {}


def _asgi_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    names = _NAMES
    result = []
    # The pairs as werkzeug's Headers holds them (items() is two generators deep).
    pairs = headers._list if type(headers) is Headers else headers.items()
    for name, value in pairs:
        raw = names.get(name)
        if raw is None:
            raw = name.lower().encode("latin-1")
            if len(names) < 512:  # bounded: apps may invent header names per response
                names[name] = raw
        result.append((raw, value.encode("latin-1")))
    return result


async def _send_streamed(send: ASGISend, start: dict[str, Any], body: ResponseBody, head: bool) -> None:
    """Send a streamed body, a message per chunk. Errors of `send` (the client left) become
    `_ClientGone`; errors of the body propagate as they are."""
    try:
        await _send_or_gone(send, start)
        if not head:
            async for chunk in body:
                if chunk:
                    await _send_or_gone(
                        send, {"type": "http.response.body", "body": chunk, "more_body": True}
                    )
        await _send_or_gone(send, {"type": "http.response.body", "body": b""})
    finally:
        await body.aclose()  # whatever happened: release what the body holds (a file, a generator)


async def handle_lifespan(app: Firkin, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
    """before_serving / while_serving at startup; after_serving and background tasks at shutdown."""
    tasks = background_tasks(app)

    async def shutdown() -> None:
        await tasks.wait_all(app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"])
        await app.shutdown()

    async with anyio.create_task_group() as group:
        tasks.task_group = group
        while True:
            phase = (await receive())["type"]  # lifespan.startup, then lifespan.shutdown
            try:
                await (app.startup() if phase == "lifespan.startup" else shutdown())
            except Exception as error:
                app.logger.exception("%s failed", phase)
                await send({"type": f"{phase}.failed", "message": f"{type(error).__name__}: {error}"})
                group.cancel_scope.cancel()
                return
            await send({"type": f"{phase}.complete"})
            if phase == "lifespan.shutdown":
                group.cancel_scope.cancel()
                return


async def serving_started(app: Firkin) -> None:
    """before_serving functions, then while_serving generators up to their yield."""
    async with app.app_context():
        for func in app.before_serving_funcs:
            await func()
        app._serving_gens = []
        for factory in app.while_serving_gens:
            gen = factory()
            await gen.__anext__()
            app._serving_gens.append(gen)


async def serving_stopped(app: Firkin) -> None:
    """The while_serving generators to their end, last started first, then the after_serving
    functions: the reverse of startup (Quart 0.22's order; 0.21 ran after_serving first)."""
    async with app.app_context():
        for gen in reversed(app._serving_gens):
            try:
                await gen.__anext__()
            except StopAsyncIteration:
                continue
            raise RuntimeError(f"while_serving generator {gen!r} yielded more than once")
        for func in app.after_serving_funcs:
            await func()


class BackgroundTasks:
    """Tasks started by `app.add_background_task`: owned by the lifespan's task group when there is
    one (so shutdown waits for them, bounded, then cancels them), else run right after the response."""

    def __init__(self, app: Firkin) -> None:
        self.app = app
        self.task_group: anyio.abc.TaskGroup | None = None
        self._pending: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._running = 0
        # Set when the last running task ends; made by wait_all in the loop that waits (an app may
        # be served on one event loop library and then on another).
        self._idle: anyio.Event | None = None
        self._scopes: set[anyio.CancelScope] = set()  # one per running task, to cancel it at shutdown

    def add(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._pending.append((func, args, kwargs))
        if self.task_group is not None:
            self.start_pending()

    async def after_response(self) -> None:
        """Start what the request added; without a lifespan (no task group) run it here, now."""
        if self.task_group is not None:
            self.start_pending()
            return
        while self._pending:
            func, args, kwargs = self._pending.pop(0)
            self._running += 1
            await self._run(func, args, kwargs)

    def start_pending(self) -> None:
        while self._pending and self.task_group is not None:
            func, args, kwargs = self._pending.pop(0)
            self._running += 1
            self.task_group.start_soon(self._run, func, args, kwargs)

    async def _run(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        with anyio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                async with self.app.app_context():
                    await self.app.ensure_async(func)(*args, **kwargs)
            except Exception:
                self.app.logger.exception("Background task %r failed", func)
            finally:
                self._scopes.discard(scope)
                self._running -= 1
                if self._running == 0 and self._idle is not None:
                    self._idle.set()

    async def wait_all(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the running tasks; then cancel what is left and wait for
        it to end, so that after_serving does not run beside them (as in Quart)."""
        if self._running == 0:
            return
        idle = self._idle = anyio.Event()
        try:
            with anyio.move_on_after(timeout) as scope:
                await idle.wait()
            if scope.cancelled_caught:
                self.app.logger.warning(
                    "Background tasks still running after %s s at shutdown: cancelled", timeout
                )
                for task_scope in self._scopes:
                    task_scope.cancel()
                await idle.wait()
        finally:
            self._idle = None


def background_tasks(app: Firkin) -> BackgroundTasks:
    tasks: BackgroundTasks | None = app.__dict__.get("_background_tasks")
    if tasks is None:
        tasks = app.__dict__["_background_tasks"] = BackgroundTasks(app)
    return tasks
