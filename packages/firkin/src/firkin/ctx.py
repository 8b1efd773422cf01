"""Application, request and websocket contexts: pushed as ContextVars, usable with `async with` and plain
`with`. A request and a websocket context share one base (`ConnectionContext`) and go through one
dispatch pipeline (`firkin._pipeline`); what differs is how the view is called and the session saved."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, ParamSpec, Self, TypeVar, cast

from werkzeug.exceptions import HTTPException

from . import _pipeline as pipeline
from ._sync import DONE, is_async_callable, iterate_in_thread, now_or_awaited, run_in_thread, run_sync
from .globals import _cv_app, _cv_request, _cv_websocket
from .routing import FirkinMap
from .sessions import SecureCookieSessionInterface, open_interface_session, save_interface_session
from .signals import appcontext_popped, appcontext_pushed, appcontext_tearing_down
from .wrappers.websocket import WebsocketDisconnected

if TYPE_CHECKING:
    from flask.ctx import _AppCtxGlobals
    from werkzeug.routing import MapAdapter

    from .app import Firkin
    from .sessions import SessionMixin
    from .typing import ResponseReturnValue
    from .wrappers import Request, Response, Websocket
    from .wrappers.base import BaseRequestWebsocket

__all__ = [
    "AppContext",
    "ConnectionContext",
    "RequestContext",
    "WebsocketContext",
    "after_this_request",
    "after_this_websocket",
    "copy_current_app_context",
    "copy_current_request_context",
    "copy_current_websocket_context",
    "has_app_context",
    "has_request_context",
    "has_websocket_context",
    "stream_with_context",
]

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
_sentinel: Any = object()


async def _ready(value: Any) -> Any:
    """`value`, to await."""
    return value


def _detached(exc: HTTPException) -> HTTPException:
    """A routing error kept on the request until the pipeline raises it: without the traceback and
    the context of where werkzeug raised it, which hold the frames that hold the request (a cycle
    left to the garbage collector on every 404 otherwise). Raising it gives it a new traceback."""
    exc.__traceback__ = None
    exc.__context__ = None
    return exc


class AppContext:
    """Binds the application (`current_app`, `g`) to the current task."""

    _url_adapter: MapAdapter | None = _sentinel  # bound when first asked for
    _g: _AppCtxGlobals | None = None  # made when first used: most requests never touch `g`

    def __init__(self, app: Firkin) -> None:
        self.app = app
        self._tokens: list[Token[AppContext]] = []

    @property
    def g(self) -> _AppCtxGlobals:
        """The app context's `g` namespace."""
        g = self._g
        if g is None:
            g = self._g = self.app.app_ctx_globals_class()
        return g

    @g.setter
    def g(self, value: _AppCtxGlobals) -> None:
        self._g = value

    @property
    def url_adapter(self) -> MapAdapter | None:
        """The URL adapter bound from SERVER_NAME (None without it): for url_for outside requests."""
        if self._url_adapter is _sentinel:
            self._url_adapter = self.app.create_url_adapter(None)
        return self._url_adapter

    @url_adapter.setter
    def url_adapter(self, value: MapAdapter | None) -> None:
        self._url_adapter = value

    def copy(self) -> AppContext:
        """A new context for the same app, sharing this one's `g` (Quart's `AppContext.copy`)."""
        copied = self.__class__(self.app)
        copied.g = self.g
        return copied

    def push(self) -> Awaitable[None]:
        """Make this context current. It is done at once, so both `ctx.push()` (Flask's form) and
        `await ctx.push()` (Quart's) work."""
        self._push()
        return DONE

    def _push(self) -> None:
        self._tokens.append(_cv_app.set(self))
        if appcontext_pushed.receivers:
            appcontext_pushed.send(self.app)

    def pop(self, exc: BaseException | None = _sentinel, *, teardown: bool = True) -> Awaitable[None]:
        """Undo `push()`, running the teardown_appcontext functions after the outermost push (unless
        `teardown=False`): `await ctx.pop()` in async code (Quart's form); in sync code outside an
        event loop, `ctx.pop()` (Flask's form) pops at once."""
        return now_or_awaited(
            lambda sync: self._pop(exc, sync=sync, teardown=teardown), "popping the app context"
        )

    async def _pop(
        self, exc: BaseException | None = _sentinel, *, sync: bool = False, teardown: bool = True
    ) -> None:
        try:
            if self._tears_down(teardown):
                if exc is _sentinel:
                    exc = sys.exc_info()[1]
                await self.app.do_teardown_appcontext(exc, sync=sync)
        finally:
            ctx = self._reset()
        self._popped(ctx)

    def pop_now(self, teardown: bool = True) -> bool:
        """Pop without awaiting when there is no teardown to run; False when `pop` must be awaited.
        (Once per request: _tears_down, _reset and _popped written out, three calls fewer.)"""
        tokens = self._tokens
        if (
            teardown
            and len(tokens) == 1
            and (self.app.teardown_appcontext_funcs or appcontext_tearing_down.receivers)
        ):
            return False
        ctx = _cv_app.get()
        _cv_app.reset(tokens.pop())
        if ctx is not self:
            raise AssertionError(f"Popped wrong app context ({ctx!r} instead of {self!r})")
        if appcontext_popped.receivers:
            appcontext_popped.send(self.app)
        return True

    def _reset(self) -> AppContext:
        """Undo this context's last push; the context that was current."""
        ctx = _cv_app.get()
        _cv_app.reset(self._tokens.pop())
        return ctx

    def _tears_down(self, teardown: bool) -> bool:
        app = self.app
        return (
            teardown
            and len(self._tokens) == 1
            and bool(app.teardown_appcontext_funcs or appcontext_tearing_down.receivers)
        )

    def _popped(self, ctx: AppContext) -> None:
        if ctx is not self:
            raise AssertionError(f"Popped wrong app context ({ctx!r} instead of {self!r})")
        if appcontext_popped.receivers:
            appcontext_popped.send(self.app)

    async def __aenter__(self) -> AppContext:
        self._push()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._pop(exc)

    def __enter__(self) -> AppContext:
        self._push()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        run_sync(self._pop(exc, sync=True), "leaving the app context")


class ConnectionContext:
    """Base of RequestContext and WebsocketContext: what the dispatch pipeline (`firkin._pipeline`)
    needs of a context. Subclasses name their ContextVar and kind, call the view, and say how the
    session opens and is saved."""

    _var: ClassVar[ContextVar[Any]]
    _kind: ClassVar[str]  # "request" or "websocket": for messages
    _pipeline: ClassVar[pipeline.Kind]  # the hooks and signals of this kind
    app: Firkin
    connection: BaseRequestWebsocket  # the request or the websocket
    url_adapter: MapAdapter | None
    _after_functions: list[Callable[..., Any]]  # after_this_request / after_this_websocket
    _overrides: frozenset[str]  # the steps the app's class overrides (firkin._pipeline)
    _tokens: list[tuple[Token[Any], AppContext | None]]

    def open_session_now(self) -> bool:
        """Open the session without I/O if that is how it opens (or arrange to open it when first
        used); False when `open_session` must be awaited."""
        return False

    async def open_session(self) -> None:
        """Open the session when the context is pushed."""

    def dispatch(self) -> Awaitable[ResponseReturnValue | None]:
        """The call of the view (the handler) with the view_args, to await; routing errors raise."""
        raise NotImplementedError

    def must_save_session(self, response: Response | None) -> bool:
        """Whether saving the session may change `response` (so the after step must run)."""
        raise NotImplementedError

    async def save_session(self, response: Response | None) -> None:
        raise NotImplementedError

    async def ended_by_error(self) -> bool:
        """After an unhandled error: True when the connection is past answering with a 500 (and
        was ended another way), False when a 500 response should be made."""
        return False

    async def teardown(self, exc: BaseException | None, *, sync: bool) -> None:
        own = pipeline.overridden(self.app, self, "teardown") if self._overrides else None
        if own is not None:
            await own(exc, sync=sync)
        else:
            await pipeline.teardown(self.app, self, exc, sync=sync)

    def closed(self) -> None:
        """Called once the outermost push of this context is popped."""

    def push(self) -> Awaitable[None]:
        """Make this context current: `await ctx.push()` in async code (Quart's form); in sync code
        outside an event loop, `ctx.push()` (Flask's form) pushes at once. Prefer `async with ctx:`."""
        return now_or_awaited(lambda sync: self._push(sync=sync), f"pushing the {self._kind} context")

    def pop(self, exc: BaseException | None = _sentinel, *, teardown: bool = True) -> Awaitable[None]:
        """Undo `push()`, running the teardowns after the outermost push (unless `teardown=False`):
        `await ctx.pop()` in async code, `ctx.pop()` in sync code outside an event loop."""
        return now_or_awaited(
            lambda sync: self._pop(exc, sync=sync, teardown=teardown), f"popping the {self._kind} context"
        )

    async def _push(self, *, sync: bool = False) -> None:
        if not self._push_now():
            await self.open_session()

    def _push_now(self) -> bool:
        """Push without I/O (an app context first, if this app's is not current); False when the
        session must still be opened: `await open_session()`. (The pipeline calls this directly:
        no coroutine on every request when the session opens without I/O, as the cookie one does.)"""
        app = self.app
        app_ctx = _cv_app.get(None)
        if app_ctx is not None and app_ctx.app is app:
            self._tokens.append((self._var.set(self), None))
        else:
            pushed = app.app_context()
            pushed._tokens.append(_cv_app.set(pushed))  # (pushed._push(), written out)
            if appcontext_pushed.receivers:
                appcontext_pushed.send(app)
            self._tokens.append((self._var.set(self), pushed))
        return self.open_session_now()

    async def _pop(
        self, exc: BaseException | None = _sentinel, *, sync: bool = False, teardown: bool = True
    ) -> None:
        clear = len(self._tokens) == 1 and teardown
        try:
            kind = self._pipeline
            # The teardown hooks of this kind, if any (or a listener to the tearing-down signal).
            if clear and (self.app.__dict__[kind.teardown] or kind.tearing_down.receivers):
                if exc is _sentinel:
                    exc = sys.exc_info()[1]
                await self.teardown(exc, sync=sync)
        finally:
            if clear:
                self.closed()
            ctx = self._var.get()
            token, app_ctx = self._tokens.pop()
            self._var.reset(token)
            if app_ctx is not None and not app_ctx.pop_now(teardown):
                await app_ctx._pop(exc, sync=sync, teardown=teardown)
        if ctx is not self:
            raise AssertionError(f"Popped wrong {self._kind} context ({ctx!r} instead of {self!r})")

    def _pop_now(self) -> bool:
        """The outermost pop when no teardown has to run (none registered, no listener): done at
        once, no coroutine. False, having done nothing, when `_pop` must be awaited."""
        tokens = self._tokens
        if len(tokens) != 1:
            return False
        app = self.app
        kind = self._pipeline
        if app.__dict__[kind.teardown] or kind.tearing_down.receivers:
            return False
        token, app_ctx = tokens[0]
        if app_ctx is not None and (app.teardown_appcontext_funcs or appcontext_tearing_down.receivers):
            return False
        try:
            self.closed()
        finally:
            ctx = self._var.get()
            tokens.pop()
            self._var.reset(token)
            if app_ctx is not None:  # (app_ctx.pop_now(), written out: no teardown to run)
                current = _cv_app.get()
                _cv_app.reset(app_ctx._tokens.pop())
                if current is not app_ctx:
                    raise AssertionError(f"Popped wrong app context ({current!r} instead of {app_ctx!r})")
                if appcontext_popped.receivers:
                    appcontext_popped.send(app)
        if ctx is not self:
            raise AssertionError(f"Popped wrong {self._kind} context ({ctx!r} instead of {self!r})")
        return True

    async def __aenter__(self) -> Self:
        await self._push()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._pop(exc)

    def __enter__(self) -> Self:
        run_sync(self._push(sync=True), f"entering the {self._kind} context")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        run_sync(self._pop(exc, sync=True), f"leaving the {self._kind} context")


class RequestContext(ConnectionContext):
    """Binds one request (`request`, `session`) to the current task, with an app context under it."""

    _var = _cv_request
    _kind = "request"
    _pipeline = pipeline.REQUEST

    # Until set on the context: no store for what most requests never change.
    url_adapter: MapAdapter | None = None
    _session: SessionMixin | None = None
    _lazy_session = False
    flashes: list[tuple[str, str]] | None = None

    def __init__(self, app: Firkin, request: Request, session: SessionMixin | None = None) -> None:
        self.app = app
        self.request = self.connection = request
        self._overrides = overrides = app._step_overrides
        if session is not None:
            self._session = session
        # (Flask's name for the list, which extensions may use; the pipeline's name.)
        self._after_request_functions: list[Callable[[Response], Any]] = []
        self._after_functions = self._after_request_functions
        self._tokens: list[tuple[Token[RequestContext], AppContext | None]] = []
        trusted = app.config["TRUSTED_HOSTS"]
        if trusted is not None:
            request.trusted_hosts = trusted  # werkzeug then refuses other Hosts: 400 via the adapter
        if "create_url_adapter" in overrides or "create_url_adapter" in app.__dict__:
            self._route()  # the app's own adapters: nothing remembered
            return
        # Where this request goes, when a request like it went there before: the adapter (bound by
        # create_url_adapter, which these are its key's parts of) and a rule that matched the path
        # without variables or defaults, so without converters (which may have side effects).
        key = (
            request._header(b"host") or request.server,
            app.config["SERVER_NAME"],
            app.subdomain_matching,
            request.root_path,
            request.scheme,
            request.method,
            request.path,
        )
        seen = app._routes_seen.get(key)
        if seen is not None:
            self.url_adapter, request.url_rule = seen
            request.view_args = {}
            return
        self._route()
        rule = request.url_rule
        if (
            rule is not None
            and self.url_adapter is not None
            and not request.view_args
            and request.routing_exception is None
        ):
            routes = app._routes_seen
            if len(routes) >= 1024:  # bounded: clients choose paths and Hosts
                routes.clear()
            routes[key] = (self.url_adapter, rule)

    def _route(self) -> None:
        """Bind the URL adapter and match the request (its rule, or its routing exception)."""
        try:
            self.url_adapter = self.app.create_url_adapter(self.request)
        except HTTPException as exc:  # e.g. a Host that matches no SERVER_NAME
            self.request.routing_exception = _detached(exc)
        if self.url_adapter is not None:
            self.match_request()

    def match_request(self) -> None:
        assert self.url_adapter is not None
        request = self.request
        try:
            url_map = self.app.url_map
            found = (
                url_map.fast_match(self.url_adapter, request.path, request.method)
                if isinstance(url_map, FirkinMap)
                else None
            )
            if found is None:  # not a plain match: werkzeug decides (redirects, 404, 405, ...)
                rule, view_args = self.url_adapter.match(
                    request.path,
                    request.method,
                    return_rule=True,
                    query_args=request.query_string.decode("latin-1"),
                )
                view_args = dict(view_args)
            else:
                rule, view_args = found  # a dict of its own
            request.url_rule = rule
            request.view_args = view_args
        except HTTPException as exc:
            request.routing_exception = _detached(exc)

    def copy(self) -> RequestContext:
        """A new context for the same request and session (for work that outlives the request)."""
        return self.__class__(self.app, self.request, self.session)

    def open_session_now(self) -> bool:
        if self._session is not None:
            return True
        if type(self.app.session_interface) is SecureCookieSessionInterface:
            # Only reads a cookie, without I/O: opened when the request first uses it.
            self._lazy_session = True
            return True
        return False

    async def open_session(self) -> None:
        if not self.open_session_now():
            self._session = await open_interface_session(self.app, self.request)

    @property
    def session(self) -> SessionMixin | None:
        """The session (None before the context is pushed)."""
        if self._session is None and self._lazy_session:
            interface = self.app.session_interface
            assert isinstance(interface, SecureCookieSessionInterface)
            session = interface.open_now(self.app, self.request)
            self._session = session if session is not None else interface.null_session_class()
        return self._session

    @session.setter
    def session(self, value: SessionMixin | None) -> None:
        self._session = value

    def session_to_save(self) -> SessionMixin | None:
        """The session, unless it is a null session or was never used and cannot need saving: a
        request without cookies whose view did not touch the session has nothing to save."""
        if self._session is None and self._lazy_session and not self.request.has_header(b"cookie"):
            return None
        session = self.session
        if session is None or self.app.session_interface.is_null_session(session):
            return None
        return session

    def dispatch(self) -> Awaitable[ResponseReturnValue]:
        """The view's call, to await: its coroutine as it is (no coroutine of ours around it); a
        sync view's run in a worker thread."""
        request = self.request
        if request.routing_exception is not None:
            self.app.raise_routing_exception(request)
        rule = request.url_rule
        assert rule is not None
        app = self.app
        if request.method == "OPTIONS" and getattr(rule, "provide_automatic_options", False):
            # A subclass may override it sync (Flask's form) or `async def` (Quart's); ours returns
            # a Response, which is awaitable too, so `await app.make_default_options_response()` works.
            options: Any = app.make_default_options_response()
            return options if inspect.isawaitable(options) else _ready(options)
        view: Callable[..., Any] = app.view_functions[rule.endpoint]
        view_args = request.view_args or {}
        is_async = app._async_views.get(view)
        if is_async is None:
            is_async = app._async_views[view] = is_async_callable(view)
        # (No typing.cast here: it is a function call on every request.)
        called: Awaitable[ResponseReturnValue] = (
            view(**view_args) if is_async else run_in_thread(view)(**view_args)
        )
        return called

    def must_save_session(self, response: Response | None) -> bool:
        session = self._session
        if self._lazy_session:  # the cookie session (SecureCookieSessionInterface itself)
            if session is None:
                if not self.request.has_header(b"cookie"):
                    return False  # session_to_save's first case, without the call: most requests
            elif not session and not session.modified:
                return False  # empty and unchanged: its save_session writes nothing
        return self.session_to_save() is not None

    async def save_session(self, response: Response | None) -> None:
        session = self.session_to_save()
        if session is not None:
            assert response is not None
            await save_interface_session(self.app, session, response)

    def closed(self) -> None:
        request = self.request
        if request._files is not None:  # (what close() asks first: most requests upload nothing)
            request.close()  # the uploaded files' streams


class WebsocketContext(ConnectionContext):
    """Binds one websocket (`websocket`, `session`) to the current task, with an app context under it."""

    _var = _cv_websocket
    _kind = "websocket"
    _pipeline = pipeline.WEBSOCKET

    def __init__(self, app: Firkin, websocket: Websocket, session: SessionMixin | None = None) -> None:
        self.app = app
        self.websocket = self.connection = websocket
        self._overrides = app._step_overrides
        self.url_adapter: MapAdapter | None = None
        trusted = app.config["TRUSTED_HOSTS"]
        if trusted is not None:
            websocket.trusted_hosts = trusted
        try:
            # The handshake has what create_url_adapter reads of a request (host, root_path, scheme).
            self.url_adapter = app.create_url_adapter(cast("Request", websocket))
        except HTTPException as exc:
            websocket.routing_exception = _detached(exc)
        self.session: SessionMixin | None = session
        self._after_websocket_functions: list[Callable[[Response | None], Any]] = []
        self._after_functions = self._after_websocket_functions
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
            websocket.routing_exception = _detached(exc)

    def copy(self) -> WebsocketContext:
        """A new context for the same websocket and session (for work in another task)."""
        return self.__class__(self.app, self.websocket, self.session)

    async def open_session(self) -> None:
        if self.session is None:
            self.session = await open_interface_session(self.app, cast("Request", self.websocket))

    async def dispatch(self) -> ResponseReturnValue | None:
        """Call the handler with the view_args. If the client leaves while it waits on something
        other than `receive()`, it is cancelled and this raises WebsocketDisconnected."""
        ws = self.websocket
        if ws.routing_exception is not None:
            raise ws.routing_exception
        rule = ws.url_rule
        assert rule is not None
        view = self.app.view_functions[rule.endpoint]
        with ws._io.cancel_on_disconnect() as scope:
            rv = await self.app.ensure_async(view)(**(ws.view_args or {}))
        if scope.cancelled_caught:
            raise WebsocketDisconnected(ws._io.disconnect_code, ws._io.disconnect_reason)
        return cast("ResponseReturnValue | None", rv)

    def must_save_session(self, response: Response | None) -> bool:
        return response is not None

    async def save_session(self, response: Response | None) -> None:
        # After the handshake was accepted no header can be sent: a session is saved only with a
        # response that refuses it.
        interface = self.app.session_interface
        if response is not None and not interface.is_null_session(self.session):
            assert self.session is not None
            await save_interface_session(self.app, self.session, response)

    async def ended_by_error(self) -> bool:
        ws = self.websocket
        if not ws.accepted:
            return False  # a 500 refuses the handshake
        if not ws._io.closed:
            await ws.close(1011)  # RFC 6455 §7.4.1: an unexpected condition on the server
        return True


def has_request_context() -> bool:
    """Whether a request context is active (a request is being handled, or one was pushed)."""
    return _cv_request.get(None) is not None


def has_app_context() -> bool:
    """Whether an application context is active."""
    return _cv_app.get(None) is not None


def after_this_request(func: F) -> F:
    """Run `func(response)` after this request's view, before the app's after_request hooks."""
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError("'after_this_request' can only be used when a request context is active")
    ctx._after_request_functions.append(func)
    return func


def copy_current_request_context(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Decorate a function so it runs in a copy of the current request context (e.g. a background task)."""
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "'copy_current_request_context' can only be used when a request context is active, "
            "such as in a view function"
        )
    copied = ctx.copy()

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        async with copied:
            return await copied.app.ensure_async(func)(*args, **kwargs)

    return wrapper


def copy_current_app_context(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Decorate a function so it runs in the current application context."""
    ctx = _cv_app.get(None)
    if ctx is None:
        raise RuntimeError("'copy_current_app_context' can only be used when an app context is active")
    app = ctx.app

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        # The same context object, so `g` is shared with the code that decorated the function.
        async with ctx:
            return await app.ensure_async(func)(*args, **kwargs)

    return wrapper


def stream_with_context(
    generator_or_function: AsyncIterator[Any] | Iterator[Any] | Callable[..., Any],
) -> Any:
    """Keep the request context (and `g`) alive while a streamed response body is produced.

    Wrap a generator (`return stream_with_context(gen())`) or decorate a generator function.
    """
    if callable(generator_or_function) and not isinstance(generator_or_function, AsyncIterator | Iterator):
        func = generator_or_function

        @functools.wraps(func)
        def decorated(*args: Any, **kwargs: Any) -> Any:
            return stream_with_context(func(*args, **kwargs))

        return decorated
    ctx = _cv_request.get(None)
    app_ctx = _cv_app.get(None)
    if ctx is None or app_ctx is None:
        raise RuntimeError(
            "'stream_with_context' can only be used when a request context is active, such as in a view"
        )
    source = generator_or_function

    async def stream() -> AsyncIterator[Any]:
        # The same context objects, pushed again: `request`, `session` and `g` are those of the
        # request, although the view has returned by the time the body is sent.
        app_ctx._push()
        await ctx._push()
        try:
            if isinstance(source, AsyncIterator):
                async for chunk in source:
                    yield chunk
            else:
                async for chunk in iterate_in_thread(source):
                    yield chunk
        finally:
            # Closed early (the client left) or not: close what we wrap, inside the contexts.
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()
            else:
                sync_close = getattr(source, "close", None)
                if sync_close is not None:
                    sync_close()
            # The request was torn down when the view returned: do not run the teardowns again.
            await ctx._pop(None, teardown=False)
            await app_ctx._pop(None, teardown=False)

    return stream()


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
