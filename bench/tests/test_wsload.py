"""The load generator (bench/wsload.py) end to end, against tapster serving bench.apps:app in a thread:
every kind of run succeeds and counts, and a server that answers wrongly, loses a message or does
not compress makes it fail (or say n/a) instead of reporting a number."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator

import pytest
from tapster.asgi._types import Receive, Scope, Send

from bench import apps
from bench.wsload import Load, Result, main, message, messages, run_load
from conftest import RunningServer, start_server

SHORT = {"warmup": 0.05, "duration": 0.3}


@pytest.fixture(scope="module")
def bench_server() -> Iterator[RunningServer]:
    running = start_server(apps.app, "asyncio")
    yield running
    running.stop()


def load(running: RunningServer, **options: object) -> Result:
    return asyncio.run(run_load(Load(port=running.port, **{**SHORT, **options})))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"connections": 4, "window": 1, "size": 16},
        {"connections": 2, "window": 8, "size": 16384},
        {"connections": 3, "window": 2, "size": 1024, "deflate": True},
        {"connections": 2, "window": 1, "size": 65536, "deflate": True},
        {"connections": 5, "window": 4, "size": 16, "broadcast": True, "path": "/broadcast"},
    ],
)
def test_runs_against_tapster(bench_server: RunningServer, options: dict[str, object]) -> None:
    result = load(bench_server, **options)
    assert result.status == "ok", result.reason
    assert 0 < result.messages <= result.total_messages
    assert result.elapsed_s == pytest.approx(SHORT["duration"], abs=0.2)
    assert result.client_cpu_s > 0
    if options.get("deflate"):
        assert result.extensions is not None
        assert result.extensions.startswith("permessage-deflate")
    else:
        assert result.extensions is None
    if options.get("broadcast"):  # every message reaches every connection
        assert result.total_messages % 5 == 0


def test_main_prints_json(bench_server: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--port", str(bench_server.port), "--connections", "2", "--warmup", "0", "--duration", "0.1"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "ok"
    assert printed.keys() == {f.name for f in dataclasses.fields(Result)}


def test_messages_are_sized_distinct_text() -> None:
    for size in (16, 100, 1024, 65536):
        pool = messages(size)
        assert {len(m) for m in pool} == {size}
        assert len(set(pool)) == len(pool)
        assert all(m.isascii() for m in pool)
    assert json.loads(message(1024, 3))["seq"] == 3


async def _corrupting_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Echoes, except that the 10th message comes back with its last byte changed."""
    assert scope["type"] == "websocket"
    await receive()
    await send({"type": "websocket.accept"})
    count = 0
    while True:
        event = await receive()
        if event["type"] != "websocket.receive":
            return
        count += 1
        text = event["text"]
        await send({"type": "websocket.send", "text": text if count != 10 else text[:-1] + "?"})


async def _lossy_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Echoes every message but the 5th."""
    assert scope["type"] == "websocket"
    await receive()
    await send({"type": "websocket.accept"})
    count = 0
    while True:
        event = await receive()
        if event["type"] != "websocket.receive":
            return
        count += 1
        if count != 5:
            await send({"type": "websocket.send", "text": event["text"]})


async def _stalling_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Echoes 5 messages, then reads the others without answering."""
    assert scope["type"] == "websocket"
    await receive()
    await send({"type": "websocket.accept"})
    count = 0
    while True:
        event = await receive()
        if event["type"] != "websocket.receive":
            return
        count += 1
        if count <= 5:
            await send({"type": "websocket.send", "text": event["text"]})


async def _closing_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Closes the websocket after 3 echoes."""
    assert scope["type"] == "websocket"
    await receive()
    await send({"type": "websocket.accept"})
    for _ in range(3):
        event = await receive()
        await send({"type": "websocket.send", "text": event["text"]})
    await send({"type": "websocket.close", "code": 1011, "reason": "enough"})


@pytest.mark.parametrize(
    ("app", "window", "error"),
    [
        (_corrupting_echo, 1, "echo 9 is not the message sent"),
        (_lossy_echo, 8, "echo 4 is not the message sent"),  # (window 1 would wait: see below)
        (_closing_echo, 1, "the server sent close 1011 'enough'"),
    ],
)
def test_wrong_answers_fail_the_run(app: object, window: int, error: str) -> None:
    running = start_server(app, "asyncio", lifespan="off")
    try:
        result = load(running, connections=1, window=window)
    finally:
        running.stop()
    assert result.status == "failed"
    assert error in result.reason


def test_unanswered_messages_fail_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.wsload.DRAIN_TIMEOUT", 0.3)
    running = start_server(_stalling_echo, "asyncio", lifespan="off")
    try:
        result = load(running, connections=1, window=8)
    finally:
        running.stop()
    assert result.status == "failed"
    assert result.reason == "8 messages unanswered 0.3 s after sending stopped"  # the whole window


def test_no_deflate_is_not_applicable() -> None:
    running = start_server(apps.app, "asyncio", ws_per_message_deflate=False)
    try:
        result = load(running, connections=2, deflate=True)
    finally:
        running.stop()
    assert result.status == "n/a"
    assert "no permessage-deflate" in result.reason


def test_a_refused_handshake_fails_the_run(bench_server: RunningServer) -> None:
    result = load(bench_server, connections=2, path="/nowhere")
    assert result.status == "failed"
    assert "not 101" in result.reason
