"""--interface: which apps `auto` takes for WSGI or ASGI 2, and what forcing one does."""

from __future__ import annotations

import functools
from typing import Any

import flask
import pytest
from starlette.applications import Starlette
from tapster import Config, ConfigError, Server
from tapster._interface import ASGI2Adapter, adapt_app, detect_interface
from tapster.wsgi import WSGIAdapter


def wsgi_function(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b""]


async def asgi3_function(scope: Any, receive: Any, send: Any) -> None:
    pass


def asgi3_returning_a_coroutine(scope: Any, receive: Any, send: Any) -> Any:
    return asgi3_function(scope, receive, send)


class WSGIObject:
    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        return []


class ASGI3Object:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        pass


class AsyncTwoArguments:
    async def __call__(self, a: Any, b: Any) -> None:
        pass


class ASGI2Class:
    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        pass


class ASGI3Class:
    def __init__(self, scope: Any, receive: Any, send: Any) -> None:
        pass

    def __await__(self) -> Any:
        return iter(())


def flexible(*args: Any) -> list[bytes]:
    return []


def django_wsgi_handler() -> Any:
    from django.core.handlers.wsgi import WSGIHandler

    return WSGIHandler.__new__(WSGIHandler)  # its __init__ needs configured settings; __call__ is the class's


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: wsgi_function, "wsgi"),
        (lambda: WSGIObject(), "wsgi"),
        (lambda: flask.Flask("detected"), "wsgi"),
        (django_wsgi_handler, "wsgi"),
        (lambda: functools.partial(wsgi_function), "wsgi"),
        (lambda: asgi3_function, "asgi3"),
        (lambda: asgi3_returning_a_coroutine, "asgi3"),
        (lambda: ASGI3Object(), "asgi3"),
        (lambda: AsyncTwoArguments(), "asgi3"),  # async: never WSGI
        (lambda: Starlette(), "asgi3"),
        (lambda: ASGI2Class, "asgi2"),
        (lambda: ASGI3Class, "asgi3"),
        (lambda: flexible, "asgi3"),  # *args: not clearly anything, so what tapster always did
        (lambda: print, "asgi3"),
    ],
)
def test_auto_detection(make: Any, expected: str) -> None:
    assert detect_interface(make())[0] == expected


def test_firkin_is_asgi() -> None:
    import firkin

    assert detect_interface(firkin.Firkin("x"))[0] == "asgi3"


def test_auto_wraps_wsgi_and_asgi2_and_leaves_asgi3_alone() -> None:
    config = Config()
    assert adapt_app(asgi3_function, config) is asgi3_function
    assert isinstance(adapt_app(ASGI2Class, config), ASGI2Adapter)
    adapter = adapt_app(wsgi_function, Config(wsgi_threads=3))
    assert isinstance(adapter, WSGIAdapter)
    assert (adapter.app, adapter.threads) == (wsgi_function, 3)


def test_forcing_an_interface_wins_over_detection() -> None:
    forced: object = adapt_app(wsgi_function, Config(interface="asgi3"))
    assert forced is wsgi_function
    assert isinstance(adapt_app(flexible, Config(interface="wsgi")), WSGIAdapter)
    assert isinstance(adapt_app(ASGI3Object(), Config(interface="asgi2")), ASGI2Adapter)


def test_forcing_wsgi_on_an_async_app_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"async callable \(ASGI\), not a WSGI app: drop --interface wsgi"):
        adapt_app(asgi3_function, Config(interface="wsgi"))


def test_the_server_serves_the_adapted_app() -> None:
    assert isinstance(Server(wsgi_function).app, WSGIAdapter)
    assert Server(asgi3_function).app is asgi3_function


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("interface", "wsgi2", "interface must be one of auto, asgi3, asgi2, wsgi"),
        ("wsgi_threads", 0, "wsgi_threads must be a positive integer"),
        ("wsgi_threads", 2.5, "wsgi_threads must be a positive integer"),
    ],
)
def test_config_validation(field: str, value: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Config(**{field: value})


@pytest.mark.anyio
async def test_asgi2_adapter_constructs_then_awaits() -> None:
    seen: list[Any] = []

    class App:
        def __init__(self, scope: Any) -> None:
            seen.append(scope["type"])

        async def __call__(self, receive: Any, send: Any) -> None:
            await send({"type": "done"})

    async def receive() -> Any:
        return {}

    async def send(message: Any) -> None:
        seen.append(message)

    await ASGI2Adapter(App)({"type": "http"}, receive, send)
    assert seen == ["http", {"type": "done"}]
