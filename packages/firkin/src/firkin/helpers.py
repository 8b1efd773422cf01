"""Helpers from Flask's API, async where they do I/O: url_for, redirect, abort, make_response, ..."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NoReturn

from werkzeug.exceptions import abort as _wz_abort

from .globals import _cv_app

if TYPE_CHECKING:
    from .wrappers import Response

__all__ = ["abort", "get_debug_flag", "get_load_dotenv", "make_response", "redirect", "url_for"]


def get_debug_flag() -> bool:
    """Whether debug mode is asked for through the FIRKIN_DEBUG environment variable."""
    value = os.environ.get("FIRKIN_DEBUG")
    return value is not None and value.lower() not in ("", "0", "false", "no")


def get_load_dotenv(default: bool = True) -> bool:
    value = os.environ.get("FIRKIN_SKIP_DOTENV")
    if not value:
        return default
    return value.lower() in ("0", "false", "no")


def url_for(
    endpoint: str,
    *,
    _anchor: str | None = None,
    _method: str | None = None,
    _scheme: str | None = None,
    _external: bool | None = None,
    **values: Any,
) -> str:
    """The URL of `endpoint` (".name" is relative to the current blueprint). Needs an app context;
    `_external=True` (the default outside a request) needs SERVER_NAME or a request."""
    ctx = _cv_app.get(None)
    if ctx is None:
        raise RuntimeError(
            "Attempted to generate a URL without the application context being pushed. "
            "Use `async with app.app_context():` (or `with`), or call it in a view."
        )
    return ctx.app.url_for(
        endpoint, _anchor=_anchor, _method=_method, _scheme=_scheme, _external=_external, **values
    )


def redirect(location: str, code: int = 302, Response: type[Response] | None = None) -> Response:
    """A redirect response to `location`."""
    ctx = _cv_app.get(None)
    if ctx is not None:
        response = ctx.app.redirect(location, code=code)
    else:
        from werkzeug.utils import redirect as _redirect

        from .wrappers import Response as _Response

        response = _redirect(location, code=code, Response=Response or _Response)  # type: ignore[arg-type]
    return response  # type: ignore[return-value]


def abort(code: int | Response, *args: Any, **kwargs: Any) -> NoReturn:
    """Raise the HTTPException for `code` (through the app's aborter when an app is active)."""
    ctx = _cv_app.get(None)
    if ctx is not None:
        ctx.app.aborter(code, *args, **kwargs)
    _wz_abort(code, *args, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover


async def make_response(*args: Any) -> Response:
    """Turn view return values into a Response (awaitable, as in Quart): `await make_response("x", 201)`."""
    ctx = _cv_app.get(None)
    if ctx is None:
        raise RuntimeError("make_response() needs an application context")
    if not args:
        return ctx.app.response_class()
    value: Any = args[0] if len(args) == 1 else args
    return await ctx.app.make_response(value)
