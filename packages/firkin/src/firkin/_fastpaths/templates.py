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
from typing import Any

from jinja2 import Template

__all__ = ["render_async"]


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
