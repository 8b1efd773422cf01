"""`tapster module:app` (and `python -m tapster`): the command line, with Uvicorn/Hypercorn-style flags."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from . import __version__
from ._importer import import_app
from ._logs import configure_logging
from ._run import run
from ._settings import load_config
from .asgi._server import Server
from .config import Config, Setting, settings
from .errors import ConfigError

__all__ = ["configure_logging", "main"]

_GROUP_TITLES = {
    "server": "server",
    "proxy": "behind a proxy (docs/running.md)",
    "logging": "logging",
    "limits": "limits, bytes or counts (docs/limits.md)",
    "timeouts": "timeouts, seconds",
    "websocket": "WebSocket",
    "http2": "HTTP/2",
    "metrics": "metrics (docs/running.md#metrics)",
    "workers": "workers and reload (docs/running.md#workers-and-signals)",
}


# What one value of a repeatable flag is, as --help shows it.
_LIST_METAVARS = {
    "binds": "ADDRESS",
    "reload_dirs": "PATH",
    "reload_includes": "PATTERN",
    "reload_excludes": "PATTERN",
}


def _add_setting(group: argparse._ArgumentGroup, setting: Setting) -> None:
    flags = [setting.flag, *setting.aliases]
    default = setting.default
    shown = (
        (", ".join(default) or "none")
        if setting.kind == "list"
        else "none"
        if default in (None, "")
        else default
    )
    unit = f"{setting.unit}, " if setting.unit else ""
    help_text = f"{setting.help} ({unit}default {shown}; {setting.env}; [{setting.group}] {setting.key})"
    common: dict[str, Any] = {"dest": setting.name, "default": None, "help": help_text.replace("%", "%%")}
    if setting.kind == "bool":
        group.add_argument(*flags, action=argparse.BooleanOptionalAction, **common)
    elif setting.kind == "list":
        metavar = _LIST_METAVARS.get(setting.name, "VALUE")
        group.add_argument(*flags, action="append", metavar=metavar, **common)
    elif setting.kind in ("int", "optional-int", "float"):
        kind = float if setting.kind == "float" else int
        group.add_argument(*flags, type=kind, metavar="N", **common)
    else:
        group.add_argument(*flags, choices=setting.choices, **common)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tapster",
        description="Serve an ASGI application (HTTP/1.1, HTTP/2, WebSocket) on asyncio, uvloop or trio. "
        "Every setting is also a TAPSTER_* environment variable and a key of the --config file; "
        "flags win over variables, variables over the file.",
    )
    p.add_argument("app", help="the ASGI app as module:attribute, e.g. main:app")
    p.add_argument("--version", action="version", version=f"tapster {__version__}")
    p.add_argument("--config", metavar="FILE", help="a TOML config file (also TAPSTER_CONFIG)")
    p.add_argument("--host", help="host to bind (with --port; an alternative to --bind)")
    p.add_argument("--port", type=int, help="port to bind (with --host; default 8000)")
    p.add_argument("--factory", action="store_true", help="the app is a factory: call it to get the app")
    p.add_argument("--app-dir", default=".", help="directory to import the app from (default: .)")
    groups = {name: p.add_argument_group(title) for name, title in _GROUP_TITLES.items()}
    for setting in settings():
        _add_setting(groups.get(setting.group) or p.add_argument_group(setting.group), setting)
    return p


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Config:
    """The Config of the parsed flags over `environ`'s TAPSTER_* variables and config file (none if None)."""
    table = settings()
    overrides = {s.name: getattr(args, s.name) for s in table if getattr(args, s.name) is not None}
    sources = {s.name: s.flag for s in table}
    if args.host is not None or args.port is not None:
        host = args.host or "127.0.0.1"
        bind = f"[{host}]:{args.port or 8000}" if ":" in host else f"{host}:{args.port or 8000}"
        overrides["binds"] = (*overrides.get("binds", ()), bind)
        sources["binds"] = "--host/--port"
    for setting in table:  # (argparse's "append" gives lists; Config holds tuples)
        if setting.kind == "list" and setting.name in overrides:
            overrides[setting.name] = tuple(overrides[setting.name])
    return load_config(args.config, environ=environ, overrides=overrides, override_source=sources)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = config_from_args(args, os.environ)
        if config.workers or config.reload:
            from . import supervisor

            configure_logging(config)  # the supervisor's own lines; each worker sets up its own
            return supervisor.run(args.app, config, factory=args.factory, app_dir=args.app_dir)
        app = import_app(args.app, factory=args.factory, app_dir=args.app_dir)
        # After the import: logging the app configured there is left as it is (_logs.py).
        configure_logging(config)
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
