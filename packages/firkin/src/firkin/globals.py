"""The context-local proxies: `current_app`, `g`, `request`, `websocket`, `session`, backed by ContextVars.

ContextVars follow tasks on asyncio and on trio alike, so the proxies work on both loops.

The app and request contexts are kept in Flask's own ContextVars (`flask.globals._cv_app`,
`flask.globals._cv_request`), not in variables of our own: a firkin context *is* the current Flask
context, so a Flask extension that reads `flask.current_app`, `flask.g`, `flask.request` or
`flask.session` sees firkin's objects, at no cost per request (docs/firkin/extensions.md).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, cast

from flask import globals as _flask_globals
from werkzeug.local import LocalProxy

if TYPE_CHECKING:
    from flask.ctx import _AppCtxGlobals

    from .app import Firkin
    from .ctx import AppContext, RequestContext, WebsocketContext
    from .sessions import SessionMixin
    from .wrappers import Request, Websocket

__all__ = ["app_ctx", "current_app", "g", "request", "request_ctx", "session", "websocket", "websocket_ctx"]

_no_app_msg = """\
Working outside of application context.

This typically means that you attempted to use functionality that needed the current application.
To solve this, set up an application context with `async with app.app_context():` (or `with`)."""

_no_req_msg = """\
Working outside of request context.

This typically means that you attempted to use functionality that needed an active HTTP request.
In tests, set up a request context with `async with app.test_request_context("/path"):` (or `with`),
or make the request through `app.test_client()`."""

_no_websocket_msg = """\
Working outside of websocket context.

This typically means that you attempted to use functionality that needed an active websocket.
In tests, set up a websocket context with `async with app.test_websocket_context("/path"):` (or `with`),
or connect through `app.test_client().websocket("/path")`."""

_no_session_msg = """\
Working outside of request and websocket context.

The session belongs to a request or a websocket. In tests, set up a request context with
`async with app.test_request_context("/path"):` (or `with`), or use `client.session_transaction()`."""

# Flask's variables, typed as holding firkin's contexts (which have the attributes Flask's code reads
# from its own: `app`, `g`, `url_adapter`; `request`, `session`, `flashes`, `_after_request_functions`).
_cv_app = cast("ContextVar[AppContext]", _flask_globals._cv_app)
_cv_request = cast("ContextVar[RequestContext]", _flask_globals._cv_request)
_cv_websocket: ContextVar[WebsocketContext] = ContextVar("firkin.websocket_ctx")


def _session_owner() -> RequestContext | WebsocketContext:
    """The context whose session `session` is: the request's, else the websocket's."""
    ctx: RequestContext | WebsocketContext | None = _cv_request.get(None) or _cv_websocket.get(None)
    if ctx is None:
        raise RuntimeError(_no_session_msg)
    return ctx


app_ctx: AppContext = cast("AppContext", LocalProxy(_cv_app, unbound_message=_no_app_msg))
current_app: Firkin = cast("Firkin", LocalProxy(_cv_app, "app", unbound_message=_no_app_msg))
g: _AppCtxGlobals = cast("_AppCtxGlobals", LocalProxy(_cv_app, "g", unbound_message=_no_app_msg))
request_ctx: RequestContext = cast("RequestContext", LocalProxy(_cv_request, unbound_message=_no_req_msg))
request: Request = cast("Request", LocalProxy(_cv_request, "request", unbound_message=_no_req_msg))
session: SessionMixin = cast("SessionMixin", LocalProxy(_session_owner, "session"))
websocket_ctx: WebsocketContext = cast(
    "WebsocketContext", LocalProxy(_cv_websocket, unbound_message=_no_websocket_msg)
)
websocket: Websocket = cast(
    "Websocket", LocalProxy(_cv_websocket, "websocket", unbound_message=_no_websocket_msg)
)
