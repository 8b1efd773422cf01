"""ASGI lifespan, backend-neutral: startup and shutdown messages, state, timeouts."""

from __future__ import annotations

from typing import Any

from tapster.errors import TapsterError

from ._seam import Backend, Handle, Waiter
from ._state import error_log
from ._types import ASGIApp, Message

__all__ = ["Lifespan", "LifespanFailure"]

_log = error_log


class LifespanFailure(TapsterError):
    """Lifespan startup or shutdown failed; the message says why."""


class Lifespan:
    """Runs the app's lifespan scope in one task that lives from startup to shutdown."""

    def __init__(self, app: ASGIApp, backend: Backend, mode: str, state: dict[str, Any]) -> None:
        self.app = app
        self.backend = backend
        self.mode = mode  # auto | on | off
        self.state = state
        self.supported = mode != "off"
        self._incoming: list[Message] = []
        self._receive_waiter: Waiter | None = None
        self._phase_waiter: Waiter | None = None
        self._outcome: Message | None = None
        self._app_done = False
        self._app_error: BaseException | None = None
        self._task: Handle | None = None
        self._received = False
        self._phase_name = "lifespan.startup"

    # ----------------------------------------------------------------- the app's side

    async def _receive(self) -> Message:
        self._received = True
        while not self._incoming:
            waiter = self._receive_waiter = self.backend.create_waiter()
            await waiter.wait()
        return self._incoming.pop(0)

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        # Each phase accepts only its own answers: a shutdown answer cannot complete the startup.
        if kind not in (self._phase_name + ".complete", self._phase_name + ".failed"):
            raise TapsterError(
                f"ASGI: unexpected message type {kind!r} in a lifespan scope "
                f"(expected {self._phase_name}.complete or {self._phase_name}.failed)"
            )
        self._outcome = message
        self._wake_phase()

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:  # noqa: BLE001 - reported by the phase that was waiting
            self._app_error = exc
        finally:
            self._app_done = True
            self._wake_phase()

    def _wake_phase(self) -> None:
        if self._phase_waiter is not None:
            self._phase_waiter.wake()

    # ----------------------------------------------------------------- the server's side

    async def _phase(self, message: str, timeout: float) -> Message | None:
        self._phase_name = message
        self._outcome = None
        self._incoming.append({"type": message})
        if self._receive_waiter is not None:
            self._receive_waiter.wake()
            self._receive_waiter = None
        timed_out = False

        def expire() -> None:
            nonlocal timed_out
            timed_out = True
            self._wake_phase()

        timer = self.backend.call_at(self.backend.now() + timeout, expire)
        try:
            while self._outcome is None and not self._app_done and not timed_out:
                self._phase_waiter = self.backend.create_waiter()
                await self._phase_waiter.wait()
        finally:
            timer.cancel()
            self._phase_waiter = None
        if self._outcome is None and timed_out:
            raise LifespanFailure(f"{message} did not complete within {timeout} seconds")
        return self._outcome

    async def startup(self, timeout: float) -> None:
        if self.mode == "off":
            return
        self._task = self.backend.spawn(self._main())
        outcome = await self._phase("lifespan.startup", timeout)
        if outcome is None:  # the app returned or raised without answering
            self.supported = False
            error = self._app_error
            if error is not None and (self.mode == "on" or self._received):
                # It took the startup message and then failed: a real startup failure.
                raise LifespanFailure(f"lifespan startup failed: the app raised {error!r}") from error
            if self.mode == "on":
                raise LifespanFailure("lifespan startup failed: the app returned without completing it")
            _log.info(
                "ASGI 'lifespan' is not supported by the app (%s); serving without it",
                f"it raised {error!r}" if error is not None else "it returned",
            )
            return
        if outcome["type"] == "lifespan.startup.failed":
            raise LifespanFailure("lifespan startup failed: " + str(outcome.get("message", "")))

    async def shutdown(self, timeout: float) -> None:
        if not self.supported or self._app_done:
            return
        try:
            outcome = await self._phase("lifespan.shutdown", timeout)
        except LifespanFailure as exc:
            _log.error("%s", exc)
            self.cancel()
            return
        if outcome is None:
            if self._app_error is not None:
                _log.error("lifespan shutdown: the app raised", exc_info=self._app_error)
            return
        if outcome["type"] == "lifespan.shutdown.failed":
            _log.error("lifespan shutdown failed: %s", outcome.get("message", ""))

    def cancel(self) -> None:
        if self._task is not None and not self._app_done:
            self._task.cancel()
