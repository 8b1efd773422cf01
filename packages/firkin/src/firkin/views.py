"""Class-based views: `View` and `MethodView`, as in Flask (handlers may be async or sync)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, ClassVar

from .globals import current_app, request

__all__ = ["MethodView", "View"]

_HTTP_METHODS = frozenset(("get", "post", "head", "options", "delete", "put", "trace", "patch"))


class View:
    """Subclass and implement `dispatch_request`; register with `app.add_url_rule(rule,
    view_func=MyView.as_view("name"))`."""

    #: The methods this view accepts (defaults to the route's, else GET).
    methods: ClassVar[Collection[str] | None] = None
    #: Let the app answer OPTIONS automatically (None: the app's setting).
    provide_automatic_options: ClassVar[bool | None] = None
    #: Decorators applied to the generated view function, in order.
    decorators: ClassVar[list[Callable[..., Any]]] = []
    #: A new instance per request (True, Flask's default) or one instance shared by all requests.
    init_every_request: ClassVar[bool] = True

    def dispatch_request(self, **kwargs: Any) -> Any:
        """Handle the request (may be `async def`). The URL's variables are the keyword arguments."""
        raise NotImplementedError(f"{type(self).__name__} must implement dispatch_request()")

    @classmethod
    def as_view(cls, name: str, *class_args: Any, **class_kwargs: Any) -> Callable[..., Any]:
        """The view function for the routing system; arguments are passed to the class."""
        if cls.init_every_request:

            async def view(**kwargs: Any) -> Any:
                # `cls`, not `view.view_class`: `view` may be wrapped by `decorators`, which then
                # carry `view_class`, not `view` itself (as in Flask, `view_class` is set on both).
                instance = cls(*class_args, **class_kwargs)
                return await current_app.ensure_async(instance.dispatch_request)(**kwargs)

        else:
            shared = cls(*class_args, **class_kwargs)

            async def view(**kwargs: Any) -> Any:
                return await current_app.ensure_async(shared.dispatch_request)(**kwargs)

        # Flask names the view and sets its attributes before decorating, so that decorators using
        # functools.wraps see (and copy) them; they are set again on the result, whatever it is.
        decorated: Callable[..., Any] = view
        _describe(view, cls, name)
        for decorator in cls.decorators:
            decorated = decorator(decorated)
        _describe(decorated, cls, name)
        return decorated


def _describe(func: Callable[..., Any], cls: type[View], name: str) -> None:
    func.view_class = cls  # type: ignore[attr-defined]
    func.__name__ = name
    func.__doc__ = cls.__doc__
    func.__module__ = cls.__module__
    func.methods = cls.methods  # type: ignore[attr-defined]
    func.provide_automatic_options = cls.provide_automatic_options  # type: ignore[attr-defined]


class MethodView(View):
    """Dispatches to the method named after the HTTP method (`get`, `post`, ...); HEAD falls back
    to `get`. `methods` is filled in from the methods the class defines."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "methods" not in cls.__dict__:
            methods = {name.upper() for name in _HTTP_METHODS if callable(getattr(cls, name, None))}
            if methods:
                cls.methods = methods

    async def dispatch_request(self, **kwargs: Any) -> Any:
        handler = getattr(self, request.method.lower(), None)
        if handler is None and request.method == "HEAD":
            handler = getattr(self, "get", None)
        if handler is None:
            raise AssertionError(f"Unimplemented method {request.method!r}")
        return await current_app.ensure_async(handler)(**kwargs)
