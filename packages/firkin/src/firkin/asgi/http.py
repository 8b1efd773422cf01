"""The ASGI `http` scope: a request in, the app's response out, from the request's own task.

No task of our own runs beside a request: the body is read from `receive` only when the app asks
for it, and the response is sent from the request's own task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import ClientDisconnected

from firkin._fastpaths.responses import asgi_header_pairs
from firkin.wrappers import Body, Request
from firkin.wrappers.response import DataBody, ResponseBody

from .background import BackgroundTasks

if TYPE_CHECKING:
    from firkin.app import Firkin
    from firkin.typing import ASGIReceive, ASGIScope, ASGISend

__all__ = ["handle_http", "request_from_scope"]


def request_from_scope(app: Firkin, scope: ASGIScope, body: Body) -> Request:
    return app.request_class.from_scope(scope, body)


class _ClientGone(Exception):
    """The server's send() failed: the client left. Not an error of the app."""


async def handle_http(app: Firkin, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
    request = app.request_class.from_scope(scope, Body(receive))
    extensions = scope.get("extensions")
    if extensions and ("http.response.push" in extensions or "http.response.early_hint" in extensions):
        request.push_send = send  # server push and early hints (request.send_push_promise / _early_hints)
    response = await app.handle_request(request)
    # One message for a known body, one per chunk for a streamed one.
    start = {
        "type": "http.response.start",
        "status": response._status_code,  # (the status_code property's value)
        # (response.asgi_headers(), written out: the pairs of a response whose headers were never read)
        "headers": (response._asgi_headers if response._headers is None else None)
        or asgi_header_pairs(response.headers),
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
    if tasks is not None and tasks._pending:  # (a coroutine only when the request added some)
        await tasks.after_response()


async def _send_or_gone(send: ASGISend, message: dict[str, Any]) -> None:
    try:
        await send(message)
    except (OSError, ClientDisconnected) as exc:
        raise _ClientGone() from exc


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
