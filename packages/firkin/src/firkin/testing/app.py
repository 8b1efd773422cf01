"""`app.test_app()`: runs the ASGI lifespan (before/after_serving, background tasks) around tests."""

from __future__ import annotations

from collections.abc import MutableMapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from .client import FirkinClient

if TYPE_CHECKING:
    from firkin.app import Firkin

__all__ = ["LifespanError", "TestApp"]


class LifespanError(Exception):
    """The app's lifespan startup or shutdown failed (the message is the app's)."""


class TestApp:
    """`async with app.test_app() as test_app:` starts the app as a server would, then shuts it down."""

    __test__ = False  # not a pytest test class

    def __init__(self, app: Firkin, startup_timeout: float = 60, shutdown_timeout: float = 60) -> None:
        self.app = app
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self._to_app, self._app_inbox = anyio.create_memory_object_stream[dict[str, Any]](4)
        self._app_outbox, self._from_app = anyio.create_memory_object_stream[dict[str, Any]](4)
        self._group: anyio.abc.TaskGroup | None = None

    def test_client(self) -> FirkinClient:
        return self.app.test_client()

    async def startup(self) -> None:
        """Start the app (before_serving, while_serving up to its yield), as entering the block does."""
        await self.__aenter__()

    async def shutdown(self) -> None:
        """Shut the app down, as leaving the block does."""
        await self.__aexit__(None, None, None)

    async def _run_lifespan(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}

        async def receive() -> MutableMapping[str, Any]:
            return await self._app_inbox.receive()

        async def send(message: MutableMapping[str, Any]) -> None:
            await self._app_outbox.send(dict(message))

        await self.app(scope, receive, send)

    async def _phase(self, message: str, timeout: float) -> None:
        await self._to_app.send({"type": message})
        with anyio.fail_after(timeout):
            answer = await self._from_app.receive()
        if answer["type"].endswith(".failed"):
            raise LifespanError(answer.get("message", ""))

    async def __aenter__(self) -> TestApp:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._run_lifespan)
        try:
            await self._phase("lifespan.startup", self.startup_timeout)
        except BaseException:
            self._group.cancel_scope.cancel()
            await self._group.__aexit__(None, None, None)
            self._close_streams()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._group is not None
        try:
            await self._phase("lifespan.shutdown", self.shutdown_timeout)
        finally:
            self._group.cancel_scope.cancel()
            await self._group.__aexit__(None, None, None)
            self._close_streams()

    def _close_streams(self) -> None:
        for stream in (self._to_app, self._app_inbox, self._app_outbox, self._from_app):
            stream.close()
