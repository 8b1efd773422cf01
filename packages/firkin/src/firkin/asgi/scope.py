"""What werkzeug's request classes take from an ASGI scope, read one way for requests and websockets."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firkin.typing import ASGIScope

__all__ = ["scope_location"]


def scope_location(
    scope: ASGIScope,
) -> tuple[tuple[str, int | None] | None, str, str, str | None]:
    """(server, root_path, path, client host). ASGI's `path` includes `root_path`; werkzeug wants
    them apart. The prefix is removed at a segment boundary only (`/bobcat` is not under `/bob`);
    the root itself is the app's `/`. A path that is not under `root_path` (from a server that does
    not prefix it) is routed as it is, as Starlette does (Quart answers 404)."""
    root_path = scope.get("root_path", "")
    path = scope["path"]
    if root_path:
        root_path = root_path.rstrip("/")
        if path == root_path:
            path = "/"
        elif path.startswith(root_path) and path[len(root_path)] == "/":
            path = path[len(root_path) :]
    server = scope.get("server")
    client = scope.get("client")
    return ((server[0], server[1]) if server else None), root_path, path, (client[0] if client else None)
