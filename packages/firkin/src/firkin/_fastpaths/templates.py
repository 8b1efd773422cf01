"""Rendering a Jinja template without copying its globals through a Python-level ChainMap.

`Template.render_async(context)` makes the template's context with `dict(template.globals, **context)`;
`template.globals` is a `collections.ChainMap` (the template's own globals over the environment's),
and copying one walks it in Python: two calls per global, about 25 for Flask's dozen, on every render.
Here the maps are merged with C-level dict updates and the context is made with
`Template.new_context(..., shared=True)` (public: "the data is passed as is"), then rendered as
`render_async` does (`root_render_func`, `environment.concat`, `environment.handle_exception`).
Checked against `render_async` in tests/test_werkzeug_internals.py.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Coroutine, Generator
from typing import Any

from jinja2 import Template
from jinja2.runtime import Macro
from markupsafe import Markup

__all__ = ["SyncFirstMacro", "render_async"]


async def render_async(template: Template, context: dict[str, Any]) -> str:
    """What `await template.render_async(context)` gives (the environment is in async mode)."""
    merged = _merged_globals(template)
    merged.update(context)
    ctx = template.new_context(merged, shared=True)
    try:
        return template.environment.concat(
            [chunk async for chunk in template.root_render_func(ctx)]  # type: ignore[attr-defined]
        )
    except Exception:  # noqa: BLE001 - as render_async: jinja rewrites the traceback, then raises
        return template.environment.handle_exception()


def _merged_globals(template: Template) -> dict[str, Any]:
    found = template.globals
    if type(found) is ChainMap:
        merged: dict[str, Any] = {}
        for layer in reversed(found.maps):
            merged.update(layer)
        return merged
    return dict(found)


# ----------------------------------------------------------------------------- macros
#
# In Jinja's async mode calling a macro gives a coroutine, which the template's own code awaits.
# Python code handed a macro gets that coroutine too: a Jinja extension's tag that calls `caller()`
# (Flask-Caching's `{% cache %}`, Flask-Assets' `{% assets %}`) then stores or concatenates a
# coroutine. `SyncFirstMacro` runs the macro's body at once instead, as far as it goes without
# waiting: a body that never waits for I/O (nearly all) gives its string there and then, as in sync
# mode, and that string can also be awaited (so the template's `await` and Quart's
# `await get_template_attribute(...)(...)` work as before). A body that does wait (an async function
# inside it doing I/O) gives an awaitable that goes on from where it stopped.
#
# `firkin.templating.Template` puts the class in place of `Macro` in each compiled template's
# namespace (the generated code makes macros with `Macro(environment, ...)`, a global of that
# namespace) and it overrides Jinja's `Macro._invoke(arguments, autoescape)`.
# tests/test_werkzeug_internals.py checks both against the installed jinja2.


# (Classes of this module, not `firkin.wrappers.request.awaitable_class(str)`: a macro's result
# is pickled by caches, Flask-Caching's `{% cache %}` for one, and pickle finds a class by its
# module and name, which that function's classes share with `str` and `Markup`.)


class _AwaitableStr(str):
    """A macro's result: a str that can be awaited too (giving itself)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, Any]:
        return self
        yield  # a generator that finishes at once


class _AwaitableMarkup(Markup):
    """An autoescaped macro's result: Markup that can be awaited too (giving itself)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, Any]:
        return self
        yield  # a generator that finishes at once


class _Resumed:
    """A macro body that waited, to await: its coroutine goes on from where it stopped (what it
    waits on is handed to the event loop's task first)."""

    __slots__ = ("_autoescape", "_coro", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, str], waiting: Any, autoescape: bool) -> None:
        self._coro = coro
        self._waiting = waiting
        self._autoescape = autoescape

    def __await__(self) -> Generator[Any, Any, str]:
        coro, waiting = self._coro, self._waiting
        while True:
            try:
                sent = yield waiting
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - a cancellation too: passed on to the body
                try:
                    waiting = coro.throw(exc)
                except StopIteration as done:
                    return Markup(done.value) if self._autoescape else done.value
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration as done:
                    return Markup(done.value) if self._autoescape else done.value


class SyncFirstMacro(Macro):
    """Jinja's Macro whose body, in async mode, runs at once (see above)."""

    def _invoke(self, arguments: list[Any], autoescape: bool) -> str:
        if not self._environment.is_async:
            return super()._invoke(arguments, autoescape)
        coro: Coroutine[Any, Any, str] = self._func(*arguments)  # type: ignore[assignment]  # (async mode)
        try:
            waiting = coro.send(None)
        except StopIteration as done:
            return _AwaitableMarkup(done.value) if autoescape else _AwaitableStr(done.value)
        return _Resumed(coro, waiting, autoescape)  # type: ignore[return-value]
