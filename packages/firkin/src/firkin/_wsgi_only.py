"""What firkin answers code that needs WSGI: `request.environ` and `app.wsgi_app` exist in Flask,
not here (firkin serves ASGI). The error names the code that asked, by its distribution when it is
an installed package ("Flask-DebugToolbar, in flask_debugtoolbar.panels.headers, line 50"), so a
user sees which extension cannot run and why, rather than an AttributeError deep inside it."""

from __future__ import annotations

import functools
import importlib.metadata
import sys
from types import FrameType

__all__ = ["WSGIOnlyError", "wsgi_only"]

# Frames that only pass the attribute on (the proxies, firkin itself): the caller is above them.
_PASSING_ON = ("firkin.", "werkzeug.local", "flask.globals")


class WSGIOnlyError(AttributeError):
    """Raised by WSGI-only attributes (`request.environ`, `app.wsgi_app`). An AttributeError, so
    code that probes with `hasattr` or `getattr(..., default)` goes its other way."""


def wsgi_only(what: str, instead: str) -> WSGIOnlyError:
    """The error for a use of `what` (a WSGI-only attribute), naming its caller; `instead` says
    what firkin has in its place."""
    return WSGIOnlyError(
        f"{_caller()} uses {what}, which is WSGI's: firkin serves ASGI and has no {what}. "
        f"{instead} Code that needs WSGI internals (WSGI middleware, an extension that reads the "
        "environ) does not run on firkin; docs/firkin/extensions.md lists the extensions that do."
    )


def _caller() -> str:
    frame: FrameType | None = sys._getframe(2)  # (wsgi_only's caller is the attribute: start above it)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(_PASSING_ON):
        frame = frame.f_back
    if frame is None:
        return "Code"
    module = str(frame.f_globals.get("__name__", "?"))
    where = f"{module}, line {frame.f_lineno}"
    names = _distributions().get(module.partition(".")[0])
    return f"{names[0]} (in {where})" if names else f"Code in {where}"


@functools.cache
def _distributions() -> dict[str, list[str]]:
    """Top-level package -> the distributions that install it (scanned once, on the first error)."""
    return dict(importlib.metadata.packages_distributions())
