"""Jinja templates, rendered asynchronously: `await render_template("index.html", user=user)`.

The loader that finds templates in the app's and the blueprints' `template_folder`s is Flask's
(`DispatchingJinjaLoader`, through `app.create_global_jinja_loader()`); the environment is Flask's
with Jinja's async mode switched on, so templates may call async functions and can be streamed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, MutableMapping
from contextlib import aclosing
from functools import partial
from types import CodeType
from typing import TYPE_CHECKING, Any, cast

import jinja2
from flask.templating import DispatchingJinjaLoader
from flask.templating import Environment as _FlaskEnvironment
from flask.templating import _default_template_ctx_processor as _flask_default_processor
from jinja2.runtime import Macro
from werkzeug.local import LocalProxy

from ._fastpaths.templates import SyncFirstMacro, render_async
from ._sync import also_sync, wait_for
from .ctx import stream_with_context
from .globals import _cv_app, _cv_request, _no_app_msg
from .signals import before_render_template, template_rendered

if TYPE_CHECKING:
    from .app import Firkin

__all__ = [
    "DispatchingJinjaLoader",
    "Environment",
    "Template",
    "render_template",
    "render_template_string",
    "stream_template",
    "stream_template_string",
    "update_template_context",
]


# The caller named in the error that sync rendering in the event loop's own thread raises.
_SYNC_RENDER = (
    "Rendering a template synchronously (Flask's render_template, render_template_string or "
    "stream_template, or Template.render(); firkin's is `await render_template(...)`)"
)


class Template(jinja2.Template):
    """A template of firkin's environment, which is in Jinja's async mode. Its sync API works too:
    Flask's `render_template` and `stream_template`, called by an extension's sync view or hook (in
    a worker thread, as firkin runs those), call `render()` and `generate()`, and these render on
    the event loop while the thread waits, as `await render_template(...)` does; in a thread with
    no event loop (a script, a CLI command) they render on a new one. On the event loop's own
    thread they raise a RuntimeError that says to await firkin's `render_template` instead."""

    @classmethod
    def from_code(
        cls,
        environment: jinja2.Environment,
        code: CodeType,
        globals: MutableMapping[str, Any],
        uptodate: Callable[[], bool] | None = None,
    ) -> jinja2.Template:
        template = super().from_code(environment, code, globals, uptodate)
        _sync_first_macros(template.root_render_func.__globals__)
        return template

    @classmethod
    def from_module_dict(
        cls,
        environment: jinja2.Environment,
        module_dict: MutableMapping[str, Any],
        globals: MutableMapping[str, Any],
    ) -> jinja2.Template:
        _sync_first_macros(module_dict)
        return super().from_module_dict(environment, module_dict, globals)

    def render(self, *args: Any, **kwargs: Any) -> str:
        if not self.environment.is_async:
            return super().render(*args, **kwargs)
        return wait_for(partial(self.render_async, *args, **kwargs), what=_SYNC_RENDER, anywhere=True)

    def generate(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        if not self.environment.is_async:
            yield from super().generate(*args, **kwargs)
            return
        # As Jinja's own sync generate() does in async mode: the chunks are made, then handed out.
        yield from wait_for(partial(_chunks, self, args, kwargs), what=_SYNC_RENDER, anywhere=True)


def _sync_first_macros(namespace: MutableMapping[str, Any]) -> None:
    """Macros of this compiled template run their body at once, as far as it goes without waiting:
    a Jinja extension that calls `caller()` from Python gets a string
    (`firkin._fastpaths.templates.SyncFirstMacro`)."""
    if namespace.get("Macro") is Macro:
        namespace["Macro"] = SyncFirstMacro


async def _chunks(template: Template, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    return [chunk async for chunk in template.generate_async(*args, **kwargs)]


class Environment(_FlaskEnvironment):
    """Flask's Jinja environment (templates from the app's and blueprints' folders), always in
    Jinja's async mode: the render functions here use `render_async` / `generate_async`. Its
    templates are `Template`s, whose sync `render()` also works (for Flask's own helpers)."""

    template_class = Template

    def __init__(self, app: Firkin, **options: Any) -> None:
        options["enable_async"] = True
        super().__init__(app, **options)


def _current_app() -> Firkin:
    ctx = _cv_app.get(None)
    if ctx is None:
        raise RuntimeError(_no_app_msg)
    return ctx.app


async def update_template_context(app: Firkin, context: dict[str, Any]) -> None:
    """Add `g`, `request` and `session` (those of the current contexts) and what the app's and
    the current blueprints' context processors return to `context`, in place. The values passed
    to the render call win over the processors' (as in Flask)."""
    given = context.copy()
    app_ctx = _cv_app.get(None)
    req_ctx = _cv_request.get(None)
    names: tuple[str | None, ...] = (None,)
    if app_ctx is not None:
        context["g"] = app_ctx.g
    if req_ctx is not None:
        context["request"] = req_ctx.request
        # The session opens (reads and checks its cookie) only if the template uses it.
        context["session"] = LocalProxy(partial(getattr, req_ctx, "session"))
        names = (None, *reversed(req_ctx.request.blueprints))
    processors = app.template_context_processors
    for name in names:
        for func in processors.get(name, ()):
            # flask.sansio's Scaffold registers Flask's default processor, which reads Flask's own
            # context variables (never set here); its work is done above, without a thread hop.
            if func is _flask_default_processor:
                continue
            context.update(await app._call(func))
    context.update(given)


async def _render(app: Firkin, template: jinja2.Template, context: dict[str, Any]) -> str:
    await update_template_context(app, context)
    if before_render_template.receivers:
        await app._signal(before_render_template, template=template, context=context)
    rendered = await render_async(template, context)  # template.render_async(context), faster
    if template_rendered.receivers:
        await app._signal(template_rendered, template=template, context=context)
    return rendered


@also_sync
async def render_template(
    template_name_or_list: str | jinja2.Template | list[str | jinja2.Template], **context: Any
) -> str:
    """Render the template `template_name_or_list` (the first that exists, given a list) with
    `context`: `return await render_template("hello.html", name=name)`. In a plain `def` view (or
    other sync code) it returns the string: `return render_template("hello.html", name=name)`.

    Raises `jinja2.TemplateNotFound` when there is no such template (a 500 in a request)."""
    app = _current_app()
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return await _render(app, template, context)


@also_sync
async def render_template_string(source: str, **context: Any) -> str:
    """Render the template source `source` with `context` (autoescaped, as a `.html` file is);
    awaited in async code, the string in sync code, as `render_template`."""
    app = _current_app()
    template = app.jinja_env.from_string(source)
    return await _render(app, template, context)


async def _stream(app: Firkin, template: jinja2.Template, context: dict[str, Any]) -> AsyncIterator[str]:
    await update_template_context(app, context)
    if before_render_template.receivers:
        await app._signal(before_render_template, template=template, context=context)

    async def generate() -> AsyncGenerator[str, None]:
        async with aclosing(template.generate_async(context)) as chunks:
            async for chunk in chunks:
                yield chunk
        if template_rendered.receivers:
            await app._signal(template_rendered, template=template, context=context)

    if _cv_request.get(None) is None:
        return generate()
    # The view returns before the body is sent: keep `request`, `session` and `g` alive for it.
    source = generate()
    return _closing(cast("AsyncGenerator[str, None]", stream_with_context(source)), source)


async def _closing(
    wrapped: AsyncGenerator[str, None], source: AsyncGenerator[str, None]
) -> AsyncIterator[str]:
    try:
        async for chunk in wrapped:
            yield chunk
    finally:
        # Closed early (the client left): close the template's generator here, in this task,
        # rather than leave it to the garbage collector (stream_with_context does not close it).
        await wrapped.aclose()
        await source.aclose()


@also_sync
async def stream_template(
    template_name_or_list: str | jinja2.Template | list[str | jinja2.Template], **context: Any
) -> AsyncIterator[str]:
    """Render a template piece by piece, as the response is sent: `return await
    stream_template("feed.html", items=items)`. The request context stays usable in the template
    until the last piece is sent."""
    app = _current_app()
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return await _stream(app, template, context)


@also_sync
async def stream_template_string(source: str, **context: Any) -> AsyncIterator[str]:
    """`stream_template` for a template source string."""
    app = _current_app()
    template = app.jinja_env.from_string(source)
    return await _stream(app, template, context)
