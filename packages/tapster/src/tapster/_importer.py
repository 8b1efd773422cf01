"""Import the ASGI app named on the command line ("module:attribute"), with one-line errors."""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

from .errors import ConfigError

__all__ = ["import_app"]


def import_app(spec: str, *, factory: bool = False, app_dir: str = ".") -> Any:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"app {spec!r} must be given as 'module:attribute', e.g. 'main:app'")
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise ConfigError(
                f"cannot import {module_name!r}: no such module (searched {app_dir!r} and sys.path)"
            ) from None
        raise  # the module exists but something it imports does not: show the traceback
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
    if factory:
        if not callable(obj):
            raise ConfigError(f"--factory was given but {spec} is not callable")
        obj = obj()
    elif inspect.isfunction(obj) and len(inspect.signature(obj).parameters) == 0:
        raise ConfigError(f"{spec} takes no arguments: if it is an app factory, pass --factory")
    if not callable(obj):
        raise ConfigError(f"{spec} is not an application (not callable)")
    return obj
