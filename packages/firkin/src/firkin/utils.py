"""Quart's `run_sync` / `run_sync_iterable`: call blocking code from async code without blocking the
event loop. (firkin already runs plain `def` views, hooks and generators in worker threads; these are
for your own blocking calls.)"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

from ._sync import iterate_in_thread, run_in_thread

__all__ = ["run_sync", "run_sync_iterable"]

T = TypeVar("T")


def run_sync(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Wrap a sync function so that `await wrapped(...)` runs it in a worker thread (context
    variables copied, so `current_app`, `request` and `g` work in it). When it returns a generator,
    the result is an async iterator that runs each step of the generator in a worker thread."""

    thread_call = run_in_thread(func)

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = await thread_call(*args, **kwargs)
        if inspect.isgenerator(result):
            return run_sync_iterable(result)
        return result

    return wrapper


def run_sync_iterable(iterable: Iterable[T]) -> AsyncIterator[T]:
    """An async iterator over a sync iterable (a generator that may block): each `next()` runs in a
    worker thread."""
    return iterate_in_thread(iterable)
