"""The test client: requests through the app's ASGI interface, in process, with a cookie jar."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from werkzeug.datastructures import Headers

from firkin.globals import _cv_request
from firkin.wrappers import DataBody

from .utils import make_scope_and_body

if TYPE_CHECKING:
    from firkin.app import Firkin
    from firkin.sessions import SessionMixin
    from firkin.wrappers import Response

__all__ = ["FirkinClient"]

_REDIRECTS = (301, 302, 303, 305, 307, 308)


class _Cookie:
    __slots__ = ("expires", "path", "value")

    def __init__(self, value: str, path: str, expires: float | None) -> None:
        self.value = value
        self.path = path
        self.expires = expires


class FirkinClient:
    """`await client.get("/")`, `.post(json=...)`, `.put`, `.delete`, `.patch`, `.head`, `.options`;
    cookies are kept between requests; `session_transaction()` edits the session."""

    def __init__(self, app: Firkin, use_cookies: bool = True) -> None:
        self.app = app
        self.use_cookies = use_cookies
        self.cookies: dict[str, _Cookie] = {}
        self.preserve_context = False

    # ----------------------------------------------------------------- cookies

    def set_cookie(self, key: str, value: str = "", *, path: str = "/") -> None:
        self.cookies[key] = _Cookie(value, path, None)

    def delete_cookie(self, key: str) -> None:
        self.cookies.pop(key, None)

    def get_cookie(self, key: str) -> str | None:
        cookie = self.cookies.get(key)
        return cookie.value if cookie is not None and not self._expired(cookie) else None

    @staticmethod
    def _expired(cookie: _Cookie) -> bool:
        return cookie.expires is not None and cookie.expires <= time.time()

    def _cookie_header(self, path: str) -> str | None:
        pairs = [
            f"{name}={cookie.value}"
            for name, cookie in self.cookies.items()
            if not self._expired(cookie) and path.startswith(cookie.path.rstrip("/") or "/")
        ]
        return "; ".join(pairs) if pairs else None

    def _store_cookies(self, headers: Headers) -> None:
        for header in headers.getlist("Set-Cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                expires: float | None = None
                if morsel["max-age"]:
                    expires = time.time() + int(morsel["max-age"])
                elif morsel["expires"]:
                    from email.utils import parsedate_to_datetime

                    expires = parsedate_to_datetime(morsel["expires"]).timestamp()
                cookie = _Cookie(morsel.value, morsel["path"] or "/", expires)
                if self._expired(cookie):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = cookie

    # ----------------------------------------------------------------- requests

    async def open(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | Headers | list[tuple[str, str]] | None = None,
        follow_redirects: bool = False,
        **kwargs: Any,
    ) -> Response:
        """Send one request through the app and return its response (body fully read)."""
        response = await self._open(path, method=method, headers=headers, **kwargs)
        redirects = 0
        while follow_redirects and response.status_code in _REDIRECTS and "Location" in response.headers:
            redirects += 1
            if redirects > 20:
                raise RuntimeError("more than 20 redirects")
            target = urlsplit(urljoin(path, response.headers["Location"]))
            path = target.path + (f"?{target.query}" if target.query else "")
            keep_body = response.status_code in (307, 308)
            method = method if keep_body else ("HEAD" if method == "HEAD" else "GET")
            if not keep_body:
                kwargs = {k: v for k, v in kwargs.items() if k not in ("data", "form", "files", "json")}
            response = await self._open(path, method=method, headers=headers, **kwargs)
        return response

    async def _open(self, path: str, *, method: str, headers: Any, **kwargs: Any) -> Response:
        header_map = Headers(headers) if headers is not None else Headers()
        if self.use_cookies and "Cookie" not in header_map:
            cookie = self._cookie_header(urlsplit(path).path or "/")
            if cookie is not None:
                header_map["Cookie"] = cookie
        scope, body = make_scope_and_body(self.app, path, method=method, headers=header_map, **kwargs)
        sent: list[dict[str, Any]] = []
        delivered = False

        async def receive() -> MutableMapping[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        await self.app(scope, receive, send)
        start = next((m for m in sent if m["type"] == "http.response.start"), None)
        if start is None:
            raise RuntimeError("the app sent no response")
        response_headers = Headers(
            [(name.decode("latin-1"), value.decode("latin-1")) for name, value in start.get("headers", [])]
        )
        data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        response = self.app.response_class(status=start["status"])
        response.response = DataBody(data)
        response.headers = response_headers  # exactly what was sent (a HEAD keeps its Content-Length)
        if self.use_cookies:
            self._store_cookies(response_headers)
        return response

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.open(path, method="GET", **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Response:
        return await self.open(path, method="POST", **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Response:
        return await self.open(path, method="PUT", **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Response:
        return await self.open(path, method="PATCH", **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Response:
        return await self.open(path, method="DELETE", **kwargs)

    async def head(self, path: str, **kwargs: Any) -> Response:
        return await self.open(path, method="HEAD", **kwargs)

    async def options(self, path: str, **kwargs: Any) -> Response:
        return await self.open(path, method="OPTIONS", **kwargs)

    async def trace(self, path: str, **kwargs: Any) -> Response:
        return await self.open(path, method="TRACE", **kwargs)

    # ----------------------------------------------------------------- sessions

    @asynccontextmanager
    async def session_transaction(self, path: str = "/", **kwargs: Any) -> AsyncIterator[SessionMixin]:
        """Open the session the next request would see, let the test change it, and store it back."""
        if not self.use_cookies:
            raise RuntimeError("session_transaction() needs a client with cookies (use_cookies=True)")
        if _cv_request.get(None) is not None:
            raise RuntimeError("session_transaction() cannot run inside a request context")
        headers = Headers(kwargs.pop("headers", None) or {})
        cookie = self._cookie_header(urlsplit(path).path or "/")
        if cookie is not None:
            headers["Cookie"] = cookie
        interface = self.app.session_interface
        async with self.app.test_request_context(path, headers=headers, **kwargs) as ctx:
            session = await interface.open_session(self.app, ctx.request)
            if session is None:
                raise RuntimeError("the session backend did not open a session (is SECRET_KEY set?)")
            yield session
            response = self.app.response_class()
            if not interface.is_null_session(session):
                await interface.save_session(self.app, session, response)
        self._store_cookies(response.headers)
