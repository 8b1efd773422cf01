"""ASGI lifespan on the fake backend: startup/shutdown, failures, unsupported apps, timeouts, state."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import pytest
from tapster import Config
from tapster.asgi._http11 import H11Protocol
from tapster.asgi._lifespan import Lifespan, LifespanFailure
from tapster.asgi._state import ServerState
from tapster.asgi._types import ASGIApp, Message, Receive, Scope, Send

from .fakes import FakeBackend, FakeTask, FakeTransport


def run(backend: FakeBackend, awaitable: Awaitable[Any]) -> FakeTask:
    task = backend.start(awaitable)
    backend.run_until_idle()
    return task


def polite_app(
    log: list[Message], *, startup: Message | None = None, shutdown: Message | None = None
) -> ASGIApp:
    """A lifespan app that answers each phase with the given message (default: complete)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        message = await receive()
        log.append(message)
        scope["state"]["db"] = "connected"
        await send(startup or {"type": "lifespan.startup.complete"})
        message = await receive()
        log.append(message)
        await send(shutdown or {"type": "lifespan.shutdown.complete"})

    return app


async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        raise RuntimeError("only http is supported")


async def returns_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    return None


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="tapster.error")
    return caplog


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tapster.error" and r.levelno == level]


def test_startup_and_shutdown_complete(logs: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend()
    log: list[Message] = []
    state: dict[str, Any] = {}
    lifespan = Lifespan(polite_app(log), backend, "auto", state)

    assert run(backend, lifespan.startup(5.0)).result() is None
    assert log == [{"type": "lifespan.startup"}]
    assert lifespan.supported

    assert run(backend, lifespan.shutdown(5.0)).result() is None
    assert log == [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    app_task = backend.tasks[1]  # spawned by startup(), after the task running startup() itself
    assert app_task.done
    assert not app_task.cancelled
    assert lines(logs, logging.ERROR) == []


def test_startup_failed_raises_with_the_apps_message() -> None:
    backend = FakeBackend()
    failed = {"type": "lifespan.startup.failed", "message": "database unreachable"}
    lifespan = Lifespan(polite_app([], startup=failed), backend, "auto", {})

    task = run(backend, lifespan.startup(5.0))
    with pytest.raises(LifespanFailure, match="lifespan startup failed: database unreachable"):
        task.result()


def test_shutdown_failed_is_logged(logs: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend()
    failed = {"type": "lifespan.shutdown.failed", "message": "flush failed"}
    lifespan = Lifespan(polite_app([], shutdown=failed), backend, "auto", {})
    run(backend, lifespan.startup(5.0)).result()

    assert run(backend, lifespan.shutdown(5.0)).result() is None
    assert lines(logs, logging.ERROR) == ["lifespan shutdown failed: flush failed"]


def test_app_raising_without_lifespan_is_unsupported_in_auto_mode(logs: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend()
    lifespan = Lifespan(http_only, backend, "auto", {})

    assert run(backend, lifespan.startup(5.0)).result() is None
    assert not lifespan.supported
    [info] = lines(logs, logging.INFO)
    assert "not supported" in info
    assert "only http is supported" in info
    assert run(backend, lifespan.shutdown(5.0)).result() is None  # nothing to shut down
    assert lines(logs, logging.ERROR) == []


def test_app_raising_without_lifespan_fails_in_on_mode() -> None:
    backend = FakeBackend()
    lifespan = Lifespan(http_only, backend, "on", {})

    with pytest.raises(LifespanFailure, match="only http is supported"):
        run(backend, lifespan.startup(5.0)).result()


@pytest.mark.parametrize(("mode", "fails"), [("auto", False), ("on", True)])
def test_app_returning_without_lifespan(mode: str, fails: bool) -> None:
    backend = FakeBackend()
    lifespan = Lifespan(returns_at_once, backend, mode, {})

    task = run(backend, lifespan.startup(5.0))
    if fails:
        with pytest.raises(LifespanFailure, match="returned without completing"):
            task.result()
    else:
        assert task.result() is None
        assert not lifespan.supported


def test_app_raising_after_receiving_startup_fails_even_in_auto_mode() -> None:
    backend = FakeBackend()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise ValueError("bad settings")

    lifespan = Lifespan(app, backend, "auto", {})
    with pytest.raises(LifespanFailure, match="bad settings"):
        run(backend, lifespan.startup(5.0)).result()


def test_off_mode_never_calls_the_app() -> None:
    backend = FakeBackend()
    calls: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope)

    lifespan = Lifespan(app, backend, "off", {})
    run(backend, lifespan.startup(5.0)).result()
    run(backend, lifespan.shutdown(5.0)).result()
    assert calls == []
    assert len(backend.tasks) == 2  # only the two phases the test started


def test_startup_timeout_raises_and_cancel_stops_the_app() -> None:
    backend = FakeBackend()
    never = backend.create_waiter()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await never.wait()

    lifespan = Lifespan(app, backend, "auto", {})
    task = run(backend, lifespan.startup(5.0))
    backend.advance(4.9)
    assert not task.done
    backend.advance(0.1)
    with pytest.raises(LifespanFailure, match=r"lifespan.startup did not complete within 5.0 seconds"):
        task.result()

    app_task = backend.tasks[1]
    assert not app_task.done
    lifespan.cancel()
    backend.run_until_idle()
    assert app_task.cancelled


def test_shutdown_timeout_is_logged_and_cancels_the_app(logs: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend()
    never = backend.create_waiter()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await never.wait()

    lifespan = Lifespan(app, backend, "on", {})
    run(backend, lifespan.startup(5.0)).result()
    task = run(backend, lifespan.shutdown(3.0))
    backend.advance(3.0)
    assert task.result() is None
    assert lines(logs, logging.ERROR) == ["lifespan.shutdown did not complete within 3.0 seconds"]
    assert backend.tasks[1].cancelled


def test_state_is_shared_with_the_app_and_copied_into_each_request() -> None:
    backend = FakeBackend()
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["pool"] = "the pool"
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = ServerState(app, Config(), backend)
    lifespan = Lifespan(app, backend, "auto", server.lifespan_state)
    run(backend, lifespan.startup(5.0)).result()
    assert scopes[0]["state"] is server.lifespan_state
    assert server.lifespan_state == {"pool": "the pool"}

    proto = H11Protocol(server)
    transport = FakeTransport(backend)
    transport.attach(proto)
    proto.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    backend.run_until_idle()
    assert transport.take().startswith(b"HTTP/1.1 204 No Content\r\n")
    http_scope = scopes[1]
    assert http_scope["state"] == {"pool": "the pool"}
    assert http_scope["state"] is not server.lifespan_state
