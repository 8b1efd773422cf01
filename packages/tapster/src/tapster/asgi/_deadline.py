"""A deadline: one lazy timer that calls back once a point in time has passed.

Each connection owns one (idle, head and body timeouts of HTTP/1.1), and so can each stream of a
multiplexed connection (HTTP/2 body timeouts) and each WebSocket (pings, pong and close timeouts).
"""

from __future__ import annotations

from collections.abc import Callable

from ._seam import Backend, Handle

__all__ = ["Deadline"]


class Deadline:
    """Calls `on_expired` once `when` (backend-clock seconds) has passed; ``when = None`` disarms it.

    Lazy: moving the deadline later only stores a number (the timer re-arms itself when it fires
    early), so a busy connection pushing its deadline on every read costs no timer churn; only an
    earlier deadline costs a new timer. Storing ``deadline.when = None`` directly is allowed (it is
    the cheapest way to disarm; the pending timer then fires once and does nothing).
    """

    __slots__ = ("_at", "_backend", "_on_expired", "_timer", "when")

    def __init__(self, backend: Backend, on_expired: Callable[[], None]) -> None:
        self._backend = backend
        self._on_expired = on_expired
        self._timer: Handle | None = None
        self._at = 0.0  # when the pending timer fires
        self.when: float | None = None

    def set(self, when: float | None) -> None:
        self.when = when
        if when is None:
            return
        timer = self._timer
        if timer is None or when < self._at:
            if timer is not None:
                timer.cancel()
            self._at = when
            self._timer = self._backend.call_at(when, self._fire)

    def set_in(self, seconds: float) -> None:
        """The deadline is `seconds` from now."""
        self.set(self._backend.now() + seconds)

    def cancel(self) -> None:
        """Disarm and release the timer now (the connection is gone: nothing may keep it alive)."""
        self.when = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        when = self.when
        if when is None:
            return
        if self._backend.now() < when:
            self._at = when
            self._timer = self._backend.call_at(when, self._fire)
            return
        self.when = None
        self._on_expired()
