"""What werkzeug's request classes take from an ASGI scope, read one way for requests and websockets
(the functions live with the request, which reads them too)."""

from __future__ import annotations

from firkin.wrappers.request import scope_location, split_root_path

__all__ = ["scope_location", "split_root_path"]
