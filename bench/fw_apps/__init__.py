"""The same small app in four frameworks, for bench/frameworks.py and bench/inprocess.py.

Every app has three routes: ``GET /`` the text ``Hello, world!``, ``GET /json`` a small JSON object
(``JSON_BODY``) and ``GET /user/<int:id>`` a JSON object with the id (``user_body(id)``). Each is written
the way that framework's documentation writes it: Flask, Quart and firkin return a str and dicts,
Starlette returns ``PlainTextResponse`` and ``JSONResponse``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "ECHO_BODY",
    "FORM_BODY",
    "HELLO",
    "JSON_BODY",
    "MULTIPART_BODY",
    "MULTIPART_TYPE",
    "REQUESTS",
    "SECRET_KEY",
    "TEMPLATES",
    "TEMPLATE_CONTEXT",
    "UPLOAD_SIZE",
    "USER_ID",
    "Expected",
    "template_body",
    "user_body",
]

HELLO = "Hello, world!"
JSON_BODY: dict[str, Any] = {"message": "Hello, world!", "id": 1, "ok": True}


def user_body(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "name": f"user {user_id}"}


# The idioms rows (issue 11 part 3): what Flask users write besides `return "..."` and dicts.
# GET /tuple     return HELLO, 200, {"Content-Type": "text/plain"} (Starlette: Response(..., headers))
# GET /response  Response(HELLO, content_type="text/plain")      (Starlette: PlainTextResponse)
# GET /jsonify   jsonify(JSON_BODY)                                (Starlette: JSONResponse)
# GET /template  render_template("hello.html", **TEMPLATE_CONTEXT) (Starlette: Jinja2Templates)
# GET /redirect  redirect("/") -> 302                              (Starlette: RedirectResponse)
# GET /abort     abort(404) -> werkzeug's 404 page                 (Starlette: raise HTTPException(404))
# POST /form     the urlencoded FORM_BODY, answers its "name"      (Starlette: await request.form())
# POST /echo     a 16 KiB body, echoed                             (Starlette: await request.body())
# GET /s/session a blueprint's before_request hook reads the session, the view answers from it
#                (no session cookie: the session is read, empty)   (Starlette: SessionMiddleware)
# POST /upload   a multipart upload of one UPLOAD_SIZE-byte file, answers its size
TEMPLATES = str(Path(__file__).resolve().parent / "templates")
TEMPLATE_CONTEXT: dict[str, Any] = {"title": "Hello", "items": [f"item {i}" for i in range(10)]}
FORM_BODY = "name=alice&email=alice%40example.com&age=30"
UPLOAD_SIZE = 4096
_BOUNDARY = "benchboundary7MA4YWxkTrZu0gW"
MULTIPART_TYPE = f"multipart/form-data; boundary={_BOUNDARY}"
MULTIPART_BODY = (
    f"--{_BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="file"; filename="notes.txt"\r\n'
    "Content-Type: text/plain\r\n\r\n" + "x" * UPLOAD_SIZE + f"\r\n--{_BOUNDARY}--\r\n"
)
SECRET_KEY = "bench-secret"


def template_body() -> str:
    """What hello.html renders to with TEMPLATE_CONTEXT (every app's /template answers this)."""
    items = "".join(f"<li>{item}</li>" for item in TEMPLATE_CONTEXT["items"])
    return f"<!doctype html>\n<title>{TEMPLATE_CONTEXT['title']}</title>\n<ul>{items}</ul>"


ECHO_BODY = "x" * 16384
USER_ID = 123


class Expected(NamedTuple):
    """One benchmark row's request, and what every app must answer to it."""

    method: str
    path: str
    body: str | None
    content_type: str | None
    status: int
    want: Any  # the body: a str, a JSON value, or None (any: an error page or a redirect's)


# Each row's request (by bench/frameworks.py's row name; "latency" is "plaintext" on one connection).
REQUESTS: dict[str, Expected] = {
    "plaintext": Expected("GET", "/", None, None, 200, HELLO),
    "json": Expected("GET", "/json", None, None, 200, JSON_BODY),
    "user": Expected("GET", f"/user/{USER_ID}", None, None, 200, user_body(USER_ID)),
    "tuple": Expected("GET", "/tuple", None, None, 200, HELLO),
    "response": Expected("GET", "/response", None, None, 200, HELLO),
    "jsonify": Expected("GET", "/jsonify", None, None, 200, JSON_BODY),
    "template": Expected("GET", "/template", None, None, 200, template_body()),
    "redirect": Expected("GET", "/redirect", None, None, 302, None),
    "abort": Expected("GET", "/abort", None, None, 404, None),
    "form": Expected("POST", "/form", FORM_BODY, "application/x-www-form-urlencoded", 200, "alice"),
    "echo16k": Expected("POST", "/echo", ECHO_BODY, "application/octet-stream", 200, ECHO_BODY),
    "session": Expected("GET", "/s/session", None, None, 200, "Hello, anonymous!"),
    "upload": Expected("POST", "/upload", MULTIPART_BODY, MULTIPART_TYPE, 200, str(UPLOAD_SIZE)),
}
