"""Sans-I/O protocol cores: bytes in, events out. No event loop, no sockets, no clock reads."""

from ._rules import H11Limits
from .events import NEED_DATA, PAUSED, ConnectionClosed, Data, EndOfMessage, H2Preface, Request, Sentinel
from .http11 import H11Connection, State, status_line

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "H2Preface",
    "H11Connection",
    "H11Limits",
    "Request",
    "Sentinel",
    "State",
    "status_line",
]
