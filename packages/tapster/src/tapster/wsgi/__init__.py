"""Serving WSGI apps (PEP 3333): `WSGIAdapter` makes one an ASGI app (docs/running.md, "Serving WSGI
apps"). `tapster --interface wsgi module:app` uses it, and so does `--interface auto` for an app that
is clearly WSGI.

Needs anyio (`pip install 'tapster[wsgi]'`) for its threads.
"""

from ._adapter import FileWrapper, WSGIAdapter, WSGIApp

__all__ = ["FileWrapper", "WSGIAdapter", "WSGIApp"]
