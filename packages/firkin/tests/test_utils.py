"""firkin.utils: Quart's run_sync and run_sync_iterable."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from firkin import Firkin, current_app
from firkin.utils import run_sync, run_sync_iterable

pytestmark = pytest.mark.anyio


async def test_run_sync_runs_in_a_worker_thread_with_the_context() -> None:
    app = Firkin(__name__)
    loop_thread = threading.get_ident()

    def blocking(a: int, b: int = 0) -> tuple[int, bool, str]:
        return a + b, threading.get_ident() != loop_thread, current_app.name

    wrapped = run_sync(blocking)
    assert wrapped.__name__ == "blocking"
    async with app.app_context():
        assert await wrapped(1, b=2) == (3, True, app.name)


async def test_run_sync_of_a_generator_function_gives_an_async_iterator() -> None:
    threads: list[int] = []

    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            threads.append(threading.get_ident())
            yield i

    iterator = await run_sync(numbers)(3)
    assert [i async for i in iterator] == [0, 1, 2]
    assert threading.get_ident() not in threads


async def test_run_sync_iterable() -> None:
    loop_thread = threading.get_ident()

    def steps() -> Iterator[bool]:
        yield threading.get_ident() != loop_thread
        yield threading.get_ident() != loop_thread

    assert [item async for item in run_sync_iterable(steps())] == [True, True]
    assert [item async for item in run_sync_iterable([1, 2])] == [1, 2]
