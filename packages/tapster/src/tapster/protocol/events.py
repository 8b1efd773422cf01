"""Events the HTTP/1.1 connection produces: small frozen dataclasses, and named sentinels."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "H2Preface",
    "Request",
    "Sentinel",
]


class Sentinel(enum.Enum):
    #: More bytes must arrive before another event can be produced.
    NEED_DATA = "NEED_DATA"
    #: A full request was received; nothing more is read until the response is done
    #: (pipelined requests wait in the buffer, answered in order).
    PAUSED = "PAUSED"


NEED_DATA = Sentinel.NEED_DATA
PAUSED = Sentinel.PAUSED


@dataclass(slots=True)
class Request:
    """A request head, validated. Header names are lower-cased; values are as sent, without OWS.

    Not frozen, unlike the other events: a frozen dataclass pays an object.__setattr__ per field,
    measured at 1.0 µs of the ~5 µs a minimal request costs to parse (bench/parser.py). Treat it
    as read-only all the same.
    """

    method: bytes
    target: bytes  # the request-target exactly as sent
    path: bytes  # raw path (no query), taken from the origin-form or absolute-form target
    query: bytes  # raw query string, without "?"
    http_version: bytes  # b"1.1" or b"1.0"
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool  # what the client asked for (Connection header and version)
    expect_continue: bool  # "Expect: 100-continue" on an HTTP/1.1 request
    has_body: bool  # framed by Content-Length > 0 or chunked
    upgrade: bool = False  # an Upgrade header was present (RFC 9110 §7.8); the driver decides


@dataclass(frozen=True, slots=True)
class Data:
    """A piece of the request body, already de-chunked."""

    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfMessage:
    """The request body (if any) is complete."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its side of the connection at a message boundary."""


@dataclass(frozen=True, slots=True)
class H2Preface:
    """The connection opened with the HTTP/2 preface (RFC 9113 §3.3, prior knowledge): HTTP/1.1 is
    over; `data` is everything received, preface included, for the HTTP/2 connection to take."""

    data: bytes


END_OF_MESSAGE = EndOfMessage()
CONNECTION_CLOSED = ConnectionClosed()
