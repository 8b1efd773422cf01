"""Sessions: an async session interface (Quart's shape) and the signed-cookie implementation.

The cookie signing, `SECRET_KEY_FALLBACKS` and every `SESSION_COOKIE_*` option come from Flask's
own `SecureCookieSessionInterface`, which only needs the sans-I/O request and response.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from flask.sessions import NullSession, SecureCookieSession, SessionMixin
from flask.sessions import SecureCookieSessionInterface as _FlaskCookieInterface
from itsdangerous import URLSafeTimedSerializer

from ._sync import in_event_loop

if TYPE_CHECKING:
    from .app import Firkin
    from .wrappers import Request, Response

__all__ = [
    "NullSession",
    "SecureCookieSession",
    "SecureCookieSessionInterface",
    "SessionInterface",
    "SessionMixin",
]


class SessionInterface:
    """Base class of session interfaces. Subclass and set `app.session_interface` to plug your own."""

    null_session_class: type[NullSession] = NullSession
    pickle_based = False

    async def make_null_session(self, app: Firkin) -> NullSession:
        return self.null_session_class()

    def is_null_session(self, obj: object) -> bool:
        return isinstance(obj, self.null_session_class)

    async def open_session(self, app: Firkin, request: Request) -> SessionMixin | None:
        raise NotImplementedError

    async def save_session(self, app: Firkin, session: SessionMixin, response: Response) -> None:
        raise NotImplementedError


async def open_interface_session(app: Firkin, request: Request) -> SessionMixin | None:
    """`app.session_interface.open_session(app, request)`, or its null session when it opens none.

    The interface may be firkin's or Quart's shape (`async def` methods, awaited) or Flask's (plain
    methods: a `flask.sessions.SessionInterface` such as Flask-Session's). A plain method runs in a
    worker thread when called from the event loop, so its I/O (Redis, a database) stops no other
    request; elsewhere (a worker thread, a plain `with` block) it runs where it is."""
    interface = app.session_interface
    session: SessionMixin | None = await call_interface(app, interface.open_session, app, request)
    if session is None:
        made = interface.make_null_session(app)  # (no I/O: a plain call either way)
        session = await made if inspect.isawaitable(made) else made
    return session


async def save_interface_session(app: Firkin, session: SessionMixin, response: Response) -> None:
    """`app.session_interface.save_session(app, session, response)`, either shape (see above)."""
    await call_interface(app, app.session_interface.save_session, app, session, response)


async def call_interface(app: Firkin, method: Any, *args: Any) -> Any:
    """A session interface's `method(*args)`, either shape (see open_interface_session): as the
    app calls a hook, inline where no event loop runs here."""
    return await app._call(method, *args, sync=not in_event_loop())


class _CachingCookieInterface(_FlaskCookieInterface):
    """Flask's cookie sessions, with the signing serializer kept while the keys stay the same
    (Flask builds one per request, and itsdangerous's constructor serializes `{}` to learn whether
    the serializer makes text: a tenth of a request that reads its session)."""

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Any) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        fallbacks = app.config["SECRET_KEY_FALLBACKS"]
        key = (
            app.secret_key,
            tuple(fallbacks) if fallbacks else (),
            self.salt,
            self.key_derivation,
            self.digest_method,
            self.serializer,
        )
        serializer = self._serializers.get(key)
        if serializer is None:
            if len(self._serializers) >= 8:  # bounded: the keys may be rotated at run time
                self._serializers.clear()
            serializer = self._serializers[key] = super().get_signing_serializer(app)
        return serializer


class SecureCookieSessionInterface(SessionInterface):
    """Sessions in a cookie signed with `SECRET_KEY` (itsdangerous), like Flask's default."""

    session_class = SecureCookieSession

    def __init__(self) -> None:
        self._flask = _CachingCookieInterface()

    async def open_session(self, app: Firkin, request: Request) -> SecureCookieSession | None:
        return self.open_now(app, request)

    def open_now(self, app: Firkin, request: Request) -> SecureCookieSession | None:
        """`open_session` without the await: it only reads and checks the cookie."""
        if not app.secret_key:
            return None  # no key: a null session, which says how to fix it when written to
        has_header = getattr(request, "has_header", None)  # a Request's; a Websocket has headers only
        if has_header is not None and not has_header(b"cookie"):
            return self.session_class()  # what Flask's gives without a cookie, without parsing none
        return self._flask.open_session(app, request)  # type: ignore[arg-type]

    async def save_session(self, app: Firkin, session: SessionMixin, response: Response) -> None:
        self._flask.save_session(app, session, response)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        # get_cookie_name, get_signing_serializer, should_set_cookie, ...: Flask's, unchanged.
        return getattr(self._flask, name)
