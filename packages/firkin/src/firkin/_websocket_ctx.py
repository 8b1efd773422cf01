"""The websocket context: binds one websocket (`websocket`, `session`) to the current task, with an app
context under it; `async with` and plain `with` like the request context. Re-exported by `firkin.ctx`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from contextvars import Token
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from werkzeug.exceptions import HTTPException

from ._ctx_base import ConnectionContext
from .globals import _cv_websocket
from .signals import websocket_tearing_down

if TYPE_CHECKING:
    from werkzeug.routing import MapAdapter

    from .app import Firkin
    from .ctx import AppContext
    from .sessions import SessionMixin
    from .wrappers import Request, Response, Websocket

__all__ = [
    "WebsocketContext",
    "after_this_websocket",
    "copy_current_websocket_context",
    "has_websocket_context",
]

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
_sentinel: Any = object()


class WebsocketContext(ConnectionContext):
    """Binds one websocket (`websocket`, `session`) to the current task, with an app context under it."""

    _var = _cv_websocket
    _kind = "websocket"

    def __init__(self, app: Firkin, websocket: Websocket, session: SessionMixin | None = None) -> None:
        self.app = app
        self.websocket = websocket
        self.url_adapter: MapAdapter | None = None
        trusted = app.config["TRUSTED_HOSTS"]
        if trusted is not None:
            websocket.trusted_hosts = trusted
        try:
            # The handshake has what create_url_adapter reads of a request (host, root_path, scheme).
            self.url_adapter = app.create_url_adapter(cast("Request", websocket))
        except HTTPException as exc:
            websocket.routing_exception = exc
        self.session: SessionMixin | None = session
        self._after_websocket_functions: list[Callable[[Response | None], Any]] = []
        self._tokens: list[tuple[Token[WebsocketContext], AppContext | None]] = []
        if self.url_adapter is not None:
            self.match_request()

    def match_request(self) -> None:
        """Match the websocket's path against the URL map's websocket rules (an HTTP rule on the
        same path does not match: werkzeug's WebsocketMismatch, a 400, if only HTTP rules do)."""
        assert self.url_adapter is not None
        websocket = self.websocket
        try:
            rule, view_args = self.url_adapter.match(
                websocket.path,
                "GET",
                return_rule=True,
                query_args=websocket.query_string.decode("latin-1"),
                websocket=True,
            )
            websocket.url_rule = rule
            websocket.view_args = dict(view_args)
        except HTTPException as exc:
            websocket.routing_exception = exc

    def copy(self) -> WebsocketContext:
        """A new context for the same websocket and session (for work in another task)."""
        return self.__class__(self.app, self.websocket, self.session)

    async def open_session(self) -> None:
        if self.session is None:
            interface = self.app.session_interface
            self.session = await interface.open_session(self.app, cast("Request", self.websocket))
            if self.session is None:
                self.session = await interface.make_null_session(self.app)

    def needs_teardown(self) -> bool:
        return bool(self.app.teardown_websocket_funcs) or bool(websocket_tearing_down.receivers)

    async def teardown(self, exc: BaseException | None, *, sync: bool) -> None:
        await self.app.do_teardown_websocket(exc, sync=sync)


def has_websocket_context() -> bool:
    """Whether a websocket context is active (a websocket is being handled, or one was pushed)."""
    return _cv_websocket.get(None) is not None


def after_this_websocket(func: F) -> F:
    """Run `func(response)` when this websocket's handler is done, before the after_websocket hooks.
    `response` is None unless the handler refused the handshake with one."""
    ctx = _cv_websocket.get(None)
    if ctx is None:
        raise RuntimeError("'after_this_websocket' can only be used when a websocket context is active")
    ctx._after_websocket_functions.append(func)
    return func


def copy_current_websocket_context(func: Callable[P, Any]) -> Callable[P, Coroutine[Any, Any, Any]]:
    """Decorate a function so it runs in a copy of the current websocket context (for a task the
    handler starts, e.g. one that sends while the handler receives)."""
    ctx = _cv_websocket.get(None)
    if ctx is None:
        raise RuntimeError(
            "'copy_current_websocket_context' can only be used when a websocket context is active, "
            "such as in a websocket handler"
        )
    copied = ctx.copy()

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        # The copy shares the websocket and session; its own teardown would run the hooks twice.
        await copied._push()
        try:
            return await copied.app.ensure_async(func)(*args, **kwargs)
        finally:
            await copied._pop(None, teardown=False)

    return wrapper
