"""Entry points: `run()` starts a loop; `serve()` joins the running asyncio or trio loop."""

from __future__ import annotations

import importlib.util

import sniffio

from ._interface import App
from .asgi._server import Server
from .config import Config
from .errors import ConfigError

__all__ = ["resolve_loop", "run", "serve"]


def resolve_loop(config: Config) -> str:
    if config.loop == "auto":
        from .backends.asyncio import uvloop_available

        return "uvloop" if uvloop_available() else "asyncio"
    if config.loop == "uvloop":
        from .backends.asyncio import uvloop_available

        if not uvloop_available():
            raise ConfigError("loop 'uvloop' needs uvloop: pip install 'tapster[uvloop]'")
    if config.loop == "trio" and importlib.util.find_spec("trio") is None:
        raise ConfigError("loop 'trio' needs trio: pip install 'tapster[trio]'")
    return config.loop


def run(
    app: App, config: Config | None = None, *, server: Server | None = None, install_signals: bool = True
) -> None:
    """Serve `app` until SIGINT/SIGTERM (or `server.shutdown()`), on the loop `config.loop` names."""
    if server is None:
        server = Server(app, config)
    loop = resolve_loop(server.config)
    if loop == "trio":
        from .backends import trio as trio_backend

        trio_backend.run(server, install_signals=install_signals)
    else:
        from .backends import asyncio as asyncio_backend

        asyncio_backend.run(server, use_uvloop=loop == "uvloop", install_signals=install_signals)


async def serve(app: App, config: Config | None = None, *, server: Server | None = None) -> None:
    """Serve `app` inside the running asyncio or trio loop until `server.shutdown()` is called."""
    if server is None:
        server = Server(app, config)
    library = sniffio.current_async_library()
    if library == "trio":
        from .backends import trio as trio_backend

        await trio_backend.serve(server, install_signals=False)
    elif library == "asyncio":
        from .backends import asyncio as asyncio_backend

        await asyncio_backend.serve(server, install_signals=False)
    else:
        raise ConfigError(f"tapster.serve() runs on asyncio or trio, not {library}")
