"""The test client: requests through the app's ASGI interface, in process, with a cookie jar."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from http.cookiejar import Cookie, CookieJar
from http.cookies import SimpleCookie
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import urljoin, urlsplit

from werkzeug.datastructures import Headers

from firkin.globals import _cv_app, _cv_request
from firkin.sessions import call_interface, save_interface_session
from firkin.signals import request_started
from firkin.wrappers import DataBody

from .connections import TestHTTPConnection, TestWebsocketConnection, make_websocket_scope
from .utils import make_scope_and_body, make_test_headers_path_and_query_string, make_test_scope

if TYPE_CHECKING:
    from werkzeug.datastructures import Authorization

    from firkin.app import Firkin
    from firkin.ctx import AppContext, RequestContext
    from firkin.sessions import SessionMixin
    from firkin.typing import TestHTTPConnectionProtocol, TestWebsocketConnectionProtocol
    from firkin.wrappers import Response

__all__ = ["FirkinClient"]

_REDIRECTS = (301, 302, 303, 305, 307, 308)

# The scope key that marks a request whose context the client keeps (`async with client:`); its
# value is the client.
_PRESERVE = "firkin.test_client.preserve_context"


class _Cookie:
    __slots__ = ("domain", "expires", "path", "value")

    def __init__(self, value: str, path: str, expires: float | None, domain: str | None = None) -> None:
        self.value = value
        self.path = path
        self.expires = expires
        self.domain = domain.lstrip(".").lower() if domain else None  # None: sent to any host

    def matches_host(self, host: str | None) -> bool:
        if self.domain is None or host is None:
            return True
        host = host.rsplit(":", 1)[0].lower() if not host.endswith("]") else host.lower()
        return host == self.domain or host.endswith("." + self.domain)


# Quart's test client takes set_cookie's arguments in this order.
_QUART_SET_COOKIE = (
    "server_name", "key", "value", "max_age", "expires", "path", "domain", "secure", "httponly", "samesite",
    "charset",
)  # fmt: skip


class FirkinClient:
    """`await client.get("/")`, `.post(json=...)`, `.put`, `.delete`, `.patch`, `.head`, `.options`;
    cookies are kept between requests; `session_transaction()` edits the session.

    Inside `async with client:`, the context of the last request stays pushed until the next request
    or the end of the block, so the test can look at `request`, `session` and `g` after it (Flask's
    `with client:`, Quart's `async with client:`). `push_promises` lists the `(path, headers)` the
    last request pushed (HTTP/2 server push; ask for it with `http_version="2"`), `early_hints` the
    Link values of each 103 Early Hints it sent.

    `request(path)` streams a request and its response (`TestHTTPConnection`); `websocket(path)`
    connects to a websocket handler. The classes they make are `http_connection_class` and
    `websocket_connection_class` (subclasses of firkin's, to change their behaviour)."""

    http_connection_class: type[TestHTTPConnectionProtocol] = TestHTTPConnection
    websocket_connection_class: type[TestWebsocketConnectionProtocol] = TestWebsocketConnection

    def __init__(self, app: Firkin, use_cookies: bool = True) -> None:
        self.app = app
        self.use_cookies = use_cookies
        self.cookies: dict[str, _Cookie] = {}
        self.preserve_context = False
        self.push_promises: list[tuple[str, Headers]] = []
        self.early_hints: list[list[str]] = []  # the Link values of each 103 the last request sent
        # `async with client:` - the contexts of the request being made, then those kept pushed.
        self._captured: tuple[AppContext, RequestContext] | None = None
        self._preserved: tuple[AppContext, RequestContext] | None = None

    # ----------------------------------------------------------------- cookies

    @property
    def cookie_jar(self) -> CookieJar | None:
        """The client's cookies as an `http.cookiejar.CookieJar` (Quart's attribute), None when the
        client keeps no cookies. A copy: change cookies with `set_cookie` / `delete_cookie`, or
        assign a jar to replace them all."""
        if not self.use_cookies:
            return None
        jar = CookieJar()
        for name, cookie in self.cookies.items():
            if self._expired(cookie):
                continue
            domain = cookie.domain or ""
            jar.set_cookie(
                Cookie(
                    0, name, cookie.value, None, False, domain, bool(domain), False, cookie.path, True,
                    False, int(cookie.expires) if cookie.expires is not None else None,
                    cookie.expires is None, None, None, {},
                )
            )  # fmt: skip
        return jar

    @cookie_jar.setter
    def cookie_jar(self, jar: CookieJar | None) -> None:
        self.use_cookies = jar is not None
        self.cookies = {}
        for cookie in jar or ():
            if cookie.value is not None:
                expires = float(cookie.expires) if cookie.expires is not None else None
                self.cookies[cookie.name] = _Cookie(cookie.value, cookie.path, expires, cookie.domain or None)

    @overload
    def set_cookie(
        self,
        server_name: str,
        key: str,
        value: str = "",
        max_age: int | timedelta | None = None,
        expires: int | float | datetime | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
        charset: str = "utf-8",
    ) -> None: ...  # Quart's

    @overload
    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | timedelta | None = None,
        expires: int | float | datetime | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
    ) -> None: ...  # Flask's

    def set_cookie(
        self,
        *args: Any,
        server_name: str | None = None,
        key: str | None = None,
        value: str | None = None,
        max_age: int | timedelta | None = None,
        expires: int | float | datetime | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
        charset: str = "utf-8",
    ) -> None:
        """Put a cookie in the jar, Flask's way, `set_cookie(key, value, domain=..., path=...)`, or
        Quart's, `set_cookie(server_name, key, value, max_age, ...)`: with three or more positional
        arguments (or `server_name=`) the first is the host the cookie is for, and the rest are in
        Quart's order. Without a domain or server name, the cookie goes to every host. `secure`,
        `httponly`, `samesite` and `charset` are accepted and not checked (the client sends cookies
        over http too, and values as given)."""
        if len(args) > len(_QUART_SET_COOKIE):
            raise TypeError(f"set_cookie() takes at most {len(_QUART_SET_COOKIE)} positional arguments")
        names: tuple[str, ...] = ("key", "value")
        if len(args) >= 3 or server_name is not None:
            names = _QUART_SET_COOKIE
        given = dict(zip(names, args, strict=False))
        for name, keyword in (("server_name", server_name), ("key", key), ("value", value)):
            if keyword is not None:
                if name in given:
                    raise TypeError(f"set_cookie() got multiple values for {name!r}")
                given[name] = keyword
        max_age = given.get("max_age", max_age)
        expires = given.get("expires", expires)
        path = given.get("path", path)
        domain = given.get("domain", domain)
        if "key" not in given:
            raise TypeError("set_cookie() needs the cookie's name: set_cookie(key, value)")
        when: float | None = None
        if max_age is not None:
            seconds = max_age.total_seconds() if isinstance(max_age, timedelta) else max_age
            when = time.time() + seconds
        elif expires is not None:
            when = expires.timestamp() if isinstance(expires, datetime) else float(expires)
        cookie = _Cookie(given.get("value", ""), path, when, domain or given.get("server_name"))
        if self._expired(cookie):
            self.cookies.pop(given["key"], None)
        else:
            self.cookies[given["key"]] = cookie

    def delete_cookie(
        self,
        *args: str | None,
        server_name: str | None = None,
        key: str | None = None,
        path: str = "/",
        domain: str | None = None,
    ) -> None:
        """Remove a cookie from the jar: `delete_cookie(key)` (Flask) or
        `delete_cookie(server_name, key, path, domain)` (Quart)."""
        if len(args) > 4:
            raise TypeError(
                "delete_cookie() takes at most 4 positional arguments (server_name, key, path, domain)"
            )
        if len(args) >= 2:
            key = args[1]
        elif args:
            key = args[0]
        if key is None:
            raise TypeError("delete_cookie() needs the cookie's name: delete_cookie(key)")
        self.cookies.pop(key, None)

    def get_cookie(self, key: str) -> str | None:
        cookie = self.cookies.get(key)
        return cookie.value if cookie is not None and not self._expired(cookie) else None

    @staticmethod
    def _expired(cookie: _Cookie) -> bool:
        return cookie.expires is not None and cookie.expires <= time.time()

    def _cookie_header(self, path: str, host: str | None = None) -> str | None:
        pairs = [
            f"{name}={cookie.value}"
            for name, cookie in self.cookies.items()
            if not self._expired(cookie)
            and path.startswith(cookie.path.rstrip("/") or "/")
            and cookie.matches_host(host)
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
                cookie = _Cookie(morsel.value, morsel["path"] or "/", expires, morsel["domain"] or None)
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
        """Send one request through the app and return its response (body fully read).

        The keyword arguments are `make_scope_and_body`'s: `query_string`, `data`, `form`, `files`,
        `json`, `scheme`, `root_path`, `http_version`, `auth`, `subdomain`, `scope_base`."""
        self.push_promises = []
        self.early_hints = []
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
        await self._pop_preserved()  # the next request gets contexts of its own
        header_map = Headers(headers) if headers is not None else Headers()
        scope, body = make_scope_and_body(self.app, path, method=method, headers=header_map, **kwargs)
        if self.use_cookies and "Cookie" not in header_map:
            # For the path and host the request goes to (root path and subdomain included).
            host = next((value for name, value in scope["headers"] if name == b"host"), b"")
            cookie = self._cookie_header(scope["path"], host.decode("latin-1") or None)
            if cookie is not None:
                scope["headers"].append((b"cookie", cookie.encode("latin-1")))
        if self.preserve_context:
            scope[_PRESERVE] = self
        sent: list[dict[str, Any]] = []
        delivered = False

        async def receive() -> MutableMapping[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.push":
                pushed = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]])
                self.push_promises.append((message["path"], pushed))
                return
            if message["type"] == "http.response.early_hint":
                self.early_hints.append([link.decode("latin-1") for link in message["links"]])
                return
            sent.append(dict(message))

        try:
            await self.app(scope, receive, send)
        finally:
            captured, self._captured = self._captured, None
            if captured is not None:  # push the request's contexts again, for the test to look at
                app_ctx, request_ctx = captured
                app_ctx.push()
                await request_ctx.push()
                self._preserved = captured
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

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | Headers | list[tuple[str, str]] | None = None,
        query_string: dict[str, Any] | str | bytes | None = None,
        scheme: str = "http",
        root_path: str = "",
        http_version: str = "1.1",
        scope_base: dict[str, Any] | None = None,
        auth: Authorization | tuple[str, str] | None = None,
        subdomain: str | None = None,
    ) -> TestHTTPConnection:
        """A request whose body the test streams and whose response it reads as it comes:
        `async with client.request("/upload", method="POST") as connection:` (see
        `TestHTTPConnection`). The client's cookies go with it."""
        header_map, path_only, query = make_test_headers_path_and_query_string(
            self.app, path, headers, query_string, auth, subdomain
        )
        if self.use_cookies and "Cookie" not in header_map:
            cookie = self._cookie_header(path_only, header_map.get("Host"))
            if cookie is not None:
                header_map["Cookie"] = cookie
        scope = make_test_scope(
            "http", path_only, method, header_map, query, scheme, root_path, http_version, scope_base
        )
        cls = self.http_connection_class
        if not (isinstance(cls, type) and issubclass(cls, TestHTTPConnection)):
            raise TypeError(
                "http_connection_class must be firkin.testing.connections.TestHTTPConnection or a subclass"
            )
        return cls(self.app, scope)

    # ----------------------------------------------------------------- websockets

    def websocket(
        self,
        path: str,
        *,
        headers: dict[str, str] | Headers | list[tuple[str, str]] | None = None,
        query_string: dict[str, Any] | str | bytes | None = None,
        scheme: str = "ws",
        subprotocols: list[str] | None = None,
        root_path: str = "",
        http_version: str = "1.1",
        scope_base: dict[str, Any] | None = None,
        auth: Authorization | tuple[str, str] | None = None,
        subdomain: str | None = None,
    ) -> TestWebsocketConnection:
        """Connect to a websocket handler: `async with client.websocket("/ws") as ws:` then
        `await ws.send(...)` / `await ws.receive()`. The client's cookies go with the handshake;
        `auth`, `subdomain` and `scope_base` are as for `get()`."""
        header_map = Headers(headers) if headers is not None else Headers()
        if self.use_cookies and "Cookie" not in header_map:
            host = header_map.get("Host")
            if host is None and subdomain is not None:
                host = f"{subdomain}.{self.app.config['SERVER_NAME'] or 'localhost'}"
            cookie = self._cookie_header(urlsplit(path).path or "/", host)
            if cookie is not None:
                header_map["Cookie"] = cookie
        scope = make_websocket_scope(
            self.app,
            path,
            headers=header_map,
            query_string=query_string,
            scheme=scheme,
            subprotocols=subprotocols,
            root_path=root_path,
            http_version=http_version,
            scope_base=scope_base,
            auth=auth,
            subdomain=subdomain,
        )
        cls = self.websocket_connection_class
        if not (isinstance(cls, type) and issubclass(cls, TestWebsocketConnection)):
            raise TypeError(
                "websocket_connection_class must be firkin.testing.TestWebsocketConnection or a subclass"
            )
        return cls(self.app, scope)

    # ----------------------------------------------------------------- sessions

    @asynccontextmanager
    async def session_transaction(self, path: str = "/", **kwargs: Any) -> AsyncIterator[SessionMixin]:
        """Open the session the next request would see, let the test change it, and store it back."""
        if not self.use_cookies:
            raise RuntimeError("session_transaction() needs a client with cookies (use_cookies=True)")
        await self._pop_preserved()
        if _cv_request.get(None) is not None:
            raise RuntimeError("session_transaction() cannot run inside a request context")
        headers = Headers(kwargs.pop("headers", None) or {})
        cookie = self._cookie_header(urlsplit(path).path or "/")
        if cookie is not None:
            headers["Cookie"] = cookie
        interface = self.app.session_interface
        async with self.app.test_request_context(path, headers=headers, **kwargs) as ctx:
            session = await call_interface(self.app, interface.open_session, self.app, ctx.request)
            if session is None:
                raise RuntimeError("the session backend did not open a session (is SECRET_KEY set?)")
            yield session
            response = self.app.response_class()
            if not interface.is_null_session(session):
                await save_interface_session(self.app, session, response)
        self._store_cookies(response.headers)

    # ----------------------------------------------------------------- keeping the last context

    async def __aenter__(self) -> FirkinClient:
        if self.preserve_context:
            raise RuntimeError("Cannot nest client invocations: `async with client:` is already active")
        self.preserve_context = True
        # request_started is sent inside the request's contexts: the receiver records them (for this
        # client's requests only, marked in their scope), and _open pushes them again afterwards.
        request_started.connect(self._capture_contexts, sender=self.app)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.preserve_context = False
        request_started.disconnect(self._capture_contexts, sender=self.app)
        await self._pop_preserved()

    def _capture_contexts(self, sender: Any, **kwargs: Any) -> None:
        request_ctx = _cv_request.get(None)
        if request_ctx is not None and request_ctx.request.scope.get(_PRESERVE) is self:
            self._captured = (_cv_app.get(), request_ctx)

    async def _pop_preserved(self) -> None:
        preserved, self._preserved = self._preserved, None
        if preserved is not None:
            app_ctx, request_ctx = preserved
            # The request's teardown ran when it ended: do not run it again.
            await request_ctx.pop(None, teardown=False)
            await app_ctx.pop(None, teardown=False)
