"""The two sides' states of an HTTP/1.1 exchange, and which events move them."""

from __future__ import annotations

import enum

from tapster.errors import LocalProtocolError

__all__ = ["State"]


class State(enum.Enum):
    IDLE = "IDLE"  # waiting for a request head / not yet answering
    BODY = "BODY"  # request body being read / response body being written
    DONE = "DONE"  # this side of the exchange is complete
    CLOSED = "CLOSED"  # the peer closed (client side) or we must close after this exchange
    ERROR = "ERROR"

    # Members are singletons: identity hashing keeps the transition-table lookups in C
    # (Enum's own __hash__ is a Python function, measurable on every request).
    __hash__ = object.__hash__


# Reading a member through the Enum class costs a metaclass lookup, about four times a plain
# attribute, and the protocol does it a dozen times per request: these are the same singletons.
_IDLE, _BODY, _DONE, _CLOSED, _ERROR = State.IDLE, State.BODY, State.DONE, State.CLOSED, State.ERROR


# Which events move each side, and where (h11's _state.py habit: transitions are data).
_CLIENT: dict[State, dict[str, State]] = {
    _IDLE: {"request": _BODY, "request_no_body": _DONE, "closed": _CLOSED},
    _BODY: {"end": _DONE},
    _DONE: {"closed": _CLOSED, "next_cycle": _IDLE},
}
_SERVER: dict[State, dict[str, State]] = {
    _IDLE: {"head": _BODY, "head_final": _DONE},
    _BODY: {"end": _DONE},
    _DONE: {"next_cycle": _IDLE},
}


def _move(table: dict[State, dict[str, State]], state: State, what: str) -> State:
    try:
        return table[state][what]
    except KeyError:
        raise LocalProtocolError(f"{what!r} is not allowed in state {state.name}") from None
