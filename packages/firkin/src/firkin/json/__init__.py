"""JSON helpers that use the current app's JSON provider (`app.json`), as in Flask."""

from __future__ import annotations

import json as _json
from typing import IO, TYPE_CHECKING, Any

from flask.json.provider import DefaultJSONProvider, JSONProvider

from firkin._fastpaths.responses import default_content_type
from firkin._responses import json_body
from firkin.globals import _cv_app

if TYPE_CHECKING:
    from firkin.wrappers import Response

__all__ = ["DefaultJSONProvider", "JSONProvider", "dump", "dumps", "jsonify", "load", "loads"]


def dumps(obj: Any, **kwargs: Any) -> str:
    ctx = _cv_app.get(None)
    if ctx is not None:
        return ctx.app.json.dumps(obj, **kwargs)
    kwargs.setdefault("default", DefaultJSONProvider.default)
    return _json.dumps(obj, **kwargs)


def dump(obj: Any, fp: IO[str], **kwargs: Any) -> None:
    fp.write(dumps(obj, **kwargs))


def loads(s: str | bytes, **kwargs: Any) -> Any:
    ctx = _cv_app.get(None)
    if ctx is not None:
        return ctx.app.json.loads(s, **kwargs)
    return _json.loads(s, **kwargs)


def load(fp: IO[Any], **kwargs: Any) -> Any:
    return loads(fp.read(), **kwargs)


def jsonify(*args: Any, **kwargs: Any) -> Response:
    """A JSON response for the arguments (one value, several as a list, or keyword arguments)."""
    ctx = _cv_app.get(None)
    if ctx is None:
        raise RuntimeError(
            "jsonify() needs an application context: call it in a view or `async with app.app_context()`"
        )
    app = ctx.app
    provider = app.json
    if type(provider) is DefaultJSONProvider:
        # What DefaultJSONProvider.response() builds, built directly (as make_response does for a
        # returned dict): the same body, the same content type.
        obj = provider._prepare_response_obj(args, kwargs)
        body = json_body(provider, obj, app.config["DEBUG"])
        return app.response_class.of_data(body, default_content_type(provider.mimetype))
    response: Response = provider.response(*args, **kwargs)  # type: ignore[assignment]
    return response
