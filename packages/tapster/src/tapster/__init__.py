"""Tapster: a strict, fast ASGI 3 server for asyncio and trio."""

from ._run import run, serve
from ._settings import load_config
from .asgi import Server
from .config import Config
from .errors import (
    ClientDisconnected,
    ConfigError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    TapsterError,
)

__version__ = "0.1.0"

__all__ = [
    "ClientDisconnected",
    "Config",
    "ConfigError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Server",
    "TapsterError",
    "__version__",
    "load_config",
    "run",
    "serve",
]
