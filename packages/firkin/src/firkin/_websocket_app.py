"""Websockets in the app and blueprints: Quart's registration API and the handling of one websocket.

`WebsocketScaffoldMixin` (app and blueprints): `@websocket(rule)`, `add_websocket`, and the
`before_websocket` / `after_websocket` / `teardown_websocket` hooks. `WebsocketBlueprintMixin` adds
the `*_app_websocket` hooks and merges the hooks into the app. `WebsocketAppMixin` handles a websocket:
contexts, hooks, the handler, error handlers, in the order Quart runs them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask.sansio.blueprints import Blueprint as SansIOBlueprint
from flask.sansio.blueprints import BlueprintSetupState
from flask.sansio.scaffold import setupmethod
from werkzeug.exceptions import HTTPException

from . import _pipeline as pipeline
from .ctx import WebsocketContext
from .globals import _cv_websocket
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
    """Handling one websocket: the app side of `firkin.asgi.websocket.handle_websocket`."""

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
        """Run the websocket's handler in its context, with the hooks and error handlers (the one
        pipeline of `firkin._pipeline`, which requests go through too). Returns the response that
        refuses the handshake, if it came to that, else None."""
        return await pipeline.handle(cast("Firkin", self), self.websocket_context(websocket))

    # The steps of the pipeline, as Quart names them (see Firkin.full_dispatch_request).

    async def full_dispatch_websocket(self, ctx: WebsocketContext | None = None) -> Response | None:
        return await pipeline.full_dispatch(cast("Firkin", self), ctx or _websocket_context())

    async def preprocess_websocket(self) -> ResponseReturnValue | None:
        return await pipeline.preprocess(cast("Firkin", self), _websocket_context())

    async def dispatch_websocket(self) -> ResponseReturnValue | None:
        return await _websocket_context().dispatch()

    async def finalize_websocket(
        self, rv: ResponseReturnValue | HTTPException | None, from_error_handler: bool = False
    ) -> Response | None:
        return await pipeline.finalize(cast("Firkin", self), _websocket_context(), rv, from_error_handler)

    async def postprocess_websocket(self, response: Response | None) -> Response | None:
        return await pipeline.process_response(cast("Firkin", self), _websocket_context(), response)

    async def handle_websocket_exception(self, error: Exception) -> Response | None:
        """An unhandled exception in a websocket handler: logged, then a close with 1011 "internal
        error" once accepted, or a 500 (through the error handlers) that refuses the handshake.
        Propagated when PROPAGATE_EXCEPTIONS (by default: testing or debug mode) is on."""
        return await pipeline.handle_exception(cast("Firkin", self), _websocket_context(), error)

    async def do_teardown_websocket(self, exc: BaseException | None, *, sync: bool = False) -> None:
        await pipeline.teardown(cast("Firkin", self), _websocket_context(), exc, sync=sync)


def _websocket_context() -> WebsocketContext:
    ctx = _cv_websocket.get(None)
    if ctx is None:
        raise RuntimeError(
            "Working outside of websocket context: this needs an active websocket, as in a websocket "
            "handler or hook (or `async with app.test_websocket_context():`)."
        )
    return ctx
