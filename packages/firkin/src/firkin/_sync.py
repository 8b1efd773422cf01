"""Helpers to bridge sync and async code."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterable, Iterator
from typing import Any, ParamSpec, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread

P = ParamSpec("P")
T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T], what: str) -> T:
    """Run a coroutine that never has to wait to completion, synchronously (for plain `with` blocks).

    A coroutine that does suspend (it waits for I/O or a thread) cannot finish here: it is closed and
    a RuntimeError says to use `async with` instead.
    """
    try:
        coro.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coro.close()
    raise RuntimeError(
        f"{what} has to wait (an async hook or I/O), which a plain `with` block cannot do: "
        f"use `async with` instead"
    )


class _Done:
    """An awaitable that is already done: what a call that did its work at once returns, so that
    both `ctx.push()` (Flask's, sync) and `await ctx.push()` (Quart's) are right."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that finishes at once


DONE: Awaitable[None] = _Done()


def now_or_awaited(make: Callable[[bool], Coroutine[Any, Any, None]], what: str) -> Awaitable[None]:
    """`make(False)`, a coroutine to await, in async code (an event loop runs in this thread);
    elsewhere (a sync test, a worker thread) `make(True)` is run here and now (sync hooks inline),
    and an awaitable that is done is returned."""
    if in_event_loop():
        return make(False)
    run_sync(make(True), what)
    return DONE


class Deferred:
    """An awaitable that calls `func(*args)` for the coroutine to await when it is awaited, not
    before: a sync caller that does not await it (Flask's code calling a method that is async
    here) leaves no never-awaited coroutine behind."""

    __slots__ = ("_args", "_func")

    def __init__(self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        self._func = func
        self._args = args

    def __await__(self) -> Generator[Any, None, Any]:
        return self._func(*self._args).__await__()


def is_async_callable(func: Any) -> bool:
    while isinstance(func, functools.partial):
        func = func.func
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(type(func), "__call__", None)  # noqa: B004 - not "is it callable": is its __call__ async
    return call is not None and inspect.iscoroutinefunction(call)


def run_in_thread(func: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """Wrap a sync callable so that calling it runs it in a worker thread (context variables copied)."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))

    wrapper._firkin_sync_original = func  # type: ignore[attr-defined]
    return wrapper


_DONE = object()


def _next(iterator: Iterator[T]) -> T | object:
    return next(iterator, _DONE)


async def iterate_in_thread(iterable: Iterable[T]) -> AsyncIterator[T]:
    """Iterate a sync iterable (a generator that may block) one item per worker-thread call, so
    the event loop never waits on it. Lists and tuples are iterated directly.

    Every step, and the closing of a generator left unfinished, runs in one copy of the context
    variables, as it would in a thread of its own: what the generator sets stays set at its next
    step (Flask's `stream_with_context` pushes the request context in a `with` block around its
    yields, and resets it when it ends or is closed)."""
    if isinstance(iterable, list | tuple):
        for item in iterable:
            yield item
        return
    iterator = iter(iterable)
    context = contextvars.copy_context()
    finished = False
    try:
        while True:
            item = await anyio.to_thread.run_sync(context.run, _next, iterator)
            if item is _DONE:
                finished = True
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if not finished and close is not None:
            with anyio.CancelScope(shield=True):  # (closed because the task is cancelled, too)
                await anyio.to_thread.run_sync(context.run, close)


def run_to_completion(value: Any) -> Any:
    """Run an awaitable to completion with anyio (for sync entry points, like a click command);
    anything else is returned as it is."""
    if not inspect.isawaitable(value):
        return value

    async def wait() -> Any:
        return await value

    return anyio.run(wait)


def in_event_loop() -> bool:
    """Whether an event loop (asyncio or trio) runs in this thread, so code here must not block:
    False in the worker threads where sync views and hooks run."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        trio = sys.modules.get("trio")
        return trio is not None and bool(trio.lowlevel.in_trio_run())
    return True


def wait_for(func: Callable[..., Coroutine[Any, Any, T]], *args: Any, what: str, anywhere: bool = False) -> T:
    """Run `func(*args)` on the event loop from the worker thread that sync code runs in, and wait
    for its result there (the context variables, so the request, go with it). `what` names the
    caller in the error raised where that cannot be done: in the event loop's own thread (blocking
    it would stop every other request), or in a thread the loop did not start. With `anywhere`, a
    thread that has no event loop to ask (a script, a CLI command) runs `func` on a new one."""
    if in_event_loop():
        raise RuntimeError(
            f"{what} has to wait for the event loop, which synchronous code running in the event "
            "loop cannot do. Await it from an `async def` function, or make the function that calls "
            "it a plain `def` one (firkin runs those in a worker thread, where this works)."
        )
    try:
        return anyio.from_thread.run(func, *args)
    except anyio.NoEventLoopError:
        if anywhere:
            return anyio.run(func, *args)
        raise RuntimeError(
            f"{what} has to wait for the event loop, which only works in a thread that firkin (or "
            "anyio.to_thread) started for synchronous code."
        ) from None


def also_sync(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """`func`, an async helper (`render_template`, `send_file`), callable from sync code too: in
    async code (an event loop runs in this thread) a call gives the coroutine, to await, as before;
    in sync code (a plain `def` view or hook, in its worker thread; a script) it runs on the event
    loop (or, with none to ask, a new one) and its result is returned, as Flask's helper returns it.

    It keeps `func`'s type, the async one (type checkers see a coroutine, so a forgotten `await`
    in async code is caught); sync callers that type-check `cast` the result."""

    @functools.wraps(func)
    def call(*args: P.args, **kwargs: P.kwargs) -> Any:
        if in_event_loop():
            return func(*args, **kwargs)
        return wait_for(functools.partial(func, *args, **kwargs), what=f"{func.__name__}()", anywhere=True)

    return call


def ensure_sync(func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` if it is synchronous; an async function wrapped so that calling it from a worker thread
    runs it on the event loop and returns its result (Flask's `app.ensure_sync`)."""
    if not is_async_callable(func):
        return func
    name = getattr(func, "__qualname__", repr(func))

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return wait_for(functools.partial(func, *args, **kwargs), what=f"calling {name}() synchronously")

    return wrapper
