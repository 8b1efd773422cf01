"""What a request and a websocket handshake share: werkzeug's sans-I/O request, and what matching the
URL map sets on it. `BaseRequestWebsocket` is Quart's name for that base class."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, NoReturn

from werkzeug.sansio.request import Request as SansIORequest

from firkin._wsgi_only import wsgi_only

if TYPE_CHECKING:
    from werkzeug.routing import Rule

__all__ = ["BaseRequestWebsocket", "Routed"]


class Routed:
    """What matching the URL map sets on a request or a websocket handshake, and what follows from it."""

    url_rule: Rule | None = None
    view_args: dict[str, Any] | None = None
    routing_exception: Exception | None = None

    @property
    def endpoint(self) -> str | None:
        return self.url_rule.endpoint if self.url_rule is not None else None

    @property
    def blueprint(self) -> str | None:
        endpoint = self.endpoint
        if endpoint is not None and "." in endpoint:
            return endpoint.rpartition(".")[0]
        return None

    @property
    def blueprints(self) -> list[str]:
        """The registered names of the current blueprint and its parents, innermost first."""
        rule = self.url_rule
        if rule is None or "." not in rule.endpoint:
            return []
        return list(_blueprint_chain(rule.endpoint.rpartition(".")[0]))


@functools.lru_cache(maxsize=1024)  # (the app's blueprint names, worked out once each)
def _blueprint_chain(name: str) -> tuple[str, ...]:
    parts = name.split(".")
    return tuple(".".join(parts[:i]) for i in range(len(parts), 0, -1))


@functools.lru_cache(maxsize=1024)
def hook_scopes(endpoint: str) -> tuple[str | None, ...]:
    """Whose before-hooks apply to a request to `endpoint`, in the order they run: the app's (None),
    then its blueprints' from the outermost in."""
    if "." not in endpoint:
        return (None,)
    return (None, *reversed(_blueprint_chain(endpoint.rpartition(".")[0])))


class BaseRequestWebsocket(Routed, SansIORequest):
    """The base of `Request` and `Websocket`: the path, query, headers and cookies of a request or a
    websocket handshake, and its URL rule once matched. `isinstance(obj, BaseRequestWebsocket)`
    tells either one."""

    @property
    def environ(self) -> NoReturn:
        """WSGI's environ, which an ASGI request has not: a `WSGIOnlyError` (an AttributeError)
        that names the code that asked (`hasattr(request, "environ")` is False)."""
        name = type(self).__name__.lower()
        raise wsgi_only(
            f"`{name}.environ`",
            f"The ASGI scope is `{name}.scope`; the headers are `{name}.headers`, the client's address "
            f"`{name}.remote_addr`.",
        )

    @property
    def script_root(self) -> str:
        """The prefix the app is mounted at (`root_path`; WSGI's SCRIPT_NAME), as Quart and Flask
        name it."""
        return self.root_path

    @property
    def url_root(self) -> str:
        """The URL the app is mounted at, with a trailing slash: `http://example.com/bob/`
        (werkzeug's `root_url`)."""
        return self.root_url
