"""ASGI scopes, built in one place from a version-neutral request head (`tapster.protocol.Request`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tapster.protocol import Request

if TYPE_CHECKING:
    from ._stream import Stream

__all__ = ["http_scope", "websocket_scope"]

# Decoded once: the method of nearly every request is one of these.
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")}
_VERSIONS = {b"1.1": "1.1", b"1.0": "1.0", b"2": "2"}


def _path(raw_path: bytes, root_path: str) -> str:
    path = raw_path.decode("ascii")
    if "%" in path:
        path = unquote(path)
    return root_path + path if root_path else path


def http_scope(stream: Stream, request: Request, extensions: dict[str, Any] | None = None) -> dict[str, Any]:
    state = stream.state
    root_path = state.config.root_path
    raw_path = request.path
    path = raw_path.decode("ascii")  # (inlined _path(): once per request)
    if "%" in path:
        path = unquote(path)
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},  # per request: apps may mutate scopes
        "http_version": _VERSIONS[request.http_version],
        "server": stream.server,
        "client": stream.client,
        "scheme": stream.scheme,
        "method": _METHODS.get(request.method) or request.method.decode("ascii"),
        "root_path": root_path,
        "path": root_path + path if root_path else path,
        "raw_path": raw_path,
        "query_string": request.query,
        "headers": request.headers,
        "state": state.lifespan_state.copy(),
        "extensions": {} if extensions is None else extensions,
    }


def websocket_scope(stream: Stream, request: Request, subprotocols: list[str]) -> dict[str, Any]:
    state = stream.state
    root_path = state.config.root_path
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": _VERSIONS[request.http_version],
        "scheme": "wss" if stream.scheme == "https" else "ws",
        "server": stream.server,
        "client": stream.client,
        "root_path": root_path,
        "path": _path(request.path, root_path),
        "raw_path": request.path,
        "query_string": request.query,
        "headers": request.headers,
        "subprotocols": subprotocols,
        "state": state.lifespan_state.copy(),
        "extensions": {"websocket.http.response": {}},
    }
