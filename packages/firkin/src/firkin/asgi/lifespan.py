"""The ASGI `lifespan` scope: before_serving / while_serving at startup; after_serving and the
background tasks at shutdown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from .background import background_tasks

if TYPE_CHECKING:
    from firkin.app import Firkin
    from firkin.typing import ASGIReceive, ASGIScope, ASGISend

__all__ = ["handle_lifespan", "serving_started", "serving_stopped"]


async def handle_lifespan(app: Firkin, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
    """before_serving / while_serving at startup; after_serving and background tasks at shutdown."""
    tasks = background_tasks(app)

    async def shutdown() -> None:
        await tasks.wait_all(app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"])
        await app.shutdown()

    async with anyio.create_task_group() as group:
        tasks.task_group = group
        while True:
            phase = (await receive())["type"]  # lifespan.startup, then lifespan.shutdown
            try:
                await (app.startup() if phase == "lifespan.startup" else shutdown())
            except Exception as error:
                app.logger.exception("%s failed", phase)
                await send({"type": f"{phase}.failed", "message": f"{type(error).__name__}: {error}"})
                group.cancel_scope.cancel()
                return
            await send({"type": f"{phase}.complete"})
            if phase == "lifespan.shutdown":
                group.cancel_scope.cancel()
                return


async def serving_started(app: Firkin) -> None:
    """before_serving functions, then while_serving generators up to their yield."""
    async with app.app_context():
        for func in app.before_serving_funcs:
            await func()
        app._serving_gens = []
        for factory in app.while_serving_gens:
            gen = factory()
            await gen.__anext__()
            app._serving_gens.append(gen)


async def serving_stopped(app: Firkin) -> None:
    """The while_serving generators to their end, last started first, then the after_serving
    functions: the reverse of startup (Quart 0.22's order; 0.21 ran after_serving first)."""
    async with app.app_context():
        for gen in reversed(app._serving_gens):
            try:
                await gen.__anext__()
            except StopAsyncIteration:
                continue
            raise RuntimeError(f"while_serving generator {gen!r} yielded more than once")
        for func in app.after_serving_funcs:
            await func()
