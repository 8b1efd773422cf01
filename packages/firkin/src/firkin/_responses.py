"""What a view returns, made into a response: every Flask form beyond `app.make_response`'s fast path."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from flask.json.provider import DefaultJSONProvider
from markupsafe import escape
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException, default_exceptions
from werkzeug.routing import RequestRedirect, RoutingException
from werkzeug.sansio.response import Response as SansIOResponse
from werkzeug.wrappers import Response as WSGIResponse

if TYPE_CHECKING:
    from .app import Firkin
    from .typing import ResponseReturnValue
    from .wrappers import Response

__all__ = ["json_body", "make_general_response", "redirect_response"]


def make_general_response(app: Firkin, rv: ResponseReturnValue | HTTPException) -> Response:
    """`app.make_response` for everything but a plain str, dict or list: tuples with a status and/or
    headers, bytes, Response objects (werkzeug's too), HTTP exceptions, iterables to stream."""
    status: int | str | None = None
    headers: Any = None
    if type(rv) is tuple:
        fast = _tuple_response(app, rv)
        if fast is not None:
            return fast
    if isinstance(rv, tuple):
        length = len(rv)
        if length == 3:
            rv, status, headers = rv
        elif length == 2:
            if isinstance(rv[1], Headers | dict | tuple | list):
                rv, headers = rv
            else:
                rv, status = rv
        else:
            raise TypeError(
                "The view function did not return a valid response tuple. The tuple must have the form"
                " (body, status, headers), (body, status), or (body, headers)."
            )
    if rv is None:
        raise TypeError(
            "The view function did not return a valid response. The function either returned None"
            " or ended without a return statement."
        )
    if type(rv) in _PLAIN_ERRORS and rv.response is None:  # type: ignore[union-attr]
        fast = _error_response(app, rv)  # type: ignore[arg-type]
        if fast is not None:
            return fast
    given: object = rv
    if isinstance(rv, HTTPException) and rv.response is not None:
        given = rv.response  # abort(response): that response is the answer
    if isinstance(given, SansIOResponse):
        rv = given if isinstance(given, app.response_class) else _convert_response(app, given)
    response: Response
    if isinstance(rv, app.response_class):
        response = rv
    elif isinstance(rv, str | bytes | bytearray):
        response = app.response_class(rv, status=status, headers=headers)
        status = headers = None
    elif isinstance(rv, Mapping | list):  # any mapping is JSON (as typing.ResponseValue says), not streamed
        response = cast("Response", app.json.response(rv if isinstance(rv, dict | list) else dict(rv)))
    elif isinstance(rv, HTTPException):
        response = app.response_class(rv.get_body(), status=rv.code, headers=list(rv.get_headers()))
        if isinstance(rv, RequestRedirect):
            response.headers["Location"] = rv.new_url
    elif isinstance(rv, AsyncIterable | Iterable):
        response = app.response_class(rv, status=status, headers=headers)
        status = headers = None
    else:
        raise TypeError(
            f"The view function did not return a valid response. The return type must be a string,"
            f" dict, list, tuple with headers or status, Response instance, or generator, but it was a"
            f" {type(rv).__name__}."
        )
    if status is not None:
        if isinstance(status, str):
            response.status = status
        else:
            response.status_code = status
    if headers:
        response.headers.update(headers)
    return response


def _tuple_response(app: Firkin, rv: tuple[Any, ...]) -> Response | None:
    """`return body, status, headers` (or two of them) with a str or bytes body, an int status and
    headers as a dict or a list of str pairs, built directly; None for anything else."""
    body = rv[0]
    if type(body) is str:
        data = body.encode()
    elif type(body) is bytes:
        data = body
    else:
        return None
    status: Any = 200
    headers: Any = ()
    if len(rv) == 3:
        status, headers = rv[1], rv[2]
    elif len(rv) == 2:
        if type(rv[1]) is int:
            status = rv[1]
        else:
            headers = rv[1]
    else:
        return None
    if type(headers) is dict:
        headers = list(headers.items())
    elif type(headers) is tuple:
        headers = list(headers)  # a tuple of pairs
    elif type(headers) is not list:
        return None  # Headers objects and the rest: the usual way
    content_type = None
    for pair in headers:
        if type(pair) is not tuple or len(pair) != 2:
            return None
        lower = pair[0].lower() if type(pair[0]) is str else ""
        if lower == "content-type":
            if content_type is not None:
                return None
            content_type = pair[1]
        elif lower == "content-length":
            return None
    return app.response_class.of_parts(data, status, content_type, headers)


# The HTTP exceptions whose body and headers are HTTPException's own (werkzeug's plain 4xx and 5xx:
# NotFound, BadRequest, Forbidden, ...), not those adding headers (Allow, WWW-Authenticate, ...).
_PLAIN_ERRORS = frozenset(
    cls
    for cls in default_exceptions.values()
    if cls.get_headers is HTTPException.get_headers
    and cls.get_body is HTTPException.get_body
    and cls.get_description is HTTPException.get_description
    and not issubclass(cls, RoutingException)
)
_HTML = "text/html; charset=utf-8"
# The response of each plain HTTP exception, by response class, exception class and description:
# made once, handed out as copies. Bounded: descriptions may vary per call.
_error_responses: dict[tuple[type[Response], type[HTTPException], str | None], Response] = {}


def _error_response(app: Firkin, rv: HTTPException) -> Response | None:
    """The response of a plain HTTP exception (abort(404)), made once per description."""
    description = rv.description
    if description is not None and type(description) is not str:
        return None
    key = (app.response_class, type(rv), description)
    made = _error_responses.get(key)
    if made is None:
        code = rv.code
        assert code is not None
        built = app.response_class.of_parts(rv.get_body().encode(), code, _HTML, [("Content-Type", _HTML)])
        if built is None:
            return None
        made = built
        if len(_error_responses) < 256:
            _error_responses[key] = made
        else:
            return made
    return made._copy_direct()


def redirect_response(app: Firkin, location: str, code: int) -> Response | None:
    """What werkzeug's redirect() builds (the same body and headers, in its order), built directly;
    None when it cannot be."""
    if type(location) is not str:
        return None
    html = escape(location)
    body = (
        "<!doctype html>\n"
        "<html lang=en>\n"
        "<title>Redirecting...</title>\n"
        "<h1>Redirecting...</h1>\n"
        "<p>You should be redirected automatically to the target URL: "
        f'<a href="{html}">{html}</a>. If not, click the link.\n'
    ).encode()
    response = app.response_class.of_parts(body, code, _HTML, [("Content-Type", _HTML)])
    if response is None or not response._add_header("Location", location):
        return None
    return response


def _convert_response(app: Firkin, rv: SansIOResponse) -> Response:
    """A werkzeug (or Flask) response returned by a view, as this app's response class. A WSGI
    response's body is read in full (it is an iterable of the WSGI world)."""
    body = rv.get_data() if isinstance(rv, WSGIResponse) else b""
    response = app.response_class(body, status=rv.status, headers=Headers(rv.headers))
    return response


# Encoders for DefaultJSONProvider's settings: json.dumps() with arguments builds a new JSONEncoder
# on every call. An encoder keeps no state between encode() calls, so one per settings serves all.
_encoders: dict[tuple[Any, ...], json.JSONEncoder] = {}
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_escape_ascii = json.encoder.encode_basestring_ascii
_escape = json.encoder.encode_basestring


def json_body(provider: DefaultJSONProvider, obj: Any, debug: bool) -> bytes:
    """The body DefaultJSONProvider.response() sends (its dumps() settings: default, ensure_ascii,
    sort_keys), compact unless in debug mode (or with compact=False), and a final newline."""
    indent = (provider.compact is None and debug) or provider.compact is False
    if not indent and _c_make_encoder is not None and not isinstance(obj, str):
        # What JSONEncoder.encode() does for a compact one-shot encoding, without its two Python
        # frames: the C encoder, with a fresh dict for detecting circular references.
        chunks = _c_make_encoder(
            {},
            provider.default,
            _escape_ascii if provider.ensure_ascii else _escape,
            None,
            ":",
            ",",
            provider.sort_keys,
            False,
            True,
        )(obj, 0)
        return ("".join(chunks) + "\n").encode()
    key = (provider.default, provider.ensure_ascii, provider.sort_keys, indent)
    encoder = _encoders.get(key)
    if encoder is None:
        if len(_encoders) >= 32:  # bounded: the settings can be changed at run time
            _encoders.clear()
        layout: dict[str, Any] = {"indent": 2} if indent else {"separators": (",", ":")}
        encoder = _encoders[key] = json.JSONEncoder(
            default=provider.default,
            ensure_ascii=provider.ensure_ascii,
            sort_keys=provider.sort_keys,
            **layout,
        )
    return (encoder.encode(obj) + "\n").encode()
