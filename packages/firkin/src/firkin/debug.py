"""The debug traceback page, shown by the development server (`firkin run --debug`, `app.run(debug=True)`).

As in Flask, debug mode makes the app propagate unhandled exceptions (so tests and debuggers see
them); the page is drawn by `DebugMiddleware`, which the development server puts around the app. On
any other server an exception in debug mode reaches that server, which answers 500 and logs it.
"""

from __future__ import annotations

import html
import traceback
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import Firkin
    from .typing import ASGIReceive, ASGIScope, ASGISend

__all__ = ["DebugMiddleware", "traceback_page"]


def traceback_page(error: BaseException, where: str = "") -> bytes:
    """A 500 page (HTML) with the traceback of `error`. Debug mode only: it shows the code."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return (
        "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error (debug)</title>\n"
        f"<h1>{html.escape(type(error).__name__)}: {html.escape(str(error))}</h1>\n"
        f"<p>While handling <code>{html.escape(where)}</code>. This page is shown because the app "
        "runs in debug mode; turn debug off in production.</p>\n"
        f"<pre>{html.escape(text)}</pre>\n"
    ).encode()


class DebugMiddleware:
    """ASGI middleware: an exception raised by an HTTP request before its response started becomes
    the traceback page (and a logged traceback); after the start, the exception goes on to the
    server, which ends the connection. Websocket and lifespan scopes pass through untouched."""

    def __init__(self, app: Firkin) -> None:
        self.app = app

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if started:
                raise
            where = f"{scope['method']} {scope['path']}"
            self.app.logger.error("Exception on %s", where, exc_info=error)
            body = traceback_page(error, where)
            headers = [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})
