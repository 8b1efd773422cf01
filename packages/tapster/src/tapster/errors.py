"""Tapster's exceptions: one root, two-sided protocol errors (STYLE.md #4)."""

from __future__ import annotations

__all__ = [
    "ClientDisconnected",
    "ConfigError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "TapsterError",
]


class TapsterError(Exception):
    """The root of every exception tapster raises on purpose."""


class ConfigError(TapsterError):
    """The configuration or the app given to the server cannot work; the message says what to fix."""


class ProtocolError(TapsterError):
    """A protocol rule was broken. ``status_hint`` is the HTTP status to answer with."""

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol (a malformed request, an oversized head, ...)."""


class LocalProtocolError(ProtocolError):
    """We (or the application we serve) tried to break the protocol, e.g. a header with CR/LF."""

    def __init__(self, message: str, status_hint: int = 500) -> None:
        super().__init__(message, status_hint)


class ClientDisconnected(TapsterError, OSError):
    """Raised by ASGI ``send()`` when the client has gone away (ASGI spec: an ``OSError`` subclass)."""
