"""App discovery for the `firkin` command: `--app` strings, files, factories (private)."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from ._sync import run_to_completion as _run_result

if TYPE_CHECKING:
    from types import ModuleType

    from .app import Firkin


class NoAppException(click.ClickException):
    """The application could not be found or loaded; the message says what to fix."""

    exit_code = 2


def _module_name_for(path: str) -> str:
    """Make `path` (a file, a package directory or a dotted module name) importable; return its module
    name. The directory above the outermost package goes first on sys.path."""
    is_file = path.endswith(".py") or os.sep in path or (os.altsep is not None and os.altsep in path)
    if not is_file:
        directory = os.getcwd()
        name = path
    else:
        full = os.path.realpath(path)
        base = full[:-3] if full.endswith(".py") else full
        if os.path.basename(base) == "__init__":
            base = os.path.dirname(base)
        directory, name = os.path.split(base)
        while os.path.isfile(os.path.join(directory, "__init__.py")):
            directory, package = os.path.split(directory)
            name = f"{package}.{name}"
    if not sys.path or sys.path[0] != directory:
        sys.path.insert(0, directory)
    return name


def _import_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only "this module does not exist" is ours to report in one line; a missing import inside
        # the user's module is their bug, shown with its traceback.
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise NoAppException(
                f"Could not import {module_name!r}: no such module (is the current directory right?)."
            ) from None
        raise


def _is_app(value: Any) -> bool:
    from .app import Firkin

    return isinstance(value, Firkin)


def _call_factory(
    factory: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any], where: str
) -> Any:
    try:
        inspect.signature(factory).bind(*args, **kwargs)
    except TypeError:
        raise NoAppException(f"The factory {where!r} cannot be called with the arguments given.") from None
    except ValueError:  # no signature to check (a builtin): just call it
        pass
    return factory(*args, **kwargs)


def _find_app_by_string(module: ModuleType, spec: str) -> Firkin:
    """`name` or `factory(literal, key=literal)` in `module`."""
    where = f"{module.__name__}:{spec}"
    try:
        expr = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError:
        raise NoAppException(f"Failed to parse {spec!r} as an attribute name or function call.") from None
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if isinstance(expr, ast.Name):
        name, is_call = expr.id, False
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        name, is_call = expr.func.id, True
        try:
            args = [ast.literal_eval(arg) for arg in expr.args]
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in expr.keywords if kw.arg is not None}
        except ValueError:
            raise NoAppException(f"Failed to parse the arguments of {where!r} as literal values.") from None
    else:
        raise NoAppException(f"Failed to parse {spec!r} as an attribute name or function call.")
    try:
        attr = getattr(module, name)
    except AttributeError:
        raise NoAppException(f"Failed to find attribute {name!r} in module {module.__name__!r}.") from None
    app = attr
    if inspect.isfunction(attr) or is_call:
        if not callable(attr):
            raise NoAppException(f"{module.__name__}:{name} is not callable, so it cannot be a factory.")
        app = _run_result(_call_factory(attr, args, kwargs, where))
    if not _is_app(app):
        raise NoAppException(f"{where!r} did not give a Firkin application (got {type(app).__name__}).")
    return app  # type: ignore[no-any-return]


def _find_best_app(module: ModuleType) -> Firkin:
    """The `app` or `application` attribute, the only Firkin instance, or `create_app`/`make_app()`."""
    for name in ("app", "application"):
        if _is_app(getattr(module, name, None)):
            return getattr(module, name)  # type: ignore[no-any-return]
    apps = [value for value in vars(module).values() if _is_app(value)]
    if len(apps) == 1:
        return apps[0]  # type: ignore[no-any-return]
    if len(apps) > 1:
        raise NoAppException(
            f"Found several Firkin applications in module {module.__name__!r}: "
            f"use '{module.__name__}:name' to say which one."
        )
    for name in ("create_app", "make_app"):
        factory = getattr(module, name, None)
        if inspect.isfunction(factory):
            app = _run_result(_call_factory(factory, (), {}, f"{module.__name__}:{name}"))
            if _is_app(app):
                return app  # type: ignore[no-any-return]
            raise NoAppException(
                f"The factory {module.__name__}:{name} did not return a Firkin application "
                f"(got {type(app).__name__})."
            )
    raise NoAppException(
        f"Failed to find a Firkin application or factory in module {module.__name__!r}: "
        f"use '{module.__name__}:name' to say which one."
    )


def _split_import_path(import_path: str) -> tuple[str, str]:
    # A colon followed by a slash or backslash is a Windows drive ("C:\\app.py"), not the separator.
    parts = re.split(r":(?![\\/])", import_path, maxsplit=1)
    return parts[0], parts[1] if len(parts) == 2 else ""


def locate_app(import_path: str) -> Firkin:
    """Import and return the app `import_path` names: `module`, `module:name`, `module:factory(args)`,
    or a file path in place of the module."""
    return _locate(*_split_import_path(import_path))


def _locate(module_path: str, name: str) -> Firkin:
    module = _import_module(_module_name_for(module_path))
    return _find_app_by_string(module, name) if name else _find_best_app(module)
