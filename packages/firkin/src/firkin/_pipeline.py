"""The one dispatch pipeline. A request and a websocket go through the same steps, with their context
passed explicitly from step to step (as Flask 3.2 passes it), not looked up again in each:

    handle -> full_dispatch -> (preprocess -> dispatch | handle_user_exception) -> finalize
           -> process_response;  on an unhandled error handle_exception;  teardown when popped

What differs between the two kinds is data (`Kind`: which hooks, which signals) and three steps the
contexts carry: calling the view (`ctx.dispatch`), whether a response needs processing and how the
session is saved, and what an error after the websocket handshake means.

Each step is also a public method of the app (`full_dispatch_request`, `preprocess_websocket`, ...).
When a subclass overrides one, or an extension replaces one on the app instance, the pipeline calls
that method (without the context, the Flask 3.1 and Quart form); otherwise it calls the step here.
"""

from __future__ import annotations

import sys
from itertools import chain
from typing import TYPE_CHECKING, Any, cast

from blinker import NamedSignal
from werkzeug.exceptions import BadRequestKeyError, HTTPException, InternalServerError
from werkzeug.routing import RoutingException

from .signals import (
    got_request_exception,
    got_websocket_exception,
    request_finished,
    request_started,
    request_tearing_down,
    websocket_finished,
    websocket_started,
    websocket_tearing_down,
)
from .wrappers import Response
from .wrappers.base import hook_scopes
from .wrappers.websocket import WebsocketDisconnected

if TYPE_CHECKING:
    from .app import Firkin
    from .ctx import ConnectionContext
    from .typing import ResponseReturnValue

__all__ = ["REQUEST", "WEBSOCKET", "Kind", "handle", "overridden"]


class Kind:
    """What the pipeline does differently for a request and for a websocket: names and signals.
    (The hooks are read as `app.__dict__[kind.before]`: the dicts Flask's Scaffold puts on the app,
    without a getattr() call on every request.)"""

    __slots__ = (
        "after",
        "before",
        "finished",
        "got_exception",
        "instance_replacements",
        "methods",
        "name",
        "preprocess_name",
        "started",
        "teardown",
        "tearing_down",
    )

    def __init__(
        self,
        name: str,
        hooks: str,
        signals: tuple[NamedSignal, NamedSignal, NamedSignal, NamedSignal],
        methods: dict[str, str],
        *,
        instance_replacements: bool,
    ) -> None:
        self.name = name
        self.before = f"before_{hooks}_funcs"
        self.after = f"after_{hooks}_funcs"
        self.teardown = f"teardown_{hooks}_funcs"
        self.started, self.finished, self.got_exception, self.tearing_down = signals
        self.methods = methods  # step -> the app's public method for it
        self.preprocess_name = methods["preprocess"]
        # Extensions replace HTTP error handling on the app instance (Flask-CORS): those replacements
        # read `flask.request`, so they are honoured for requests only.
        self.instance_replacements = instance_replacements


REQUEST = Kind(
    "request",
    "request",
    (request_started, request_finished, got_request_exception, request_tearing_down),
    {
        "full_dispatch": "full_dispatch_request",
        "preprocess": "preprocess_request",
        "dispatch": "dispatch_request",
        "finalize": "finalize_request",
        "process_response": "process_response",
        "handle_user_exception": "handle_user_exception",
        "handle_exception": "handle_exception",
        "teardown": "do_teardown_request",
    },
    instance_replacements=True,
)
WEBSOCKET = Kind(
    "websocket",
    "websocket",
    (websocket_started, websocket_finished, got_websocket_exception, websocket_tearing_down),
    {
        "full_dispatch": "full_dispatch_websocket",
        "preprocess": "preprocess_websocket",
        "dispatch": "dispatch_websocket",
        "finalize": "finalize_websocket",
        "process_response": "postprocess_websocket",
        "handle_user_exception": "handle_user_exception",
        "handle_exception": "handle_websocket_exception",
        "teardown": "do_teardown_websocket",
    },
    instance_replacements=False,
)

OVERRIDES: dict[type, frozenset[str]] = {}  # an app class -> the step methods it overrides


def class_overrides(cls: type) -> frozenset[str]:
    """The public step methods a subclass of Firkin overrides (worked out once per class; contexts
    keep the answer as `_overrides`, so a plain app's steps ask nothing more)."""
    found = OVERRIDES.get(cls)
    if found is None:
        from .app import Firkin

        names = {name for kind in (REQUEST, WEBSOCKET) for name in kind.methods.values()}
        names.update(("handle_http_exception", "create_url_adapter"))
        found = OVERRIDES[cls] = frozenset(n for n in names if getattr(cls, n) is not getattr(Firkin, n))
    return found


def overridden(app: Firkin, ctx: ConnectionContext, step: str, *, instance: bool = False) -> Any:
    """The app's own method for `step` when a subclass put one in place of ours (or, with
    `instance`, an extension replaced it on the app), else None: the pipeline then runs its step
    directly, with the context. Extensions replace the error-handling steps (Flask-CORS), and
    some `preprocess_request`; those are looked up on the instance, on the error path only."""
    kind = ctx._pipeline
    name = kind.methods[step]
    if instance and kind.instance_replacements:
        replaced = app.__dict__.get(name)
        if replaced is not None:
            return replaced
    if name in ctx._overrides:
        return getattr(app, name)
    return None


def is_disconnect(exc: BaseException) -> bool:
    """The websocket's client left: WebsocketDisconnected, alone or only those of a task group."""
    if isinstance(exc, WebsocketDisconnected):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(WebsocketDisconnected)[1] is None
    return False


async def handle(app: Firkin, ctx: ConnectionContext) -> Response | None:
    """Push the context, dispatch, turn errors into a response (or propagate them), pop."""
    if not ctx._push_now():  # (not push(): no need to ask which thread this is, on every request)
        await ctx.open_session()
    error: BaseException | None = None
    handled = False
    response: Response | None
    try:
        try:
            own = overridden(app, ctx, "full_dispatch") if ctx._overrides else None
            response = await (own() if own is not None else full_dispatch(app, ctx))
            return response
        except Exception as exc:  # noqa: BLE001 - every app error becomes a response (or propagates)
            error = exc
            own = overridden(app, ctx, "handle_exception", instance=True)
            if own is not None:
                response = await app._call_replaced(own, exc)
            else:
                response = await handle_exception(app, ctx, exc)
            handled = True
            return response
    except BaseException as exc:  # cancelled, or propagated: the teardowns hear of it
        if is_disconnect(exc):
            return None  # a websocket's client left: a normal end, not an error of the handler
        error = exc
        raise
    finally:
        if not ctx._pop_now():
            await ctx._pop(error)
        if handled and error is not None:
            error.__traceback__ = None  # logged and answered: no cycle through it (see full_dispatch)
        error = None


async def full_dispatch(app: Firkin, ctx: ConnectionContext) -> Response | None:
    app._got_first_request = True
    kind = ctx._pipeline
    rv: ResponseReturnValue | HTTPException | None
    try:
        if kind.started.receivers:
            await app._signal(kind.started)
        rv = None
        # No await when no function applies: none registered, or only blueprints' and the request
        # is outside them.
        before, preprocessors = app.__dict__[kind.before], app.url_value_preprocessors
        if (before or preprocessors) and (
            before.get(None)
            or preprocessors.get(None)
            # in a blueprint (`connection.blueprint is not None`, without its two property calls)
            or ((rule := ctx.connection.url_rule) is not None and "." in rule.endpoint)
        ):
            # (overridden(app, ctx, "preprocess", instance=True), its common case written out)
            own = app.__dict__.get(kind.preprocess_name) if kind.instance_replacements else None
            if own is None and ctx._overrides:
                own = overridden(app, ctx, "preprocess")
            rv = await (own() if own is not None else preprocess(app, ctx))
        elif ctx._overrides and (own := overridden(app, ctx, "preprocess")) is not None:
            rv = await own()  # a subclass's is always called
        if rv is None:
            own = overridden(app, ctx, "dispatch") if ctx._overrides else None
            try:
                rv = await (own() if own is not None else ctx.dispatch())
            except (WebsocketDisconnected, BaseExceptionGroup) as exc:  # (others pass untouched)
                if not is_disconnect(exc):
                    raise
                rv = None  # a websocket's client left: the handler's end; the after hooks still run
    except Exception as error:  # noqa: BLE001 - error handlers decide; unhandled ones re-raise
        own = overridden(app, ctx, "handle_user_exception", instance=True)
        if own is not None:
            rv = await app._call_replaced(own, error)
        else:
            rv = await handle_user_exception(app, ctx, error)
        # Handled. Its traceback holds the frames it passed, and they hold the request (which may
        # hold the exception: a routing error, or abort()'s exception returned as the response):
        # a cycle left to the garbage collector on every 404 otherwise (measured: a collection
        # every 30 abort()s). Nothing reads the traceback of a handled exception; drop it.
        error.__traceback__ = None
    own = overridden(app, ctx, "finalize") if ctx._overrides else None
    if own is not None:
        response: Response | None = await own(rv)
        return response
    if kind is REQUEST:
        # finalize() without its coroutine when nothing runs after the view (most requests): no
        # after hooks or after_this_request functions, no session to save, no listener.
        made = app.make_response(rv)  # type: ignore[arg-type]  # (None: make_response says what is wrong)
        if isinstance(made, Response):
            process = processes(app, ctx, made)
            if process or kind.finished.receivers:
                return await finish(app, ctx, made, process=process)
            return made
        return await finish(app, ctx, await made)  # a subclass's async make_response
    return await finalize(app, ctx, rv)


async def preprocess(app: Firkin, ctx: ConnectionContext) -> ResponseReturnValue | None:
    """The url_value_preprocessors, then the before hooks: the app's, then the blueprints' from the
    outermost in. A request outside any blueprint pays for the app's alone."""
    connection = ctx.connection
    rule = connection.url_rule
    names = (None,) if rule is None else hook_scopes(rule.endpoint)
    preprocessors = app.url_value_preprocessors
    if preprocessors:
        for name in names:
            for url_func in preprocessors.get(name, ()):
                url_func(connection.endpoint, connection.view_args)
    before = app.__dict__[ctx._pipeline.before]
    for name in names:
        for before_func in before.get(name, ()):
            rv = await app._call(before_func)
            if rv is not None:
                return cast("ResponseReturnValue", rv)
    return None


async def finalize(
    app: Firkin,
    ctx: ConnectionContext,
    rv: ResponseReturnValue | HTTPException | None,
    from_error_handler: bool = False,
) -> Response | None:
    """Make the response, run the after hooks and save the session, send the finished signal. A
    websocket handler that returns nothing has no response; a view that returns None is an error."""
    response: Response | None = None
    if rv is not None or ctx._pipeline is REQUEST:
        made = app.make_response(rv)  # type: ignore[arg-type]  # (None: make_response says what is wrong)
        response = made if isinstance(made, Response) else await made  # a subclass's async make_response
    return await finish(app, ctx, response, from_error_handler)


def processes(app: Firkin, ctx: ConnectionContext, response: Response | None) -> bool:
    """Whether the after step runs for `response`: after_this_* functions, after hooks, or a
    session whose saving may change the response."""
    return bool(ctx._after_functions or app.__dict__[ctx._pipeline.after] or ctx.must_save_session(response))


async def finish(
    app: Firkin,
    ctx: ConnectionContext,
    response: Response | None,
    from_error_handler: bool = False,
    *,
    process: bool | None = None,
) -> Response | None:
    """finalize() once the response is made: the after hooks, the session, the finished signal.
    `process`: what `processes()` says, when the caller asked it already."""
    kind = ctx._pipeline
    try:
        if process if process is not None else processes(app, ctx, response):
            own = overridden(app, ctx, "process_response") if ctx._overrides else None
            response = await (own(response) if own is not None else process_response(app, ctx, response))
        if kind.finished.receivers:
            await app._signal(kind.finished, response=response)
    except Exception:
        if not from_error_handler:
            raise
        app.logger.exception("%s finalizing failed with an error while handling an error", kind.name.title())
    return response


async def process_response(app: Firkin, ctx: ConnectionContext, response: Response | None) -> Response | None:
    """The after_this_* functions, then the after hooks (blueprints from the innermost out, then the
    app's), then the session is saved."""
    for func in ctx._after_functions:
        response = await app._call(func, response)
    after = app.__dict__[ctx._pipeline.after]
    for name in chain(ctx.connection.blueprints, (None,)):
        if name in after:
            for func in reversed(after[name]):
                response = await app._call(func, response)
    await ctx.save_session(response)
    return response


async def handle_http_exception(app: Firkin, ctx: ConnectionContext, error: HTTPException) -> Any:
    if error.code is None:  # a proxy exception (e.g. a redirect without a code) is its own answer
        return error
    if isinstance(error, RoutingException):  # RequestRedirect: the redirect itself
        return error
    if not app._has_error_handlers():
        return error
    handler = app._find_error_handler(error, ctx.connection.blueprints)
    if handler is None:
        return error
    return await app._call(handler, error)


async def handle_user_exception(app: Firkin, ctx: ConnectionContext, error: Exception) -> Any:
    """An error of the view or a hook: an HTTPException becomes its response (or its handler's), any
    other goes to its registered handler, else propagates to `handle_exception`."""
    if isinstance(error, BadRequestKeyError) and (app.debug or app.config["TRAP_BAD_REQUEST_ERRORS"]):
        error.show_exception = True
    if isinstance(error, HTTPException) and not app.trap_http_exception(error):
        if "handle_http_exception" in ctx._overrides:
            return await app.handle_http_exception(error)
        return await handle_http_exception(app, ctx, error)
    handler = app._find_error_handler(error, ctx.connection.blueprints)
    if handler is None:
        raise error
    return await app._call(handler, error)


async def handle_exception(app: Firkin, ctx: ConnectionContext, error: Exception) -> Response | None:
    """An unhandled error: propagated when PROPAGATE_EXCEPTIONS is on (by default in testing and debug
    mode, as in Flask), else logged and answered with a 500 through the error handlers; after a
    websocket's handshake, a close with 1011."""
    kind = ctx._pipeline
    if kind.got_exception.receivers:
        await app._signal(kind.got_exception, exception=error)
    propagate = app.config["PROPAGATE_EXCEPTIONS"]
    if propagate is None:
        # The development server's DebugMiddleware turns the exception into the traceback page.
        propagate = app.testing or app.debug
    if propagate:
        raise error
    app.log_exception(sys.exc_info())
    if await ctx.ended_by_error():
        return None
    server_error: Any = InternalServerError(original_exception=error)
    handler = app._find_error_handler(server_error, ctx.connection.blueprints)
    if handler is not None:
        server_error = await app._call(handler, server_error)
    own = overridden(app, ctx, "finalize")
    if own is not None:
        response: Response | None = await own(server_error, from_error_handler=True)
        return response
    return await finalize(app, ctx, server_error, from_error_handler=True)


async def teardown(app: Firkin, ctx: ConnectionContext, exc: BaseException | None, *, sync: bool) -> None:
    """The teardown hooks (blueprints from the innermost out, then the app's), then the signal."""
    kind = ctx._pipeline
    hooks = app.__dict__[kind.teardown]
    for name in chain(ctx.connection.blueprints, (None,)):
        if name in hooks:
            for func in reversed(hooks[name]):
                await app._call(func, exc, sync=sync)
    if kind.tearing_down.receivers:
        await app._signal(kind.tearing_down, exc=exc)
