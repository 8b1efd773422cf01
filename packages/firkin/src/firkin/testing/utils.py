"""Building test requests: ASGI scopes and bodies from the arguments tests use."""

from __future__ import annotations

import json as _json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode, urlsplit

from werkzeug.datastructures import Authorization, FileStorage, Headers, MultiDict
from werkzeug.test import EnvironBuilder
from werkzeug.urls import iri_to_uri

from firkin.wrappers import Body

if TYPE_CHECKING:
    from firkin.app import Firkin
    from firkin.wrappers import Request

__all__ = [
    "make_scope_and_body",
    "make_test_body_with_headers",
    "make_test_headers_path_and_query_string",
    "make_test_request",
    "make_test_scope",
    "no_op_push",
    "sentinel",
]


def query_bytes(
    path: str, query_string: dict[str, Any] | MultiDict[str, Any] | str | bytes | None
) -> tuple[str, bytes]:
    """The path without its query, and the query bytes: the path's own query, then `query_string`."""
    split = urlsplit(path)
    query = split.query.encode("latin-1")
    if query_string is not None:
        if isinstance(query_string, bytes):
            extra = query_string
        elif isinstance(query_string, str):
            extra = query_string.encode("latin-1")
        else:
            items = (
                query_string.items(multi=True)
                if isinstance(query_string, MultiDict)
                else query_string.items()
            )
            extra = urlencode(list(items), doseq=True).encode("latin-1")
        query = query + b"&" + extra if query else extra
    return split.path or "/", query


#: "No JSON body given" (Quart's name): `json=None` is a valid JSON body, `null`.
sentinel: Any = object()


async def no_op_push(path: str, headers: Headers) -> None:
    """A push promise that goes nowhere (what Quart's test requests push with)."""


def with_auth(headers: Headers, auth: Authorization | tuple[str, str] | None) -> None:
    if auth is not None:
        if isinstance(auth, tuple):
            auth = Authorization("basic", {"username": auth[0], "password": auth[1]})
        headers.setdefault("Authorization", auth.to_header())


def with_host(app: Firkin, headers: Headers, subdomain: str | None = None) -> None:
    """Give a test request a Host header unless it has one: SERVER_NAME, else `localhost`, with
    the subdomain in front."""
    if "Host" not in headers:
        host = app.config["SERVER_NAME"] or "localhost"
        headers["Host"] = f"{subdomain}.{host}" if subdomain is not None else host


def make_test_headers_path_and_query_string(
    app: Firkin,
    path: str,
    headers: dict[str, str] | Headers | list[tuple[str, str]] | None = None,
    query_string: dict[str, Any] | MultiDict[str, Any] | str | bytes | None = None,
    auth: Authorization | tuple[str, str] | None = None,
    subdomain: str | None = None,
) -> tuple[Headers, str, bytes]:
    """Quart's helper: the headers of a test request (Host from SERVER_NAME or `localhost`, with the
    subdomain in front; a User-Agent; Basic auth), its path (percent-decoded) and query string."""
    header_map = Headers(headers) if headers is not None else Headers()
    with_auth(header_map, auth)
    header_map.setdefault("User-Agent", "Firkin")
    with_host(app, header_map, subdomain)
    path_only, query = query_bytes(path, query_string)
    return header_map, unquote(path_only), query


def make_test_body_with_headers(
    *,
    data: bytes | str | dict[str, Any] | None = None,
    form: dict[str, Any] | MultiDict[str, Any] | None = None,
    files: dict[str, Any] | None = None,
    json: Any = sentinel,
    app: Firkin | None = None,
    method: str = "POST",
) -> tuple[bytes, Headers]:
    """Quart's helper: a request body from at most one of `data`, `form` (with `files`) and `json`,
    and the Content-Type header it needs."""
    given = (
        sum(value is not None for value in (data, form))
        + (json is not sentinel)
        + (files is not None and form is None and data is None)
    )
    if given > 1:
        raise ValueError("give at most one of data, form and json (files go with form)")
    headers = Headers()
    body = b""
    if json is not sentinel:
        body = app.json.dumps(json).encode() if app is not None else _json.dumps(json).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None or files is not None or isinstance(data, dict):
        fields: dict[str, Any] = {}
        for source in (form, data if isinstance(data, dict) else None):
            if source is not None:
                items = source.items(multi=True) if isinstance(source, MultiDict) else source.items()
                fields.update(items)
        for name, value in (files or {}).items():
            fields[name] = (
                value if isinstance(value, FileStorage | tuple) else (value, getattr(value, "name", name))
            )
        builder = EnvironBuilder(method=method, data=fields)
        try:
            environ = builder.get_environ()  # werkzeug encodes the form (urlencoded or multipart)
            body = environ["wsgi.input"].read()
            content_type = environ.get("CONTENT_TYPE")
        finally:
            builder.close()
        if content_type:
            headers["Content-Type"] = content_type
    elif data is not None:
        body = data.encode() if isinstance(data, str) else data
    return body, headers


def make_test_scope(
    type_: str,
    path: str,
    method: str,
    headers: Headers,
    query_string: bytes,
    scheme: str,
    root_path: str,
    http_version: str,
    scope_base: dict[str, Any] | None,
    *,
    client: tuple[str, int] = ("127.0.0.1", 50000),
    _preserve_context: bool = False,
) -> dict[str, Any]:
    """Quart's helper: the ASGI scope of a test request (`type_` "http") or handshake ("websocket").
    `path` may include `root_path` or not (ASGI's `path` does); HTTP/2 and 3 requests get the
    `http.response.push` extension, as a server offering push would. `_preserve_context` is
    accepted for Quart's signature; firkin's client keeps contexts with `async with client:`."""
    root_path = root_path.rstrip("/")
    if root_path and path != root_path and not path.startswith(root_path + "/"):
        path = root_path + path
    host = headers.get("Host", "localhost")
    secure = scheme in ("https", "wss")
    scope: dict[str, Any] = {
        "type": type_,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": http_version,
        "scheme": scheme,
        "path": path,
        "raw_path": iri_to_uri(path).encode("ascii"),  # as a client sends it: percent-encoded
        "query_string": query_string,
        "root_path": root_path,
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ],
        "client": client,
        "server": (host.split(":")[0], 443 if secure else 80),
        "state": {},
    }
    if type_ == "http":
        scope["method"] = method.upper()
        # As tapster offers them: early hints and server push over HTTP/2 (and 3), nothing over HTTP/1.
        scope["extensions"] = (
            {"http.response.early_hint": {}, "http.response.push": {}} if http_version in ("2", "3") else {}
        )
    else:
        scope["subprotocols"] = []
        scope["extensions"] = {"websocket.http.response": {}}
    if scope_base is not None:
        scope.update(scope_base)
    return scope


def make_scope_and_body(
    app: Firkin,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | Headers | list[tuple[str, str]] | None = None,
    query_string: dict[str, Any] | MultiDict[str, Any] | str | bytes | None = None,
    scheme: str = "http",
    data: bytes | str | dict[str, Any] | None = None,
    form: dict[str, Any] | MultiDict[str, Any] | None = None,
    files: dict[str, Any] | None = None,
    json: Any = None,
    root_path: str = "",
    http_version: str = "1.1",
    client: tuple[str, int] = ("127.0.0.1", 50000),
    auth: Authorization | tuple[str, str] | None = None,
    subdomain: str | None = None,
    scope_base: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], bytes]:
    """An ASGI http scope and the request body for a test request.

    `root_path` is the prefix the app is mounted at. The path may include it, as in the ASGI scope
    (Quart's style: `"/bob/"` with `root_path="/bob"`), or not (Flask's: `"/"`); both request
    `/bob/`. `auth` is a `(username, password)` pair for Basic auth, or a werkzeug
    `Authorization`; `subdomain` is put in front of the host (SERVER_NAME, else `localhost`) unless
    a Host header is given; `scope_base` is merged into the scope last (e.g. `{"client": (ip, port)}`).
    HTTP/2 and 3 requests get the `http.response.push` extension, as a server offering push would."""
    body, body_headers = make_test_body_with_headers(
        data=data, form=form, files=files, json=sentinel if json is None else json, app=app, method=method
    )
    header_map = Headers(headers) if headers is not None else Headers()
    with_auth(header_map, auth)
    content_type = body_headers.get("Content-Type")
    if content_type is not None:
        if json is not None:
            header_map.setdefault("Content-Type", content_type)  # the test's own type wins
        else:
            header_map["Content-Type"] = content_type  # the form encoding werkzeug chose
    if body or method in ("POST", "PUT", "PATCH"):
        header_map.setdefault("Content-Length", str(len(body)))
    path_only, query = query_bytes(path, query_string)
    with_host(app, header_map, subdomain)
    scope = make_test_scope(
        "http",
        path_only,
        method,
        header_map,
        query,
        scheme,
        root_path,
        http_version,
        scope_base,
        client=client,
    )
    return scope, body


def make_test_request(app: Firkin, path: str = "/", **kwargs: Any) -> Request:
    """A Request object for `path` without sending it (for `app.test_request_context`)."""
    from firkin.asgi import request_from_scope

    scope, body = make_scope_and_body(app, path, **kwargs)
    return request_from_scope(app, scope, Body(None, body))
