"""Helpers from Flask's API, async where they do I/O: url_for, redirect, abort, make_response, ..."""

from __future__ import annotations

import functools
import io
import mimetypes
import os
import time
import unicodedata
import warnings
import zlib
from collections.abc import Callable, Coroutine, Generator, Iterable
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import anyio
from werkzeug.exceptions import NotFound
from werkzeug.exceptions import abort as _wz_abort
from werkzeug.http import dump_options_header
from werkzeug.security import safe_join

from ._sync import also_sync
from .ctx import stream_with_context
from .globals import _cv_app, _cv_request
from .signals import message_flashed

if TYPE_CHECKING:
    from .wrappers import Response, ResponseBody

__all__ = [
    "abort",
    "flash",
    "get_debug_flag",
    "get_flashed_messages",
    "get_load_dotenv",
    "get_template_attribute",
    "make_push_promise",
    "make_response",
    "redirect",
    "send_early_hints",
    "send_file",
    "send_from_directory",
    "stream_with_context",
    "url_for",
]


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

        response = _redirect(location, code=code, Response=Response or _Response)  # type: ignore[arg-type,assignment]
    return response


def abort(code: int | Response, *args: Any, **kwargs: Any) -> NoReturn:
    """Raise the HTTPException for `code` (through the app's aborter when an app is active)."""
    ctx = _cv_app.get(None)
    if ctx is not None:
        ctx.app.aborter(code, *args, **kwargs)
    _wz_abort(code, *args, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover


def make_response(*args: Any) -> Response:
    """Turn view return values into a Response: `make_response("x", 201)`, as in Flask. The response
    can be awaited (it gives itself), so Quart's `await make_response("x", 201)` works too."""
    ctx = _cv_app.get(None)
    if ctx is None:
        raise RuntimeError("make_response() needs an application context")
    if not args:
        return ctx.app.response_class()
    value: Any = args[0] if len(args) == 1 else args
    return ctx.app.make_response(value)


@also_sync
async def send_file(
    path_or_file: str | bytes | os.PathLike[str] | IO[bytes],
    mimetype: str | None = None,
    as_attachment: bool = False,
    download_name: str | None = None,
    conditional: bool = True,
    etag: bool | str = True,
    last_modified: datetime | int | float | None = None,
    max_age: int | Callable[[str | None], int | None] | None = None,
    *,
    attachment_filename: str | None = None,
    add_etags: bool | None = None,
    cache_timeout: int | None = None,
) -> Response:
    """A response that sends a file, streamed from disk in chunks: `return await send_file(path)`
    (in a plain `def` view, `return send_file(path)`: sync code gets the response directly).

    `path_or_file` is a path (relative ones are relative to the app's `root_path`) or a binary file
    object such as a BytesIO (it is closed once sent). Never pass a path that comes from the
    client: use `send_from_directory` for those.

    The mimetype is guessed from the file's name (or `download_name`); `as_attachment` asks the
    browser to save the file, as `download_name`. `conditional` answers `If-None-Match`,
    `If-Modified-Since` (304) and `Range` (206) requests; that needs the size, which a path or a
    BytesIO gives. `etag` is computed from the file's path, size and mtime, or is the string given.
    `max_age` (seconds; default: `app.get_send_file_max_age`, i.e. SEND_FILE_MAX_AGE_DEFAULT) makes
    the response publicly cacheable that long; without it caches must revalidate (`no-cache`).

    It needs an application context, not a request: outside a request (a background task, a CLI
    command, a test in `app.app_context()`) there are no conditional headers to answer, so
    `conditional` does nothing.

    Quart's keyword names work too: `attachment_filename` (`download_name`), `add_etags` (`etag`)
    and `cache_timeout` (`max_age`); the defaults are Flask's (docs/firkin/coming-from-quart.md).
    """
    from .wrappers import FileBody, IOBody

    if attachment_filename is not None:
        if download_name is not None:
            raise TypeError("pass download_name or attachment_filename (Quart's name for it), not both")
        download_name = attachment_filename
    if add_etags is not None:
        if etag is not True:
            raise TypeError("pass etag or add_etags (Quart's name for it), not both")
        etag = add_etags
    if cache_timeout is not None:
        if max_age is not None:
            raise TypeError("pass max_age or cache_timeout (Quart's name for it), not both")
        max_age = cache_timeout
    app_ctx = _cv_app.get(None)
    if app_ctx is None:
        raise RuntimeError(
            "send_file() needs an application context: call it in a view, or inside "
            "`async with app.app_context():`."
        )
    app = app_ctx.app
    path: str | None = None
    size: int | None = None
    mtime: float | None = None
    body: ResponseBody
    if isinstance(path_or_file, bytes):  # a path as bytes, as Quart and Flask take it
        path_or_file = os.fsdecode(path_or_file)
    if isinstance(path_or_file, str | os.PathLike):
        path = os.path.join(app.root_path, os.fspath(path_or_file))  # an absolute path stays as is
        stat = await anyio.Path(path).stat()
        size, mtime = stat.st_size, stat.st_mtime
        body = FileBody(path, end=size)  # a file that grows after the stat is not sent past its length
    else:
        if isinstance(path_or_file, io.BytesIO):
            size = path_or_file.getbuffer().nbytes
        body = IOBody(path_or_file)  # refuses text files

    if download_name is None and path is not None:
        download_name = os.path.basename(path)
    encoding: str | None = None
    if mimetype is None:
        if download_name is None:
            await body.aclose()
            raise _NoMimetypeError(
                "Unable to detect the MIME type because a file name is not available. Either set "
                "'mimetype' or 'download_name', or pass a path instead of a file."
            )
        mimetype, encoding = mimetypes.guess_type(download_name)
        mimetype = mimetype or "application/octet-stream"
    if download_name is None and as_attachment:
        await body.aclose()
        raise TypeError(
            "No name provided for attachment. Either set 'download_name' or pass a path instead of a file."
        )

    response = app.response_class(body, mimetype=mimetype)
    if encoding is not None and not as_attachment:
        # Not for attachments: browsers would save a .tar.gz decompressed.
        response.headers["Content-Encoding"] = encoding
    if download_name is not None:
        response.headers["Content-Disposition"] = _content_disposition(download_name, as_attachment)
    if size is not None:
        response.content_length = size
    if last_modified is not None:
        response.last_modified = last_modified  # type: ignore[assignment]
    elif mtime is not None:
        response.last_modified = mtime  # type: ignore[assignment]

    if max_age is None:
        max_age = app.get_send_file_max_age
    if callable(max_age):
        max_age = max_age(path)
    response.cache_control.no_cache = True
    if max_age is not None:
        if max_age > 0:
            response.cache_control.no_cache = None
            response.cache_control.public = True
        response.cache_control.max_age = max_age
        response.expires = int(time.time() + max_age)  # type: ignore[assignment]

    if isinstance(etag, str):
        response.set_etag(etag)
    elif etag and path is not None:
        # Changes when the file is replaced, grows or moves; cheap: no need to read the file.
        response.set_etag(f"{mtime}-{size}-{zlib.adler32(path.encode()) & 0xFFFFFFFF}")

    req_ctx = _cv_request.get(None) if conditional else None
    if req_ctx is not None:  # no request, no conditional headers to answer
        await response.make_conditional(req_ctx.request, accept_ranges=True, complete_length=size)
    return response


class _NoMimetypeError(TypeError, ValueError):
    """send_file() cannot tell the mimetype. Both a TypeError (Flask's / werkzeug's error) and a
    ValueError (Quart's), so code written for either catches it."""


def _content_disposition(name: str, as_attachment: bool) -> str:
    kind = "attachment" if as_attachment else "inline"
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        # RFC 6266 §4.3: `filename*` carries the real name (RFC 8187 encoding, attr-char kept as
        # is), `filename` an ASCII approximation for clients that do not read `filename*`.
        fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        encoded = quote(name, safe="!#$&+-.^_`|~")
        return dump_options_header(kind, {"filename": fallback, "filename*": f"UTF-8''{encoded}"})
    return dump_options_header(kind, {"filename": name})


@also_sync
async def send_from_directory(
    directory: str | os.PathLike[str], path: str | os.PathLike[str], **kwargs: Any
) -> Response:
    """Send the file at `path` (which may come from the client) inside `directory` (which must not):
    404 when `path` leaves the directory (`..`, an absolute path) or is not a regular file. The
    keyword arguments are `send_file`'s. A relative `directory` is relative to the app's root_path.

    Sending needs an application context (as in Flask; not a request). The 404 checks do not, when
    `directory` is absolute: a missing file is a NotFound with or without one.
    """
    app_ctx = _cv_app.get(None)
    if app_ctx is None and not os.path.isabs(directory):
        raise RuntimeError(
            "send_from_directory() needs an application context (a relative directory is relative "
            "to the app's root_path): call it in a view, or inside `async with app.app_context():`."
        )
    joined = safe_join(os.fspath(directory), os.fspath(path))
    if joined is None:
        raise NotFound()
    full_path = os.path.join(app_ctx.app.root_path, joined) if app_ctx is not None else joined
    if not await anyio.Path(full_path).is_file():
        raise NotFound()
    return await send_file(full_path, **kwargs)


@also_sync
async def get_template_attribute(template_name: str, attribute: str) -> Any:
    """An attribute (a macro, a variable set at the top level) of a template, to use it from
    Python: `hello = await get_template_attribute("_macros.html", "hello")`. Templates run in
    Jinja's async mode, so calling a macro gives an awaitable: `html = await hello("World")`.
    Awaitable, unlike Quart's (which raises "Module is not available in async mode")."""
    ctx = _cv_app.get(None)
    if ctx is None:
        raise RuntimeError(
            "get_template_attribute() needs an application context: call it in a view, or inside "
            "`async with app.app_context():`."
        )
    template = ctx.app.jinja_env.get_template(template_name)
    module = await template.make_module_async()
    return getattr(module, attribute)


async def make_push_promise(path: str) -> None:
    """Push `path` to the client with this response (HTTP/2 server push), as
    `await request.send_push_promise(path)` does. Does nothing unless the ASGI server offers the
    `http.response.push` extension (few do, and browsers have dropped push). Needs a request
    context."""
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "make_push_promise() needs a request context: call it in a view, or inside "
            "`async with app.test_request_context():`."
        )
    await ctx.request.send_push_promise(path)


async def send_early_hints(*links: str) -> None:
    """Send `103 Early Hints` with these Link values before the response, as
    `await request.send_early_hints(*links)` does: the browser starts fetching them while the view
    works. Does nothing where the server does not offer early hints. Needs a request context."""
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "send_early_hints() needs a request context: call it in a view, or inside "
            "`async with app.test_request_context():`."
        )
    await ctx.request.send_early_hints(*links)


class _Flashed:
    """What `flash()` returns. The message is in the session already; awaiting this (Quart's
    `await flash(...)`) also runs the `message_flashed` receivers that are coroutine functions."""

    __slots__ = ("_pending",)

    def __init__(self, pending: list[Callable[[], Coroutine[Any, Any, Any]]]) -> None:
        self._pending = pending

    def __await__(self) -> Generator[Any, None, None]:
        pending, self._pending = self._pending, []
        for call in pending:
            yield from call().__await__()

    def __del__(self) -> None:
        if self._pending:
            warnings.warn(
                "flash() has async message_flashed receivers, which run only when the flash is "
                "awaited: write `await flash(...)`",
                RuntimeWarning,
                stacklevel=1,
            )


def flash(message: str, category: str = "message") -> _Flashed:
    """Store `message` (with a `category`) in the session, for `get_flashed_messages()` in a later
    request. Needs a request context and a session (set SECRET_KEY).

    Synchronous, as in Flask: it only touches the session, so it works in sync views (which run in
    a worker thread) too. It returns an awaitable, so that Quart's `await flash(...)` works as well;
    awaiting is needed only to run `message_flashed` receivers that are `async def` (sync receivers
    run at once)."""
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "flash() needs a request context: call it in a view, or inside "
            "`async with app.test_request_context():`."
        )
    session = ctx.session
    assert session is not None  # opened when the context was pushed
    flashes = session.get("_flashes", [])
    flashes.append((category, message))
    session["_flashes"] = flashes  # assigned, not only mutated: marks the session modified
    pending: list[Callable[[], Coroutine[Any, Any, Any]]] = []
    if message_flashed.receivers:

        def defer(receiver: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., None]:
            def record(sender: Any, **kwargs: Any) -> None:
                pending.append(functools.partial(receiver, sender, **kwargs))

            return record

        message_flashed.send(ctx.app, _async_wrapper=defer, message=message, category=category)
    return _Flashed(pending)


def get_flashed_messages(
    with_categories: bool = False, category_filter: Iterable[str] = ()
) -> list[str] | list[tuple[str, str]]:
    """The messages flashed (in this or earlier requests) and not yet shown, oldest first; as
    `(category, message)` pairs with `with_categories`. They are removed from the session; later
    calls in the same request return them again. `category_filter` keeps only those categories
    (the others are removed from the session all the same)."""
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "get_flashed_messages() needs a request context: call it in a view or a template, or "
            "inside `async with app.test_request_context():`."
        )
    flashes = ctx.flashes
    if flashes is None:
        session = ctx.session
        flashes = session.pop("_flashes") if session is not None and "_flashes" in session else []
        ctx.flashes = flashes
    if category_filter:
        flashes = [flash for flash in flashes if flash[0] in category_filter]
    if with_categories:
        return flashes
    return [message for _, message in flashes]
