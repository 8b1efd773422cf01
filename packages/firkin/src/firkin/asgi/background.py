"""Background tasks (`app.add_background_task`): owned by the lifespan's task group, awaited
(bounded) at shutdown."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from firkin.app import Firkin

__all__ = ["BackgroundTasks", "background_tasks"]


class BackgroundTasks:
    """Tasks started by `app.add_background_task`: owned by the lifespan's task group when there is
    one (so shutdown waits for them, bounded, then cancels them), else run right after the response."""

    def __init__(self, app: Firkin) -> None:
        self.app = app
        self.task_group: anyio.abc.TaskGroup | None = None
        self._pending: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._running = 0
        # Set when the last running task ends; made by wait_all in the loop that waits (an app may
        # be served on one event loop library and then on another).
        self._idle: anyio.Event | None = None
        self._scopes: set[anyio.CancelScope] = set()  # one per running task, to cancel it at shutdown

    def add(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._pending.append((func, args, kwargs))
        if self.task_group is not None:
            self.start_pending()

    async def after_response(self) -> None:
        """Start what the request added; without a lifespan (no task group) run it here, now."""
        if self.task_group is not None:
            self.start_pending()
            return
        while self._pending:
            func, args, kwargs = self._pending.pop(0)
            self._running += 1
            await self._run(func, args, kwargs)

    def start_pending(self) -> None:
        while self._pending and self.task_group is not None:
            func, args, kwargs = self._pending.pop(0)
            self._running += 1
            self.task_group.start_soon(self._run, func, args, kwargs)

    async def _run(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        with anyio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                async with self.app.app_context():
                    await self.app.ensure_async(func)(*args, **kwargs)
            except Exception:
                self.app.logger.exception("Background task %r failed", func)
            finally:
                self._scopes.discard(scope)
                self._running -= 1
                if self._running == 0 and self._idle is not None:
                    self._idle.set()

    async def wait_all(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the running tasks; then cancel what is left and wait for
        it to end, so that after_serving does not run beside them (as in Quart)."""
        if self._running == 0:
            return
        idle = self._idle = anyio.Event()
        try:
            with anyio.move_on_after(timeout) as scope:
                await idle.wait()
            if scope.cancelled_caught:
                self.app.logger.warning(
                    "Background tasks still running after %s s at shutdown: cancelled", timeout
                )
                for task_scope in self._scopes:
                    task_scope.cancel()
                await idle.wait()
        finally:
            self._idle = None


def background_tasks(app: Firkin) -> BackgroundTasks:
    tasks: BackgroundTasks | None = app.__dict__.get("_background_tasks")
    if tasks is None:
        tasks = app.__dict__["_background_tasks"] = BackgroundTasks(app)
    return tasks
