"""`firkin run --reload`: what each of tapster's worker processes imports (private).

`firkin run` hands the reload to tapster's supervisor (`tapster.supervisor.run`), which starts the
server in fresh worker processes; each calls `load_app()` to find the app the way the command line
found it. The command line leaves what it knows in the environment the workers inherit: the app's
import path, the custom script's `create_app` (by name), whether to set the debug flag; `.env`
files were loaded into that environment already.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ._discovery import _split_import_path

if TYPE_CHECKING:
    from .app import Firkin

__all__ = ["load_app", "watch_roots", "worker_environment"]

_APP_ENV = "FIRKIN_RUN_APP"  # the import path given with --app / FIRKIN_APP
_CREATE_APP_ENV = "FIRKIN_RUN_CREATE_APP"  # a script's create_app: "module:qualname" or "file.py:qualname"
_SET_DEBUG_ENV = "FIRKIN_RUN_SET_DEBUG_FLAG"


def _callable_name(function: Callable[..., Any]) -> str:
    qualname = getattr(function, "__qualname__", "")
    module = getattr(function, "__module__", None)
    if not module or not qualname or "<locals>" in qualname:
        raise click.ClickException(
            f"--reload starts the app in new processes, which find create_app by name: "
            f"{function!r} must be a module-level function"
        )
    if module == "__main__":
        main_file = getattr(sys.modules["__main__"], "__file__", None)
        if main_file is None:
            raise click.ClickException("--reload cannot find create_app: __main__ has no file")
        return f"{os.path.abspath(main_file)}:{qualname}"
    return f"{module}:{qualname}"


def worker_environment(
    app_import_path: str | None, create_app: Callable[..., Any] | None, set_debug_flag: bool
) -> dict[str, str]:
    """The variables that tell a worker how to find the app (the caller puts them in os.environ)."""
    env = {_SET_DEBUG_ENV: "1" if set_debug_flag else "0"}
    if app_import_path:
        env[_APP_ENV] = app_import_path
    if create_app is not None:
        env[_CREATE_APP_ENV] = _callable_name(create_app)
    return env


def _resolve(name: str) -> Callable[..., Any]:
    where, _, qualname = name.rpartition(":")
    if where.endswith(".py"):
        # A custom script run as a program: load its file under another name than __main__, so
        # its `if __name__ == "__main__":` block does not run again (multiprocessing does the same).
        spec = importlib.util.spec_from_file_location("__firkin_run_main__", where)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {where}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def load_app() -> Any:
    """The ASGI app a worker serves: the firkin app (behind the debugger in debug mode)."""
    from .cli import ScriptInfo, _configure_logging
    from .debug import DebugMiddleware

    create = os.environ.get(_CREATE_APP_ENV)
    info = ScriptInfo(
        app_import_path=os.environ.get(_APP_ENV) or None,
        create_app=_resolve(create) if create else None,
        set_debug_flag=os.environ.get(_SET_DEBUG_ENV, "1") == "1",
    )
    app: Firkin = info.load_app()
    click.echo(f" * Serving Firkin app {app.name!r}")
    click.echo(f" * Debug mode: {'on' if app.debug else 'off'}")
    _configure_logging()
    return DebugMiddleware(app) if app.debug else app


def watch_roots(app_import_path: str | None) -> list[str]:
    """The current directory, and the app's own directory when it was named by a path outside it."""
    roots = [os.getcwd()]
    if app_import_path:
        module_path = _split_import_path(app_import_path)[0]
        if module_path.endswith(".py") or os.sep in module_path:
            directory = os.path.dirname(os.path.realpath(module_path))
            if not directory.startswith(roots[0] + os.sep) and directory != roots[0]:
                roots.append(directory)
    return roots
