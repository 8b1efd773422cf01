"""Testing: the in-process client (HTTP and websockets), lifespan around tests, and request builders
(Quart's module path)."""

from .app import LifespanError, TestApp
from .cli import FirkinCliRunner
from .client import FirkinClient
from .connections import TestWebsocketConnection, WebsocketResponseError
from .utils import make_scope_and_body, make_test_request

__all__ = [
    "FirkinCliRunner",
    "FirkinClient",
    "LifespanError",
    "TestApp",
    "TestWebsocketConnection",
    "WebsocketResponseError",
    "make_scope_and_body",
    "make_test_request",
]
