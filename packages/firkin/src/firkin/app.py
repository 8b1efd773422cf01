"""The Firkin application: Flask's registration API (flask.sansio) with async request handling over ASGI."""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from functools import cached_property
from types import CoroutineType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast
from urllib.parse import quote

from blinker import NamedSignal
from flask.json.provider import DefaultJSONProvider
from flask.sansio.app import App
from flask.sansio.scaffold import setupmethod
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError, MapAdapter, Rule

from firkin.cli import AppGroup

from . import _pipeline as pipeline
from ._fastpaths.responses import default_content_type
from ._responses import json_body, make_general_response, redirect_response
from ._static import StaticFilesMixin
from ._sync import DONE, Deferred, ensure_sync, in_event_loop, is_async_callable, run_in_thread, wait_for
from ._websocket_app import WebsocketAppMixin
from ._wsgi_only import wsgi_only
from .asgi import handle_http, handle_lifespan, handle_websocket, serving_started, serving_stopped
from .asgi.websocket import DEFAULT_MAX_QUEUE
from .config import Config
from .ctx import AppContext, ConnectionContext, RequestContext
from .debug import DebugMiddleware
from .globals import _cv_app, _cv_request, _cv_websocket, g, request, session
from .helpers import get_flashed_messages
from .logging import create_logger
from .routing import FirkinMap, FirkinRule, has_subdomain_rules, subdomain_of
from .sessions import SecureCookieSessionInterface, SessionInterface
from .signals import appcontext_tearing_down
from .templating import Environment
from .wrappers import Request, Response

if TYPE_CHECKING:
    from .testing import FirkinClient, FirkinCliRunner, TestApp
    from .typing import ASGIReceive, ASGIScope, ASGISend, ResponseReturnValue

__all__ = ["Firkin"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


_WRAP_ASGI_APP = "ASGI middleware wraps `app.asgi_app`: `app.asgi_app = Middleware(app.asgi_app)`."


class Firkin(StaticFilesMixin, WebsocketAppMixin, App):
    """The application object. Use it like Flask's; handlers may be `async def` (or plain `def`,
    which run in a worker thread so they never block the event loop). It is an ASGI 3 application."""

    config_class = Config  # from_prefixed_env() reads FIRKIN_* by default
    request_class: type[Request] = Request
    url_rule_class = FirkinRule
    url_map_class = FirkinMap
    response_class: type[Response] = Response
    jinja_environment: type[Environment] = Environment
    session_interface: SessionInterface = SecureCookieSessionInterface()

    default_config = {  # noqa: RUF012 - flask.sansio.App declares it as an attribute, as here
        "DEBUG": None,
        "TESTING": False,
        "PROPAGATE_EXCEPTIONS": None,
        "SECRET_KEY": None,
        "SECRET_KEY_FALLBACKS": None,
        "PERMANENT_SESSION_LIFETIME": timedelta(days=31),
        "USE_X_SENDFILE": False,
        "TRUSTED_HOSTS": None,
        "SERVER_NAME": None,
        "APPLICATION_ROOT": "/",
        "SESSION_COOKIE_NAME": "session",
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_PATH": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": False,
        "SESSION_COOKIE_PARTITIONED": False,
        "SESSION_COOKIE_SAMESITE": None,
        "SESSION_REFRESH_EACH_REQUEST": True,
        "MAX_CONTENT_LENGTH": None,
        "MAX_FORM_MEMORY_SIZE": 500_000,
        "MAX_FORM_PARTS": 1_000,
        "SEND_FILE_MAX_AGE_DEFAULT": None,
        "TRAP_BAD_REQUEST_ERRORS": None,
        "TRAP_HTTP_EXCEPTIONS": False,
        "EXPLAIN_TEMPLATE_LOADING": False,
        "PREFERRED_URL_SCHEME": "http",
        "TEMPLATES_AUTO_RELOAD": None,
        "MAX_COOKIE_SIZE": 4093,
        "PROVIDE_AUTOMATIC_OPTIONS": True,
        "BACKGROUND_TASK_SHUTDOWN_TIMEOUT": 5,
        "WEBSOCKET_MAX_QUEUE": DEFAULT_MAX_QUEUE,  # messages received and not yet read, per websocket
    }

    def __init__(
        self,
        import_name: str,
        static_url_path: str | None = None,
        static_folder: str | os.PathLike[str] | None = "static",
        static_host: str | None = None,
        host_matching: bool = False,
        subdomain_matching: bool = False,
        template_folder: str | os.PathLike[str] | None = "templates",
        instance_path: str | None = None,
        instance_relative_config: bool = False,
        root_path: str | None = None,
    ) -> None:
        super().__init__(
            import_name=import_name,
            static_url_path=static_url_path,
            static_folder=static_folder,
            static_host=static_host,
            host_matching=host_matching,
            subdomain_matching=subdomain_matching,
            template_folder=template_folder,
            instance_path=instance_path,
            instance_relative_config=instance_relative_config,
            root_path=root_path,
        )
        #: The app's click command group (`@app.cli.command()`), run by the `firkin` command.
        self.cli: AppGroup = AppGroup(self.name)
        self._async_views: dict[Callable[..., Any], bool] = {}  # view or hook -> is it async (asked once)
        self._url_adapters: dict[tuple[Any, ...], MapAdapter] = {}
        # Where requests went, by what decides it: see RequestContext.__init__.
        self._routes_seen: dict[tuple[Any, ...], tuple[MapAdapter, Rule]] = {}
        # The pipeline steps this app's class overrides (firkin._pipeline), for its contexts.
        self._step_overrides = pipeline.class_overrides(type(self))
        self.before_serving_funcs: list[Callable[[], Awaitable[None]]] = []
        self.after_serving_funcs: list[Callable[[], Awaitable[None]]] = []
        self.while_serving_gens: list[Callable[[], Any]] = []
        self._serving_gens: list[Any] = []  # the started while_serving generators
        if self.has_static_folder:  # flask.sansio leaves the app's static route to Flask.__init__
            if bool(static_host) != host_matching:
                raise ValueError(
                    "The static route needs static_host exactly when host_matching=True: pass both,"
                    " or neither (or static_folder=None for no static route)."
                )
            app_ref = weakref.ref(self)  # the view must not keep the app alive (a reference cycle)

            async def static(filename: str) -> Response:
                app = app_ref()
                assert app is not None
                return await app.send_static_file(filename)

            self.add_url_rule(
                f"{self.static_url_path}/<path:filename>",
                endpoint="static",
                host=static_host,
                view_func=static,
            )

    # ----------------------------------------------------------------- contexts

    def app_context(self) -> AppContext:
        """An application context: `async with app.app_context():` (or `with`)."""
        return AppContext(self)

    def request_context(self, request: Request) -> RequestContext:
        return RequestContext(self, request)

    def test_request_context(
        self,
        path: str = "/",
        *,
        method: str = "GET",
        headers: dict[str, str] | Headers | None = None,
        query_string: dict[str, Any] | str | bytes | None = None,
        scheme: str = "http",
        data: bytes | str | None = None,
        json: Any = None,
        root_path: str = "",
    ) -> RequestContext:
        """A request context for a request that was never sent: for tests and the shell."""
        from .testing.utils import make_test_request

        return RequestContext(
            self,
            make_test_request(
                self,
                path,
                method=method,
                headers=headers,
                query_string=query_string,
                scheme=scheme,
                data=data,
                json=json,
                root_path=root_path,
            ),
        )

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        if request is not None:
            server_name = self.config["SERVER_NAME"]
            url_map = self.url_map
            if url_map.host_matching:
                server_name = None
            # Adapters are bound once per (host, root, scheme, method) and reused: the path and
            # query are passed to match() (RequestContext.match_request). Bounded: a client choosing
            # Host headers cannot grow it without limit.
            # Keyed by the raw Host header: the checked `request.host` (TRUSTED_HOSTS, valid
            # characters) is worked out only when a new adapter is bound, and an untrusted Host
            # raises there every time, as it is never stored. Which subdomain the adapter matches is
            # decided then too: it depends on the rules, which are all registered before serving.
            raw_host = request.host_header or request.server
            key = (
                raw_host,
                server_name,
                request.root_path,
                self.subdomain_matching,
                request.scheme,
                request.method,
            )
            adapter = self._url_adapters.get(key)
            if adapter is None:
                if len(self._url_adapters) >= 256:
                    self._url_adapters.clear()
                subdomain: str | None = None
                if not url_map.host_matching:
                    if self.subdomain_matching or self._has_subdomain_rules():
                        subdomain = subdomain_of(request.host, server_name, request.scheme)
                    else:
                        subdomain = url_map.default_subdomain or ""
                adapter = self._url_adapters[key] = url_map.bind(
                    server_name or request.host,
                    script_name=request.root_path or None,
                    subdomain=subdomain,
                    url_scheme=request.scheme,
                    default_method=request.method,
                )
            return adapter
        if self.config["SERVER_NAME"] is not None:
            return self.url_map.bind(
                self.config["SERVER_NAME"],
                script_name=self.config["APPLICATION_ROOT"],
                url_scheme=self.config["PREFERRED_URL_SCHEME"],
            )
        return None

    def _has_subdomain_rules(self) -> bool:
        """Subdomain matching is on with `subdomain_matching=True` (Flask's flag) and also, as in
        Quart, when a route or blueprint was registered for a subdomain: such a rule could never
        match otherwise."""
        url_map = self.url_map
        if isinstance(url_map, FirkinMap):
            return url_map.has_subdomain_rules
        return has_subdomain_rules(url_map)

    def url_for(
        self,
        /,
        endpoint: str,
        *,
        _anchor: str | None = None,
        _method: str | None = None,
        _scheme: str | None = None,
        _external: bool | None = None,
        **values: Any,
    ) -> str:
        """Build the URL of `endpoint`. In a request: relative to it (".name" means the current
        blueprint), path-only unless `_external` or `_scheme`; outside one: external, from
        SERVER_NAME / APPLICATION_ROOT / PREFERRED_URL_SCHEME."""
        req_ctx = _current_connection()
        if req_ctx is not None:
            adapter = req_ctx.url_adapter
            if endpoint.startswith("."):
                blueprint = req_ctx.connection.blueprint
                endpoint = f"{blueprint}{endpoint}" if blueprint is not None else endpoint[1:]
            external = _scheme is not None if _external is None else _external
        else:
            app_ctx = _cv_app.get(None)
            adapter = app_ctx.url_adapter if app_ctx is not None else self.create_url_adapter(None)
            if adapter is None:
                raise RuntimeError(
                    "Unable to build URLs outside an active request without 'SERVER_NAME' configured. "
                    "Also configure 'APPLICATION_ROOT' and 'PREFERRED_URL_SCHEME' as needed."
                )
            external = True if _external is None else _external
        if _scheme is not None and not external:
            raise ValueError("When specifying '_scheme', '_external' must be True.")
        self.inject_url_defaults(endpoint, values)
        assert adapter is not None
        try:
            url = adapter.build(endpoint, values, method=_method, url_scheme=_scheme, force_external=external)
        except BuildError as error:
            values.update(_anchor=_anchor, _method=_method, _scheme=_scheme, _external=external)
            return self.handle_url_build_error(error, endpoint, values)
        if _anchor is not None:
            url = url + "#" + quote(_anchor, safe="%!#$&'()*+,/:;=?@")
        return url

    # ----------------------------------------------------------------- logging

    @cached_property
    def logger(self) -> logging.Logger:
        """The app's logger (named after the app), with `firkin.logging.default_handler` when
        logging is not configured. Flask's default handler cannot serve an ASGI request."""
        return create_logger(self)

    # ----------------------------------------------------------------- templates

    def create_jinja_environment(self) -> Environment:
        """The Jinja environment (`app.jinja_env`, made on first use): `jinja_options`, autoescaping
        by `select_jinja_autoescape`, `auto_reload` from TEMPLATES_AUTO_RELOAD (else `app.debug`),
        and the globals Flask templates expect: `url_for`, `get_flashed_messages`, `config`,
        `request`, `session`, `g`."""
        options = dict(self.jinja_options)
        options.setdefault("autoescape", self.select_jinja_autoescape)
        if "auto_reload" not in options:
            auto_reload = self.config["TEMPLATES_AUTO_RELOAD"]
            options["auto_reload"] = self.debug if auto_reload is None else auto_reload
        env = self.jinja_environment(self, **options)
        # The proxies serve templates that are imported or included without the render context;
        # rendering itself passes the current objects (see templating.update_template_context).
        env.globals.update(
            url_for=self.url_for,
            get_flashed_messages=get_flashed_messages,
            config=self.config,
            request=request,
            session=session,
            g=g,
        )
        env.policies["json.dumps_function"] = self.json.dumps
        return env

    def update_template_context(self, context: dict[str, Any]) -> Awaitable[None]:
        """Add `g`, `request`, `session` and the context processors' values to `context`
        (values already in it win), as rendering a template does.

        Awaited in async code (`await app.update_template_context(context)`, Quart's). Called by
        sync code in a worker thread (Flask's `render_template`, in an extension's sync view or
        hook), it does the work there and then, on the event loop, as Flask's does; what it returns
        is then already done."""
        from .templating import update_template_context

        if in_event_loop():
            return Deferred(update_template_context, self, context)
        wait_for(update_template_context, self, context, what="app.update_template_context()", anywhere=True)
        return DONE

    # ----------------------------------------------------------------- sync and async

    def ensure_async(self, func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        """`func` if it is async; a sync function is wrapped to run in a worker thread."""
        if is_async_callable(func):
            return func
        return run_in_thread(func)

    def sync_to_async(self, func: Callable[..., T]) -> Callable[..., Awaitable[T]]:
        return run_in_thread(func)

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """`func` if it is sync; an async function wrapped to be called from sync code, as Flask's
        `ensure_sync` does: the wrapper runs it on the event loop and waits for the result. That
        works in the worker threads where firkin runs sync views and hooks (so an extension's sync
        decorator around an `async def` view works); in the event loop's thread it raises, as
        blocking the loop would stop every other request."""
        return ensure_sync(func)

    async def _call(self, func: Callable[..., Any], *args: Any, sync: bool = False) -> Any:
        """Call a hook: async ones are awaited; sync ones run in a thread, or inline in `sync` mode
        (plain `with` blocks, which cannot wait for a thread)."""
        try:
            is_async = self._async_views.get(func)
        except TypeError:  # an unhashable callable object
            is_async = is_async_callable(func)
        if is_async is None:
            is_async = is_async_callable(func)
            # Remembered for hooks and handlers (a fixed set); bounded, as a hook may be made per
            # request (after_this_request's closures), which then are asked each time.
            if len(self._async_views) < 512:
                self._async_views[func] = is_async
        if is_async:
            return await func(*args)
        if sync:
            return func(*args)
        return await run_in_thread(func)(*args)

    async def _call_replaced(self, method: Callable[..., Any], *args: Any) -> Any:
        """Call a method that an extension replaced on the app instance. Flask-CORS, for one, puts a
        sync function in place of `handle_exception` / `handle_user_exception` that calls the
        original and hands its result to `make_response`: the original is async here, so the
        replacement runs in a worker thread like any sync hook, where `make_response` can wait for
        the coroutine it is given (`Firkin.make_response`). Flask-RESTful's replacement returns what
        the original returns, a coroutine here: it is awaited, on the event loop."""
        if is_async_callable(method):
            return await method(*args)
        (result,) = await run_in_thread(_boxed(method))(*args)  # (trio refuses a coroutine from a thread)
        if type(result) is CoroutineType:
            result = await result
        return result

    async def _signal(self, signal: NamedSignal, **kwargs: Any) -> None:
        """Send a signal to sync and async receivers (callers check `.receivers` first: no work when
        nobody listens)."""

        def sync_receiver(func: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
            async def call(*args: Any, **kw: Any) -> Any:
                return func(*args, **kw)

            return call

        await signal.send_async(self, _sync_wrapper=sync_receiver, **kwargs)

    # ----------------------------------------------------------------- ASGI

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        """The ASGI application: calls `self.asgi_app`, so middleware wraps it as in Quart and
        Flask (`app.asgi_app = Middleware(app.asgi_app)`) and the app object stays the app."""
        if scope["type"] == "http" and "asgi_app" not in self.__dict__ and type(self).asgi_app is _asgi_app:
            await handle_http(self, scope, receive, send)  # what asgi_app does, one frame less
        else:
            await self.asgi_app(scope, receive, send)

    @property
    def wsgi_app(self) -> NoReturn:
        """Flask's WSGI entry point, which an ASGI app has not: reading or setting it raises a
        `WSGIOnlyError` (an AttributeError) that names the code that did (WSGI middleware, say) and
        says to wrap `asgi_app` with ASGI middleware instead."""
        raise wsgi_only("`app.wsgi_app`", _WRAP_ASGI_APP)

    @wsgi_app.setter
    def wsgi_app(self, value: object) -> NoReturn:
        raise wsgi_only("`app.wsgi_app`", _WRAP_ASGI_APP)

    async def asgi_app(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        kind = scope["type"]
        if kind == "http":
            await handle_http(self, scope, receive, send)
        elif kind == "lifespan":
            await handle_lifespan(self, scope, receive, send)
        elif kind == "websocket":
            await handle_websocket(self, scope, receive, send)
        else:
            raise RuntimeError(f"firkin cannot handle ASGI scope type {kind!r}")

    # ----------------------------------------------------------------- serving lifecycle

    @setupmethod
    def before_serving(self, func: F) -> F:
        """Run `func` (async or sync) once, before the server accepts requests (ASGI lifespan)."""
        self.before_serving_funcs.append(self.ensure_async(func))
        return func

    @setupmethod
    def after_serving(self, func: F) -> F:
        """Run `func` once, after the server stopped accepting requests."""
        self.after_serving_funcs.append(self.ensure_async(func))
        return func

    @setupmethod
    def while_serving(self, func: F) -> F:
        """An async generator: the code before its `yield` runs at startup, after it at shutdown."""
        self.while_serving_gens.append(func)
        return func

    async def startup(self) -> None:
        """Run before_serving functions and while_serving generators up to their yield."""
        await serving_started(self)

    async def shutdown(self) -> None:
        """Run the rest of the while_serving generators (last started first), then the after_serving
        functions."""
        await serving_stopped(self)

    # ----------------------------------------------------------------- handling a request

    def handle_request(self, request: Request) -> Awaitable[Response]:
        """Turn a request into a response (await it): contexts, hooks, the view, error handlers (the
        one pipeline of `firkin._pipeline`, which websockets go through too). Not itself a
        coroutine function: it hands over the pipeline's coroutine, one frame less per request."""
        # (No typing.cast: a function call on every request.)
        return pipeline.handle(self, self.request_context(request))  # type: ignore[return-value]

    # The steps of the pipeline, as Flask 3.1 and Quart name them. Override one in a subclass (or
    # replace it on the app, as some extensions do) and the pipeline calls yours; call one and it
    # runs the step for the current request.

    async def full_dispatch_request(self, ctx: RequestContext | None = None) -> Response:
        return cast("Response", await pipeline.full_dispatch(self, ctx or _request_context()))

    async def preprocess_request(self) -> ResponseReturnValue | None:
        return await pipeline.preprocess(self, _request_context())

    async def dispatch_request(self) -> ResponseReturnValue:
        return await _request_context().dispatch()

    def raise_routing_exception(self, req: Request) -> None:
        exc = req.routing_exception
        assert exc is not None
        raise exc

    def make_default_options_response(self) -> Response:
        """The response to an OPTIONS request for a route with automatic options: its Allow header.
        Call it as Flask does, or await it as in Quart; override it with a plain or an async method."""
        ctx = _request_context()
        adapter = ctx.url_adapter
        assert adapter is not None
        methods = adapter.allowed_methods(ctx.request.path)
        response = self.response_class()
        response.allow.update(methods)
        return response

    async def finalize_request(
        self, rv: ResponseReturnValue | HTTPException, from_error_handler: bool = False
    ) -> Response:
        return cast("Response", await pipeline.finalize(self, _request_context(), rv, from_error_handler))

    async def process_response(self, response: Response) -> Response:
        return cast("Response", await pipeline.process_response(self, _request_context(), response))

    # ----------------------------------------------------------------- errors

    async def handle_http_exception(self, error: HTTPException) -> HTTPException | ResponseReturnValue:
        return cast(
            "HTTPException | ResponseReturnValue",
            await pipeline.handle_http_exception(self, _connection_context(), error),
        )

    async def handle_user_exception(self, error: Exception) -> HTTPException | ResponseReturnValue:
        return cast(
            "HTTPException | ResponseReturnValue",
            await pipeline.handle_user_exception(self, _connection_context(), error),
        )

    def _has_error_handlers(self) -> bool:
        """Whether any error handler is registered, for the app or a blueprint (read each time, as
        extensions may add them behind the app's back; a few small dicts)."""
        return any(handlers for spec in self.error_handler_spec.values() for handlers in spec.values())

    async def handle_exception(self, error: Exception) -> Response:
        """An unhandled exception: 500 through the error handlers (traceback logged), or propagated
        when PROPAGATE_EXCEPTIONS (by default: testing or debug mode) is on."""
        return cast("Response", await pipeline.handle_exception(self, _request_context(), error))

    def log_exception(self, exc_info: Any) -> None:
        ctx = _current_connection()
        if ctx is None:
            where = "(no request)"
        elif isinstance(ctx, RequestContext):
            where = f"{ctx.request.method} {ctx.request.path}"
        else:
            where = f"websocket {ctx.connection.path}"
        self.logger.error("Exception on %s", where, exc_info=exc_info)

    # ----------------------------------------------------------------- teardown

    async def do_teardown_request(self, exc: BaseException | None, *, sync: bool = False) -> None:
        await pipeline.teardown(self, _request_context(), exc, sync=sync)

    async def do_teardown_appcontext(self, exc: BaseException | None, *, sync: bool = False) -> None:
        for func in reversed(self.teardown_appcontext_funcs):
            await self._call(func, exc, sync=sync)
        if appcontext_tearing_down.receivers:
            await self._signal(appcontext_tearing_down, exc=exc)

    # ----------------------------------------------------------------- responses

    def make_response(self, rv: ResponseReturnValue | HTTPException) -> Response:
        """Turn what a view returned into a response: str, bytes, dict/list (JSON), a Response,
        an HTTPException, a (sync or async) generator for streaming, or a tuple
        `(body, status)`, `(body, headers)`, `(body, status, headers)`.

        It returns the response, as Flask's does, so sync code (an extension's hook) can use it; a
        response can also be awaited (giving itself), so Quart's `await app.make_response(rv)` works.
        Sync code in a worker thread may pass a coroutine (an async view or handler it called without
        awaiting, as Flask-CORS does): it is run on the event loop and its result made a response."""
        # The common cases first, built directly: a str, a dict or list as JSON.
        response_class = self.response_class
        if isinstance(rv, str):
            return response_class.of_data(rv.encode(), default_content_type(response_class.default_mimetype))
        if type(rv) is bytes:
            return response_class.of_data(rv, default_content_type(response_class.default_mimetype))
        if isinstance(rv, dict | list) and type(self.json) is DefaultJSONProvider:
            return response_class.of_data(
                json_body(self.json, rv, self.config["DEBUG"]), default_content_type(self.json.mimetype)
            )
        given: object = rv
        if type(given) is CoroutineType:
            rv = wait_for(_result_of, given, what="make_response() of a coroutine")
            if isinstance(rv, response_class):
                return rv
        return make_general_response(self, rv)

    def redirect(self, location: str, code: int = 302) -> Response:  # type: ignore[override]
        """A redirect response to `location` (what Flask's `app.redirect` gives)."""
        response = redirect_response(self, location, code)
        if response is None:
            from werkzeug.utils import redirect as werkzeug_redirect

            response = cast("Response", werkzeug_redirect(location, code, Response=self.response_class))  # type: ignore[arg-type]
        return response

    # ----------------------------------------------------------------- background tasks

    def add_background_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run `func(*args, **kwargs)` after the response, in the app context, tied to the app's
        lifetime: awaited (up to BACKGROUND_TASK_SHUTDOWN_TIMEOUT seconds) at shutdown."""
        from .asgi import background_tasks

        background_tasks(self).add(func, args, kwargs)

    # ----------------------------------------------------------------- conveniences

    def test_client(self, use_cookies: bool = True, **kwargs: Any) -> FirkinClient:
        """A client that calls the app in process: `await client.get("/")`."""
        from .testing import FirkinClient

        cls: type[FirkinClient] = self.test_client_class or FirkinClient  # type: ignore[assignment]
        return cls(self, use_cookies=use_cookies, **kwargs)

    def test_app(self) -> TestApp:
        """Runs the lifespan (before/after_serving) around tests: `async with app.test_app() as ta:`."""
        from .testing import TestApp

        return TestApp(self)

    def test_cli_runner(self, **kwargs: Any) -> FirkinCliRunner:
        """A click CliRunner that invokes this app's command line: `runner.invoke(args=["cmd"])`."""
        from .testing import FirkinCliRunner

        cls: type[FirkinCliRunner] = self.test_cli_runner_class or FirkinCliRunner  # type: ignore[assignment]
        return cls(self, **kwargs)

    def run(
        self,
        host: str | None = None,
        port: int | None = None,
        debug: bool | None = None,
        **options: Any,
    ) -> None:
        """Serve the app with tapster (for development; `firkin run` does the same from the shell)."""
        import tapster

        if debug is not None:
            self.debug = debug
        bind = f"{host or '127.0.0.1'}:{port or 5000}"
        config = tapster.Config(binds=(bind,), access_log=True, **options)
        tapster.run(DebugMiddleware(self) if self.debug else self, config)


_asgi_app = Firkin.asgi_app  # __call__ skips it when it is not replaced


def _request_context() -> RequestContext:
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "Working outside of request context: this needs an active request, as in a view or a "
            "request hook (or `async with app.test_request_context():`)."
        )
    return ctx


def _current_connection() -> ConnectionContext | None:
    """The current request's context, else the current websocket's, else None: the one way app.py
    reaches them (besides `_request_context`, for the steps that serve requests only)."""
    ctx: ConnectionContext | None = _cv_request.get(None) or _cv_websocket.get(None)
    return ctx


def _connection_context() -> ConnectionContext:
    """The current request's or websocket's context (error handlers serve both)."""
    ctx = _current_connection()
    if ctx is None:
        raise RuntimeError("Working outside of request context: no request or websocket is being handled.")
    return ctx


def _boxed(method: Callable[..., Any]) -> Callable[..., tuple[Any]]:
    """`method`, its result in a 1-tuple: trio's to_thread refuses a function that returns a
    coroutine (it takes it for an async function passed by mistake)."""

    def call(*args: Any) -> tuple[Any]:
        return (method(*args),)

    return call


async def _result_of(coro: Coroutine[Any, Any, T]) -> T:
    return await coro
