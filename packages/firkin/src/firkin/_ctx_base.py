"""What the request and the websocket contexts share: an app context pushed under them when needed,
push/pop with teardown, and `async with` / plain `with`."""

from __future__ import annotations

import sys
from collections.abc import Awaitable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ._sync import now_or_awaited, run_sync
from .globals import _cv_app

if TYPE_CHECKING:
    from .app import Firkin
    from .ctx import AppContext

__all__ = ["ConnectionContext"]

_sentinel: Any = object()


class ConnectionContext:
    """Base of RequestContext and WebsocketContext. Subclasses name their ContextVar and kind, and
    say how the session opens and which teardown runs."""

    _var: ClassVar[ContextVar[Any]]
    _kind: ClassVar[str]  # "request" or "websocket": for messages
    app: Firkin
    _tokens: list[tuple[Token[Any], AppContext | None]]

    def open_session_now(self) -> bool:
        """Open the session without I/O if that is how it opens (or arrange to open it when first
        used); False when `open_session` must be awaited."""
        return False

    async def open_session(self) -> None:
        """Open the session when the context is pushed."""

    def needs_teardown(self) -> bool:
        raise NotImplementedError

    async def teardown(self, exc: BaseException | None, *, sync: bool) -> None:
        raise NotImplementedError

    def closed(self) -> None:
        """Called once the outermost push of this context is popped."""

    def push(self) -> Awaitable[None]:
        """Make this context current: `await ctx.push()` in async code (Quart's form); in sync code
        outside an event loop, `ctx.push()` (Flask's form) pushes at once. Prefer `async with ctx:`."""
        return now_or_awaited(lambda sync: self._push(sync=sync), f"pushing the {self._kind} context")

    def pop(self, exc: BaseException | None = _sentinel, *, teardown: bool = True) -> Awaitable[None]:
        """Undo `push()`, running the teardowns after the outermost push (unless `teardown=False`):
        `await ctx.pop()` in async code, `ctx.pop()` in sync code outside an event loop."""
        return now_or_awaited(
            lambda sync: self._pop(exc, sync=sync, teardown=teardown), f"popping the {self._kind} context"
        )

    async def _push(self, *, sync: bool = False) -> None:
        app_ctx = _cv_app.get(None)
        pushed: AppContext | None = None
        if app_ctx is None or app_ctx.app is not self.app:
            pushed = self.app.app_context()
            pushed._push()
        self._tokens.append((self._var.set(self), pushed))
        if not self.open_session_now():
            await self.open_session()

    async def _pop(
        self, exc: BaseException | None = _sentinel, *, sync: bool = False, teardown: bool = True
    ) -> None:
        clear = len(self._tokens) == 1 and teardown
        try:
            if clear and self.needs_teardown():
                if exc is _sentinel:
                    exc = sys.exc_info()[1]
                await self.teardown(exc, sync=sync)
        finally:
            if clear:
                self.closed()
            ctx = self._var.get()
            token, app_ctx = self._tokens.pop()
            self._var.reset(token)
            if app_ctx is not None and not app_ctx.pop_now(teardown):
                await app_ctx._pop(exc, sync=sync, teardown=teardown)
        if ctx is not self:
            raise AssertionError(f"Popped wrong {self._kind} context ({ctx!r} instead of {self!r})")

    async def __aenter__(self) -> Self:
        await self._push()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._pop(exc)

    def __enter__(self) -> Self:
        run_sync(self._push(sync=True), f"entering the {self._kind} context")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        run_sync(self._pop(exc, sync=True), f"leaving the {self._kind} context")
