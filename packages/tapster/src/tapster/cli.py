"""`tapster module:app` (and `python -m tapster`): the command line, with Uvicorn/Hypercorn-style flags."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence

from . import __version__
from ._importer import import_app
from ._run import run
from .asgi._server import Server
from .config import Config
from .errors import ConfigError

__all__ = ["main"]

# The supervisor's settings: a group of their own (below).
_SUPERVISOR: dict[str, tuple[str, type[int] | type[float]]] = {
    "workers": ("processes", int),
    "max_requests": ("requests; 0: no limit", int),
    "max_requests_jitter": ("requests", int),
    "worker_max_rss": ("MiB; 0: no limit", int),
    "worker_rss_check_interval": ("seconds", float),
    "worker_start_timeout": ("seconds", float),
    "worker_backoff_max": ("seconds", float),
}
# Config fields with their own generated flags (--max-head-size, --head-timeout, ...).
_TUNABLES = tuple(
    f
    for f in dataclasses.fields(Config)
    if (
        f.name.startswith(("max_", "ws_max_", "ws_ping_", "ws_deflate_", "h2_"))
        or f.name.endswith("_timeout")
    )
    and f.name not in _SUPERVISOR
) + tuple(f for f in dataclasses.fields(Config) if f.name in ("write_buffer_size", "backlog"))
_FLOATS = ("_timeout", "_interval", "_per_second")
_UNITS = {
    "max_headers": "fields",
    "backlog": "connections",
    "ws_max_queue": "messages",
    "ws_deflate_window_bits": "bits",
    "ws_deflate_level": "zlib level",
    "h2_max_concurrent_streams": "streams",
    "h2_max_resets": "resets",
    "h2_max_control_frames": "frames",
    "h2_resets_per_second": "resets a second",
    "h2_control_frames_per_second": "frames a second",
}
# Names users of other servers reach for first.
_ALIASES = {
    "keep_alive_timeout": ["--timeout-keep-alive", "--keep-alive"],
    "shutdown_timeout": ["--timeout-graceful-shutdown", "--graceful-timeout"],
}


def _parser() -> argparse.ArgumentParser:
    defaults = Config()
    p = argparse.ArgumentParser(
        prog="tapster",
        description="Serve an ASGI application (HTTP/1.1, HTTP/2, WebSocket) on asyncio, uvloop or trio.",
    )
    p.add_argument("app", help="the ASGI app as module:attribute, e.g. main:app")
    p.add_argument("--version", action="version", version=f"tapster {__version__}")
    p.add_argument(
        "-b",
        "--bind",
        action="append",
        default=None,
        metavar="ADDRESS",
        help="host:port, [ipv6]:port, unix:/path or fd://N; repeatable (default 127.0.0.1:8000)",
    )
    p.add_argument("--host", help="host to bind (with --port; an alternative to --bind)")
    p.add_argument("--port", type=int, help="port to bind (with --host; default 8000)")
    p.add_argument("--factory", action="store_true", help="the app is a factory: call it to get the app")
    p.add_argument("--app-dir", default=".", help="directory to import the app from (default: .)")
    p.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop", "trio"),
        default=defaults.loop,
        help="event loop (auto: uvloop if installed, else asyncio)",
    )
    p.add_argument("--lifespan", choices=("auto", "on", "off"), default=defaults.lifespan)
    p.add_argument(
        "--root-path", default=defaults.root_path, help="ASGI root_path (app mounted under a prefix)"
    )
    p.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=defaults.access_log,
        help="log one line per response (off by default)",
    )
    p.add_argument(
        "--log-level",
        default=defaults.log_level,
        choices=("critical", "error", "warning", "info", "debug", "trace"),
    )
    p.add_argument("--certfile", help="PEM certificate (chain) to serve HTTPS")
    p.add_argument("--keyfile", help="PEM private key for --certfile")
    p.add_argument(
        "--server-header",
        action=argparse.BooleanOptionalAction,
        default=defaults.server_header,
        help="send 'server: tapster'",
    )
    p.add_argument(
        "--date-header",
        action=argparse.BooleanOptionalAction,
        default=defaults.date_header,
        help="send a Date header",
    )
    p.add_argument(
        "--http2",
        action=argparse.BooleanOptionalAction,
        default=defaults.http2,
        help="serve HTTP/2: ALPN h2 over TLS, h2c on cleartext (on by default)",
    )
    p.add_argument(
        "--ws-per-message-deflate",
        action=argparse.BooleanOptionalAction,
        default=defaults.ws_per_message_deflate,
        help="accept WebSocket permessage-deflate compression (on by default)",
    )
    limits = p.add_argument_group("limits and timeouts (see docs/configuration.md)")
    for f in _TUNABLES:
        flags = ["--" + f.name.replace("_", "-"), *_ALIASES.get(f.name, [])]
        kind = float if f.name.endswith(_FLOATS) else int
        unit = _UNITS.get(f.name, "seconds" if kind is float else "bytes")
        limits.add_argument(
            *flags,
            dest=f.name,
            type=kind,
            default=getattr(defaults, f.name),
            help=f"{unit} (default {getattr(defaults, f.name)})",
        )
    workers = p.add_argument_group("workers and reload (see docs/running.md)")
    for name, (unit, kind) in _SUPERVISOR.items():
        workers.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=kind,
            default=getattr(defaults, name),
            help=f"{unit} (default {getattr(defaults, name)})",
        )
    workers.add_argument(
        "--reload", action="store_true", help="development: restart the worker when a watched file changes"
    )
    workers.add_argument(
        "--reload-dir",
        dest="reload_dirs",
        action="append",
        metavar="PATH",
        help="directory (or file) to watch; repeatable (default: the current directory)",
    )
    workers.add_argument(
        "--reload-include",
        dest="reload_includes",
        action="append",
        metavar="GLOB",
        help=f"file pattern that counts as a change (added to {' '.join(defaults.reload_includes)})",
    )
    workers.add_argument(
        "--reload-exclude",
        dest="reload_excludes",
        action="append",
        metavar="GLOB",
        help=f"file or directory pattern to ignore (added to {' '.join(defaults.reload_excludes)})",
    )
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    binds = list(args.bind or [])
    if args.host is not None or args.port is not None:
        host = args.host or "127.0.0.1"
        binds.append(f"[{host}]:{args.port or 8000}" if ":" in host else f"{host}:{args.port or 8000}")
    values = {f.name: getattr(args, f.name) for f in _TUNABLES}
    values.update({name: getattr(args, name) for name in _SUPERVISOR})
    defaults = Config()
    return Config(
        reload=args.reload,
        reload_dirs=tuple(args.reload_dirs or ()),
        reload_includes=defaults.reload_includes + tuple(args.reload_includes or ()),
        reload_excludes=defaults.reload_excludes + tuple(args.reload_excludes or ()),
        binds=tuple(binds) or Config().binds,
        loop=args.loop,
        lifespan=args.lifespan,
        root_path=args.root_path,
        access_log=args.access_log,
        log_level=args.log_level,
        certfile=args.certfile,
        keyfile=args.keyfile,
        server_header=args.server_header,
        date_header=args.date_header,
        ws_per_message_deflate=args.ws_per_message_deflate,
        http2=args.http2,
        **values,
    )


def configure_logging(config: Config) -> None:
    logging.addLevelName(5, "TRACE")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:  %(message)s"))
    logger = logging.getLogger("tapster")
    logger.addHandler(handler)
    logger.setLevel(config.python_log_level)
    logger.propagate = False
    access = logging.getLogger("tapster.access")
    access_handler = logging.StreamHandler(sys.stdout)
    access_handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(access_handler)
    access.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = config_from_args(args)
        configure_logging(config)
        if config.workers or config.reload:
            from . import supervisor

            return supervisor.run(args.app, config, factory=args.factory, app_dir=args.app_dir)
        app = import_app(args.app, factory=args.factory, app_dir=args.app_dir)
        run(app, server=Server(app, config))
    except ConfigError as exc:
        print(f"tapster: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from .asgi._lifespan import LifespanFailure

        if isinstance(exc, LifespanFailure):
            print(f"tapster: error: {exc}", file=sys.stderr)
            return 3
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
