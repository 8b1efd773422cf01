"""Websockets in the app and blueprints: Quart's registration API and the handling of one websocket.

`WebsocketScaffoldMixin` (app and blueprints): `@websocket(rule)`, `add_websocket`, and the
`before_websocket` / `after_websocket` / `teardown_websocket` hooks. `WebsocketBlueprintMixin` adds
the `*_app_websocket` hooks and merges the hooks into the app. `WebsocketAppMixin` handles a websocket:
contexts, hooks, the handler, error handlers, in the order Quart runs them.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable
from itertools import chain
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask.sansio.blueprints import Blueprint as SansIOBlueprint
from flask.sansio.blueprints import BlueprintSetupState
from flask.sansio.scaffold import setupmethod
from werkzeug.exceptions import HTTPException, InternalServerError

from ._websocket_ctx import WebsocketContext
from .globals import _cv_websocket
from .signals import got_websocket_exception, websocket_finished, websocket_started, websocket_tearing_down
from .wrappers.websocket import Websocket, WebsocketDisconnected

if TYPE_CHECKING:
    from flask.sansio.app import App
    from werkzeug.datastructures import Headers

    from .app import Firkin
    from .typing import ResponseReturnValue
    from .wrappers import Response

__all__ = ["WebsocketAppMixin", "WebsocketBlueprintMixin", "WebsocketScaffoldMixin"]

F = TypeVar("F", bound=Callable[..., Any])
HookKey = str | None  # None: the app's own hooks; else a blueprint's (dotted) name


class WebsocketScaffoldMixin:
    """Websocket routes and hooks, for the app and blueprints alike."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Run before each websocket handler; one that returns a value refuses the handshake with it.
        self.before_websocket_funcs: dict[HookKey, list[Callable[..., Any]]] = defaultdict(list)
        #: Run after each websocket handler with its response (None unless it refused the handshake).
        self.after_websocket_funcs: dict[HookKey, list[Callable[..., Any]]] = defaultdict(list)
        #: Run when the websocket context ends, with the unhandled exception (or None).
        self.teardown_websocket_funcs: dict[HookKey, list[Callable[..., Any]]] = defaultdict(list)

    if TYPE_CHECKING:

        def add_url_rule(
            self,
            rule: str,
            endpoint: str | None = None,
            view_func: Callable[..., Any] | None = None,
            provide_automatic_options: bool | None = None,
            **options: Any,
        ) -> None: ...

    @setupmethod
    def websocket(self, rule: str, **options: Any) -> Callable[[F], F]:
        """Register the decorated `async def` as the websocket handler for `rule` (the options of
        `route`, less `methods`). A websocket and an HTTP route may share a path."""

        def decorator(func: F) -> F:
            endpoint = options.pop("endpoint", None)
            self.add_websocket(rule, endpoint, func, **options)
            return func

        return decorator

    @setupmethod
    def add_websocket(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        **options: Any,
    ) -> None:
        """`add_url_rule` for a websocket handler (what `@websocket` calls)."""
        if "methods" in options:
            raise TypeError("a websocket rule takes no 'methods': the handshake is always a GET")
        self.add_url_rule(rule, endpoint, view_func, methods={"GET"}, websocket=True, **options)

    @setupmethod
    def before_websocket(self, func: F) -> F:
        """Run `func()` before each websocket handler (of this app or blueprint). A value it returns
        refuses the handshake with that response, and the handler does not run."""
        self.before_websocket_funcs.setdefault(None, []).append(func)
        return func

    @setupmethod
    def after_websocket(self, func: F) -> F:
        """Run `func(response)` after each websocket handler; it returns the response (None unless
        the handshake was refused with one)."""
        self.after_websocket_funcs.setdefault(None, []).append(func)
        return func

    @setupmethod
    def teardown_websocket(self, func: F) -> F:
        """Run `func(exc)` when each websocket ends, with the unhandled exception or None."""
        self.teardown_websocket_funcs.setdefault(None, []).append(func)
        return func


class WebsocketBlueprintMixin(WebsocketScaffoldMixin, SansIOBlueprint):
    """The blueprint side: app-wide hooks from a blueprint, and merging its hooks into the app."""

    @setupmethod
    def before_app_websocket(self, func: F) -> F:
        """Like `before_websocket`, for every websocket of the app."""
        self.record_once(lambda s: _app(s).before_websocket_funcs.setdefault(None, []).append(func))
        return func

    @setupmethod
    def after_app_websocket(self, func: F) -> F:
        """Like `after_websocket`, for every websocket of the app."""
        self.record_once(lambda s: _app(s).after_websocket_funcs.setdefault(None, []).append(func))
        return func

    @setupmethod
    def teardown_app_websocket(self, func: F) -> F:
        """Like `teardown_websocket`, for every websocket of the app."""
        self.record_once(lambda s: _app(s).teardown_websocket_funcs.setdefault(None, []).append(func))
        return func

    def _merge_blueprint_funcs(self, app: App, name: str) -> None:
        super()._merge_blueprint_funcs(app, name)
        target = cast("Firkin", app)
        for ours, theirs in (
            (self.before_websocket_funcs, target.before_websocket_funcs),
            (self.after_websocket_funcs, target.after_websocket_funcs),
            (self.teardown_websocket_funcs, target.teardown_websocket_funcs),
        ):
            for key, funcs in ours.items():
                theirs[name if key is None else f"{name}.{key}"].extend(funcs)


def _app(state: BlueprintSetupState) -> Firkin:
    return cast("Firkin", state.app)


def _is_disconnect(exc: BaseException) -> bool:
    """The client left: WebsocketDisconnected, alone or only those from a task group's tasks."""
    if isinstance(exc, WebsocketDisconnected):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(WebsocketDisconnected)[1] is None
    return False


class WebsocketAppMixin(WebsocketScaffoldMixin):
    """Handling one websocket: the app side of `firkin._websocket.handle_websocket`."""

    websocket_class: type[Websocket] = Websocket

    def websocket_context(self, websocket: Websocket) -> WebsocketContext:
        return WebsocketContext(cast("Firkin", self), websocket)

    def test_websocket_context(
        self,
        path: str = "/",
        *,
        headers: dict[str, str] | Headers | None = None,
        query_string: dict[str, Any] | str | bytes | None = None,
        scheme: str = "ws",
        subprotocols: list[str] | None = None,
        root_path: str = "",
    ) -> WebsocketContext:
        """A websocket context for a websocket that never connected: its handshake data, routing,
        `session` and `g`, but no connection (receive/send raise). For tests and the shell; to talk
        to a handler, use `app.test_client().websocket(path)`."""
        from .testing.connections import make_test_websocket

        app = cast("Firkin", self)
        websocket = make_test_websocket(
            app,
            path,
            headers=headers,
            query_string=query_string,
            scheme=scheme,
            subprotocols=subprotocols,
            root_path=root_path,
        )
        return self.websocket_context(websocket)

    async def handle_websocket(self, websocket: Websocket) -> Response | None:
        """Run the websocket's handler in its context, with the hooks and error handlers. Returns the
        response that refuses the handshake, if it came to that, else None."""
        ctx = self.websocket_context(websocket)
        await ctx._push()  # not push(): no need to ask which thread this is, on every request
        error: BaseException | None = None
        try:
            try:
                return await self.full_dispatch_websocket(ctx)
            except Exception as exc:  # noqa: BLE001 - becomes a 500 / close 1011 (or propagates)
                error = exc
                return await self.handle_websocket_exception(exc)
        except BaseException as exc:
            if _is_disconnect(exc):
                return None  # the client left: a normal end, and not an error of the handler
            error = exc  # cancelled, or propagated: the teardowns hear of it
            raise
        finally:
            await ctx._pop(error)

    async def full_dispatch_websocket(self, ctx: WebsocketContext | None = None) -> Response | None:
        app = cast("Firkin", self)
        app._got_first_request = True
        rv: ResponseReturnValue | HTTPException | None
        try:
            if websocket_started.receivers:
                await app._signal(websocket_started)
            rv = None
            if self.before_websocket_funcs or app.url_value_preprocessors:
                rv = await self.preprocess_websocket()
            if rv is None:
                try:
                    rv = await self.dispatch_websocket()
                except BaseException as exc:
                    if not _is_disconnect(exc):
                        raise
                    rv = None  # the client left: the handler's end, and the after hooks still run
        except Exception as error:  # noqa: BLE001 - error handlers decide; unhandled ones re-raise
            # The class's method, not what an extension may have put on the instance: those
            # replacements (Flask-CORS's) are written for HTTP requests and read `flask.request`.
            rv = await type(app).handle_user_exception(app, error)
        return await self.finalize_websocket(rv)

    async def preprocess_websocket(self) -> ResponseReturnValue | None:
        """The url_value_preprocessors (given the websocket's endpoint and view_args), then the
        before_websocket hooks, app first, then the blueprints from the outermost in."""
        app = cast("Firkin", self)
        ws = _cv_websocket.get().websocket
        names = (None, *reversed(ws.blueprints))
        for name in names:
            if name in app.url_value_preprocessors:
                for url_func in app.url_value_preprocessors[name]:
                    url_func(ws.endpoint, ws.view_args)
        for name in names:
            if name in self.before_websocket_funcs:
                for before_func in self.before_websocket_funcs[name]:
                    rv = await app._call(before_func)
                    if rv is not None:
                        return cast("ResponseReturnValue", rv)
        return None

    async def dispatch_websocket(self) -> ResponseReturnValue | None:
        """Call the handler with the view_args. If the client leaves while it waits on something
        other than `receive()`, it is cancelled and this raises WebsocketDisconnected."""
        app = cast("Firkin", self)
        ws = _cv_websocket.get().websocket
        if ws.routing_exception is not None:
            raise ws.routing_exception
        rule = ws.url_rule
        assert rule is not None
        view = app.view_functions[rule.endpoint]
        with ws._io.cancel_on_disconnect() as scope:
            rv = await app.ensure_async(view)(**(ws.view_args or {}))
        if scope.cancelled_caught:
            raise WebsocketDisconnected(ws._io.disconnect_code, ws._io.disconnect_reason)
        return cast("ResponseReturnValue | None", rv)

    async def finalize_websocket(
        self, rv: ResponseReturnValue | HTTPException | None, from_error_handler: bool = False
    ) -> Response | None:
        app = cast("Firkin", self)
        response = await app.make_response(rv) if rv is not None else None
        try:
            ctx = _cv_websocket.get()
            if ctx._after_websocket_functions or self.after_websocket_funcs or response is not None:
                response = await self.postprocess_websocket(response)
            if websocket_finished.receivers:
                await app._signal(websocket_finished, response=response)
        except Exception:
            if not from_error_handler:
                raise
            app.logger.exception("Websocket finalizing failed with an error while handling an error")
        return response

    async def postprocess_websocket(self, response: Response | None) -> Response | None:
        """The after_this_websocket functions, then the after_websocket hooks (blueprints from the
        innermost out, then the app's); the session is saved on a refusal response."""
        app = cast("Firkin", self)
        ctx = _cv_websocket.get()
        for func in ctx._after_websocket_functions:
            response = await app._call(func, response)
        for name in chain(ctx.websocket.blueprints, (None,)):
            if name in self.after_websocket_funcs:
                for func in reversed(self.after_websocket_funcs[name]):
                    response = await app._call(func, response)
        # After the handshake was accepted no header can be sent: a session is saved only with a
        # response that refuses it.
        if response is not None and not app.session_interface.is_null_session(ctx.session):
            assert ctx.session is not None
            await app.session_interface.save_session(app, ctx.session, response)
        return response

    async def handle_websocket_exception(self, error: Exception) -> Response | None:
        """An unhandled exception in a websocket handler: logged, then a close with 1011 "internal
        error" once accepted, or a 500 (through the error handlers) that refuses the handshake.
        Propagated when PROPAGATE_EXCEPTIONS (or testing) is on."""
        app = cast("Firkin", self)
        if got_websocket_exception.receivers:
            await app._signal(got_websocket_exception, exception=error)
        propagate = app.config["PROPAGATE_EXCEPTIONS"]
        if propagate is None:
            propagate = app.testing
        if propagate:
            raise error
        ws = _cv_websocket.get().websocket
        app.logger.error("Exception on websocket %s", ws.path, exc_info=sys.exc_info())
        if ws.accepted:
            if not ws._io.closed:
                await ws.close(1011)  # RFC 6455 §7.4.1: an unexpected condition on the server
            return None
        server_error: InternalServerError | ResponseReturnValue = InternalServerError(
            original_exception=error
        )
        handler = app._find_error_handler(cast("InternalServerError", server_error), ws.blueprints)
        if handler is not None:
            server_error = await app._call(handler, server_error)
        return await self.finalize_websocket(server_error, from_error_handler=True)

    async def do_teardown_websocket(self, exc: BaseException | None, *, sync: bool = False) -> None:
        app = cast("Firkin", self)
        ws = _cv_websocket.get().websocket
        for name in chain(ws.blueprints, (None,)):
            if name in self.teardown_websocket_funcs:
                for func in reversed(self.teardown_websocket_funcs[name]):
                    await app._call(func, exc, sync=sync)
        if websocket_tearing_down.receivers:
            await app._signal(websocket_tearing_down, exc=exc)
