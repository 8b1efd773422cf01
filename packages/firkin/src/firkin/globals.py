"""The context-local proxies: `current_app`, `g`, `request`, `websocket`, `session`, backed by ContextVars.

ContextVars follow tasks on asyncio and on trio alike, so the proxies work on both loops.

The app and request contexts are kept in Flask's own ContextVars (`flask.globals._cv_app`,
`flask.globals._cv_request`), not in variables of our own: a firkin context *is* the current Flask
context, so a Flask extension that reads `flask.current_app`, `flask.g`, `flask.request` or
`flask.session` sees firkin's objects, at no cost per request (docs/firkin/extensions.md).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, Any, cast

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


def _session_owner() -> RequestContext | WebsocketContext | None:
    """The context whose session `session` is: the request's, else the websocket's."""
    return _cv_request.get(None) or _cv_websocket.get(None)


# The proxy's own attributes (werkzeug's LocalProxy keeps them in slots): read on the proxy itself.
_OWN = frozenset(("_get_current_object", "_LocalProxy__wrapped"))
_object_getattribute = object.__getattribute__


def _proxy(current: Callable[[], Any], attr: str | None, unbound_message: str) -> Any:
    """werkzeug's LocalProxy of `attr` of the context `current()` gives (None: no context), with
    attribute reads and writes forwarded by one method call: werkzeug's goes through a descriptor,
    a closure and a bound partial on every `request.args` (about 0.7 µs; this, 0.15 µs). Everything
    else (operators, `repr`, `isinstance`, unbound errors) is LocalProxy's own."""

    def target() -> Any:
        ctx = current()
        if ctx is None:
            raise RuntimeError(unbound_message)
        return ctx if attr is None else getattr(ctx, attr)

    class ContextProxy(LocalProxy[Any]):
        __slots__ = ()

        def __getattribute__(self, name: str) -> Any:
            if name not in _OWN:
                ctx = current()
                if ctx is not None:
                    return getattr(ctx if attr is None else getattr(ctx, attr), name)
            return _object_getattribute(self, name)  # unbound: LocalProxy's error (or its own name)

        def __setattr__(self, name: str, value: Any) -> None:
            setattr(target(), name, value)

        def __delattr__(self, name: str) -> None:
            delattr(target(), name)

    ContextProxy.__name__ = ContextProxy.__qualname__ = "LocalProxy"  # (its repr, unbound, as werkzeug's)
    return ContextProxy(target, unbound_message=unbound_message)


def _current(var: ContextVar[Any]) -> Callable[[], Any]:
    return partial(var.get, None)  # (a C call: no frame of ours)


app_ctx: AppContext = _proxy(_current(_cv_app), None, _no_app_msg)
current_app: Firkin = _proxy(_current(_cv_app), "app", _no_app_msg)
g: _AppCtxGlobals = _proxy(_current(_cv_app), "g", _no_app_msg)
request_ctx: RequestContext = _proxy(_current(_cv_request), None, _no_req_msg)
request: Request = _proxy(_current(_cv_request), "request", _no_req_msg)
session: SessionMixin = _proxy(_session_owner, "session", _no_session_msg)
websocket_ctx: WebsocketContext = _proxy(_current(_cv_websocket), None, _no_websocket_msg)
websocket: Websocket = _proxy(_current(_cv_websocket), "websocket", _no_websocket_msg)
