"""Request, response and websocket wrappers (Quart's module path: `firkin.wrappers`)."""

from firkin._wsgi_only import WSGIOnlyError

from .base import BaseRequestWebsocket
from .request import Body, Request
from .response import DataBody, FileBody, IOBody, IterableBody, Response, ResponseBody
from .websocket import Websocket, WebsocketDisconnected

__all__ = [
    "BaseRequestWebsocket",
    "Body",
    "DataBody",
    "FileBody",
    "IOBody",
    "IterableBody",
    "Request",
    "Response",
    "ResponseBody",
    "WSGIOnlyError",
    "Websocket",
    "WebsocketDisconnected",
]
