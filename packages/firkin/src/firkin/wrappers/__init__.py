"""Request, response and websocket wrappers (Quart's module path: `firkin.wrappers`)."""

from .request import Body, Request
from .response import DataBody, FileBody, IOBody, IterableBody, Response, ResponseBody
from .websocket import Websocket, WebsocketDisconnected

__all__ = [
    "Body",
    "DataBody",
    "FileBody",
    "IOBody",
    "IterableBody",
    "Request",
    "Response",
    "ResponseBody",
    "Websocket",
    "WebsocketDisconnected",
]
