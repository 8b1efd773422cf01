"""Which calling convention the app speaks (`--interface`), and the adapter that makes it ASGI 3.

`auto` (the default) serves every app as ASGI 3, as tapster always has, except two kinds that could
never run that way, which it recognises by their signatures:

- WSGI: a callable that is not async and takes exactly two positional arguments
  (`environ, start_response`): a plain function, or an object whose `__call__` is such a method (a
  Flask app, Django's `WSGIHandler`, Bottle, Falcon's `App`, Pyramid's router). An ASGI 3 callable
  takes three, and an ASGI 2 one takes one.
- ASGI 2: a class whose constructor takes exactly one argument (the scope) and that is not awaitable
  (an ASGI 3 class app is constructed with three and awaited).

`--interface asgi3|asgi2|wsgi` forces the choice.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .asgi._types import ASGIApp, Receive, Scope, Send
from .config import Config
from .errors import ConfigError

__all__ = ["ASGI2Adapter", "App", "StartResponse", "WSGIApp", "adapt_app", "detect_interface"]

#: PEP 3333's callables, kept loose where typeshed's are strict (a StartResponse of any arguments).
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ASGI2App = Callable[[Scope], Callable[[Receive, Send], Awaitable[None]]]
#: What `Server`, `run()` and `serve()` take: an app in any of the `--interface` conventions.
App = ASGIApp | WSGIApp | ASGI2App

_log = logging.getLogger("tapster.error")
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class ASGI2Adapter:
    """An ASGI 2 ("double callable") app as an ASGI 3 one: `app(scope)` gives the instance that is
    awaited with `receive` and `send`."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)


def _positional_count(obj: Any) -> int | None:
    """How many positional parameters `obj` takes when called; None when *args or unknown."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None  # a builtin or an extension type without a signature: not clear
    count = 0
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if param.kind in _POSITIONAL:
            count += 1
    return count


def _is_async(obj: Any) -> bool:
    call = getattr(obj, "__call__", None)  # noqa: B004 - the bound method, not callable()
    return (
        inspect.iscoroutinefunction(obj)
        or (call is not None and inspect.iscoroutinefunction(call))
        # asgiref's and Django's marker for sync-looking callables that return coroutines
        or getattr(obj, "_is_coroutine", None) is not None
        or getattr(call, "_is_coroutine", None) is not None
    )


def detect_interface(obj: Any) -> tuple[str, str]:
    """`("asgi3" | "asgi2" | "wsgi", why)` for the `auto` interface (rules in the module docstring)."""
    if inspect.isclass(obj):
        if not hasattr(obj, "__await__") and _positional_count(obj) == 1:
            return "asgi2", "a class constructed with the scope alone"
        return "asgi3", "a class"
    if _is_async(obj):
        return "asgi3", "an async callable"
    if _positional_count(obj) == 2:
        return "wsgi", "a callable of (environ, start_response) that is not async"
    return "asgi3", "the default"


def adapt_app(app: App, config: Config) -> ASGIApp:
    """The ASGI 3 app that serves `app` under `config.interface`."""
    interface = config.interface
    if interface == "auto":
        interface, why = detect_interface(app)
        if interface != "asgi3":
            _log.info("Serving %r as %s (%s); --interface chooses otherwise", app, interface.upper(), why)
    if interface == "asgi3":
        return app  # type: ignore[return-value]
    if interface == "asgi2":
        return ASGI2Adapter(app)
    if _is_async(app):
        raise ConfigError(f"{app!r} is an async callable (ASGI), not a WSGI app: drop --interface wsgi")
    try:
        from .wsgi import WSGIAdapter
    except ImportError as exc:
        if exc.name != "anyio":
            raise
        raise ConfigError("serving a WSGI app needs anyio: pip install 'tapster[wsgi]'") from None
    return WSGIAdapter(app, threads=config.wsgi_threads)  # type: ignore[arg-type]
