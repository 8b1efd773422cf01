"""What werkzeug's request classes take from an ASGI scope, read one way for requests and websockets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firkin.wrappers.request import split_root_path

if TYPE_CHECKING:
    from firkin.typing import ASGIScope

__all__ = ["scope_location"]


def scope_location(
    scope: ASGIScope,
) -> tuple[tuple[str, int | None] | None, str, str, str | None]:
    """(server, root_path, path, client host): the path split from the root path as
    `split_root_path` does."""
    root_path, path = split_root_path(scope.get("root_path", ""), scope["path"])
    server = scope.get("server")
    client = scope.get("client")
    return ((server[0], server[1]) if server else None), root_path, path, (client[0] if client else None)
