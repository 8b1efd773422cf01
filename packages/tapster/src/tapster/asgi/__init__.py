"""The ASGI driver: protocol events to ASGI scopes and receive/send, for any backend."""

from ._server import Server

__all__ = ["Server"]
