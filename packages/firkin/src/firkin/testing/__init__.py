"""Testing: the in-process client (HTTP and websockets), lifespan around tests, and request builders
(Quart's module path)."""

from .app import LifespanError, TestApp
from .cli import FirkinCliRunner
from .client import FirkinClient
from .connections import (
    HTTPDisconnectError,
    TestHTTPConnection,
    TestWebsocketConnection,
    WebsocketDisconnectError,
    WebsocketResponseError,
)
from .utils import (
    make_scope_and_body,
    make_test_body_with_headers,
    make_test_headers_path_and_query_string,
    make_test_request,
    make_test_scope,
    no_op_push,
    sentinel,
)

# Quart's names for the client and the CLI runner, so that tests written for Quart import unchanged.
QuartClient = FirkinClient
QuartCliRunner = FirkinCliRunner

__all__ = [
    "FirkinCliRunner",
    "FirkinClient",
    "HTTPDisconnectError",
    "LifespanError",
    "QuartCliRunner",
    "QuartClient",
    "TestApp",
    "TestHTTPConnection",
    "TestWebsocketConnection",
    "WebsocketDisconnectError",
    "WebsocketResponseError",
    "make_scope_and_body",
    "make_test_body_with_headers",
    "make_test_headers_path_and_query_string",
    "make_test_request",
    "make_test_scope",
    "no_op_push",
    "sentinel",
]
