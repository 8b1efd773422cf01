"""Type aliases and protocols for firkin apps, the ASGI interface and the test client.

Every public name of Quart's `quart.typing` is here under the same name (Quart's `Quart` is `Firkin`
in the annotations), so `from quart.typing import ...` becomes `from firkin.typing import ...`. The
ASGI scopes are firkin's own TypedDicts (Quart takes them from Hypercorn), with the keys the ASGI
specification gives them. The aliases are runtime objects, as Quart's are, not strings.
"""

from __future__ import annotations

import os
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from http.cookiejar import CookieJar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, TypedDict, Union

from werkzeug.datastructures import FileStorage, Headers

if TYPE_CHECKING:
    from werkzeug.datastructures import Authorization
    from werkzeug.wrappers import Response as WerkzeugResponse

    from .app import Firkin
    from .sessions import SessionMixin
    from .wrappers import Response

__all__ = [
    "ASGIHTTPProtocol",
    "ASGILifespanProtocol",
    "ASGIMessage",
    "ASGIReceive",
    "ASGIReceiveCallable",
    "ASGIScope",
    "ASGISend",
    "ASGISendCallable",
    "ASGIVersions",
    "ASGIWebsocketProtocol",
    "AfterRequestCallable",
    "AfterServingCallable",
    "AfterWebsocketCallable",
    "AppOrBlueprintKey",
    "BeforeRequestCallable",
    "BeforeServingCallable",
    "BeforeWebsocketCallable",
    "ErrorHandlerCallable",
    "Event",
    "FilePath",
    "FileStorage",
    "HTTPScope",
    "HeaderName",
    "HeaderValue",
    "HeadersValue",
    "LifespanScope",
    "ResponseReturnValue",
    "ResponseTypes",
    "ResponseValue",
    "RouteCallable",
    "ShellContextProcessorCallable",
    "StatusCode",
    "TeardownCallable",
    "TemplateContextProcessorCallable",
    "TemplateFilterCallable",
    "TemplateGlobalCallable",
    "TemplateTestCallable",
    "TestAppProtocol",
    "TestClientProtocol",
    "TestHTTPConnectionProtocol",
    "TestWebsocketConnectionProtocol",
    "URLDefaultCallable",
    "URLValuePreprocessorCallable",
    "WebsocketCallable",
    "WebsocketScope",
    "WhileServingCallable",
]

# ---------------------------------------------------------------------------- ASGI

#: Any ASGI scope or message, as firkin's own ASGI entry points take them.
ASGIScope: TypeAlias = MutableMapping[str, Any]
ASGIMessage: TypeAlias = MutableMapping[str, Any]
ASGIReceive: TypeAlias = Callable[[], Awaitable[ASGIMessage]]
ASGISend: TypeAlias = Callable[[ASGIMessage], Awaitable[None]]
#: Quart's names for the `receive` and `send` callables.
ASGIReceiveCallable: TypeAlias = ASGIReceive
ASGISendCallable: TypeAlias = ASGISend


class ASGIVersions(TypedDict, total=False):
    spec_version: str
    version: Literal["2.0", "3.0"]


class HTTPScope(TypedDict):
    """The scope of an HTTP request (ASGI's HTTP connection scope)."""

    type: Literal["http"]
    asgi: ASGIVersions
    http_version: str
    method: str
    scheme: str
    path: str  # includes root_path
    raw_path: bytes
    query_string: bytes
    root_path: str
    headers: Iterable[tuple[bytes, bytes]]
    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    state: dict[str, Any]
    extensions: dict[str, dict[Any, Any]]


class WebsocketScope(TypedDict):
    """The scope of a websocket handshake (ASGI's WebSocket connection scope)."""

    type: Literal["websocket"]
    asgi: ASGIVersions
    http_version: str
    scheme: str
    path: str  # includes root_path
    raw_path: bytes
    query_string: bytes
    root_path: str
    headers: Iterable[tuple[bytes, bytes]]
    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    subprotocols: Iterable[str]
    state: dict[str, Any]
    extensions: dict[str, dict[Any, Any]]


class LifespanScope(TypedDict):
    """The scope of the lifespan protocol (startup and shutdown)."""

    type: Literal["lifespan"]
    asgi: ASGIVersions
    state: dict[str, Any]


# ---------------------------------------------------------------------------- responses

FilePath: TypeAlias = bytes | str | os.PathLike[str]

# The string parts are forward references, resolved by type checkers (importing Response here would be
# a cycle); `"Response" | bytes` is not valid at run time, hence Union.
ResponseValue: TypeAlias = Union[
    "Response",
    "WerkzeugResponse",
    bytes,
    str,
    Mapping[str, Any],  # sent as JSON
    list[Any],  # sent as JSON
    Iterator[bytes],  # streamed
    Iterator[str],
    Iterable[Any],  # any iterable, sync or async, is streamed
    AsyncIterable[Any],
]
StatusCode: TypeAlias = int

HeaderName: TypeAlias = str
HeaderValue: TypeAlias = str | list[str] | tuple[str, ...]
HeadersValue: TypeAlias = (
    Headers | Mapping[HeaderName, HeaderValue] | Sequence[tuple[HeaderName, HeaderValue]]
)

#: What a view may return.
ResponseReturnValue: TypeAlias = (
    ResponseValue
    | tuple[ResponseValue, HeadersValue]
    | tuple[ResponseValue, StatusCode]
    | tuple[ResponseValue, StatusCode, HeadersValue]
)
ResponseTypes: TypeAlias = Union["Response", "WerkzeugResponse"]

# ---------------------------------------------------------------------------- callables

AppOrBlueprintKey: TypeAlias = str | None  # None is the app; blueprints by name
AfterRequestCallable: TypeAlias = (
    Callable[[ResponseTypes], ResponseTypes] | Callable[[ResponseTypes], Awaitable[ResponseTypes]]
)
AfterServingCallable: TypeAlias = Callable[[], None] | Callable[[], Awaitable[None]]
AfterWebsocketCallable: TypeAlias = (
    Callable[[ResponseTypes | None], ResponseTypes | None]
    | Callable[[ResponseTypes | None], Awaitable[ResponseTypes | None]]
)
BeforeRequestCallable: TypeAlias = (
    Callable[[], ResponseReturnValue | None] | Callable[[], Awaitable[ResponseReturnValue | None]]
)
BeforeServingCallable: TypeAlias = Callable[[], None] | Callable[[], Awaitable[None]]
BeforeWebsocketCallable: TypeAlias = (
    Callable[[], ResponseReturnValue | None] | Callable[[], Awaitable[ResponseReturnValue | None]]
)
ErrorHandlerCallable: TypeAlias = (
    Callable[[Any], ResponseReturnValue] | Callable[[Any], Awaitable[ResponseReturnValue]]
)
ShellContextProcessorCallable: TypeAlias = Callable[[], dict[str, Any]]
TeardownCallable: TypeAlias = (
    Callable[[BaseException | None], None] | Callable[[BaseException | None], Awaitable[None]]
)
TemplateContextProcessorCallable: TypeAlias = (
    Callable[[], dict[str, Any]] | Callable[[], Awaitable[dict[str, Any]]]
)
TemplateFilterCallable: TypeAlias = Callable[[Any], Any]
TemplateGlobalCallable: TypeAlias = Callable[[Any], Any]
TemplateTestCallable: TypeAlias = Callable[[Any], bool]
URLDefaultCallable: TypeAlias = Callable[[str, dict[str, Any]], None]
URLValuePreprocessorCallable: TypeAlias = Callable[[str | None, dict[str, Any] | None], None]
WhileServingCallable: TypeAlias = Callable[[], AsyncGenerator[None, None]]

RouteCallable: TypeAlias = Callable[..., ResponseReturnValue] | Callable[..., Awaitable[ResponseReturnValue]]
WebsocketCallable: TypeAlias = (
    Callable[..., ResponseReturnValue | None] | Callable[..., Awaitable[ResponseReturnValue | None]]
)

# ---------------------------------------------------------------------------- protocols


class ASGIHTTPProtocol(Protocol):
    """Something that serves one HTTP request of an app: made with the scope, called with
    `receive` and `send`."""

    def __init__(self, app: Firkin, scope: HTTPScope) -> None: ...

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None: ...


class ASGILifespanProtocol(Protocol):
    """Something that runs an app's lifespan."""

    def __init__(self, app: Firkin, scope: LifespanScope) -> None: ...

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None: ...


class ASGIWebsocketProtocol(Protocol):
    """Something that serves one websocket of an app."""

    def __init__(self, app: Firkin, scope: WebsocketScope) -> None: ...

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None: ...


class TestHTTPConnectionProtocol(Protocol):
    """A request whose body and response are streamed in a test: `client.request(path)`
    (`firkin.testing.connections.TestHTTPConnection`)."""

    push_promises: list[tuple[str, Headers]]

    def __init__(self, app: Firkin, scope: HTTPScope, _preserve_context: bool = False) -> None: ...

    async def send(self, data: bytes) -> None: ...

    async def send_complete(self) -> None: ...

    async def receive(self) -> bytes: ...

    async def disconnect(self) -> None: ...

    async def __aenter__(self) -> TestHTTPConnectionProtocol: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def as_response(self) -> Response: ...


class TestWebsocketConnectionProtocol(Protocol):
    """A websocket in a test: `client.websocket(path)` (`firkin.testing.TestWebsocketConnection`)."""

    def __init__(self, app: Firkin, scope: WebsocketScope) -> None: ...

    async def __aenter__(self) -> TestWebsocketConnectionProtocol: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def receive(self) -> str | bytes: ...

    async def send(self, data: str | bytes) -> None: ...

    async def receive_json(self) -> Any: ...

    async def send_json(self, data: Any) -> None: ...

    async def close(self, code: int) -> None: ...

    async def disconnect(self) -> None: ...


class TestClientProtocol(Protocol):
    """The test client's interface (`firkin.testing.FirkinClient`; `app.test_client_class`)."""

    app: Firkin
    cookie_jar: CookieJar | None
    http_connection_class: type[TestHTTPConnectionProtocol]
    push_promises: list[tuple[str, Headers]]
    websocket_connection_class: type[TestWebsocketConnectionProtocol]

    def __init__(self, app: Firkin, use_cookies: bool = True) -> None: ...

    async def open(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | Headers | None = None,
        data: str | bytes | None = None,
        form: dict[str, Any] | None = None,
        files: dict[str, FileStorage] | None = None,
        query_string: dict[str, Any] | None = None,
        json: Any,
        scheme: str = "http",
        follow_redirects: bool = False,
        root_path: str = "",
        http_version: str = "1.1",
        scope_base: dict[str, Any] | None = None,
        auth: Authorization | tuple[str, str] | None = None,
        subdomain: str | None = None,
    ) -> Response: ...

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | Headers | None = None,
        query_string: dict[str, Any] | None = None,
        scheme: str = "http",
        root_path: str = "",
        http_version: str = "1.1",
        scope_base: dict[str, Any] | None = None,
        auth: Authorization | tuple[str, str] | None = None,
        subdomain: str | None = None,
    ) -> TestHTTPConnectionProtocol: ...

    def websocket(
        self,
        path: str,
        *,
        headers: dict[str, str] | Headers | None = None,
        query_string: dict[str, Any] | None = None,
        scheme: str = "ws",
        subprotocols: list[str] | None = None,
        root_path: str = "",
        http_version: str = "1.1",
        scope_base: dict[str, Any] | None = None,
        auth: Authorization | tuple[str, str] | None = None,
        subdomain: str | None = None,
    ) -> TestWebsocketConnectionProtocol: ...

    async def delete(self, *args: Any, **kwargs: Any) -> Response: ...

    async def get(self, *args: Any, **kwargs: Any) -> Response: ...

    async def head(self, *args: Any, **kwargs: Any) -> Response: ...

    async def options(self, *args: Any, **kwargs: Any) -> Response: ...

    async def patch(self, *args: Any, **kwargs: Any) -> Response: ...

    async def post(self, *args: Any, **kwargs: Any) -> Response: ...

    async def put(self, *args: Any, **kwargs: Any) -> Response: ...

    async def trace(self, *args: Any, **kwargs: Any) -> Response: ...

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
    ) -> None: ...

    def delete_cookie(
        self, server_name: str, key: str, path: str = "/", domain: str | None = None
    ) -> None: ...

    def session_transaction(
        self,
        path: str = "/",
        *,
        method: str = "GET",
        headers: dict[str, str] | Headers | None = None,
        query_string: dict[str, Any] | None = None,
        scheme: str = "http",
        data: str | bytes | None = None,
        form: dict[str, Any] | None = None,
        json: Any = None,
        root_path: str = "",
        http_version: str = "1.1",
    ) -> AbstractAsyncContextManager[SessionMixin]: ...

    async def __aenter__(self) -> TestClientProtocol: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class TestAppProtocol(Protocol):
    """`app.test_app()`'s interface (`firkin.testing.TestApp`)."""

    def __init__(self, app: Firkin) -> None: ...

    def test_client(self) -> TestClientProtocol: ...

    async def startup(self) -> None: ...

    async def shutdown(self) -> None: ...

    async def __aenter__(self) -> TestAppProtocol: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Event(Protocol):
    """An event that can be set and asked about (asyncio's, trio's, anyio's)."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...
