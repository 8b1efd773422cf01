"""The chat with REDIS_URL set, against a real redis-server that each test starts on a free port (and
stops): two apps in this process, then two `firkin run` processes, sharing rooms and history; the
pub/sub listener reconnecting when Redis restarts, and letting go of its connection at shutdown.

redis-server comes from Debian's package of that name (./dev test installs it). Without it these
tests fail, saying so: they are the only ones that show the chat working across processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from firkin import Firkin
from firkin.testing import FirkinClient, TestWebsocketConnection
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from conftest import Process, free_port, start_redis
from examples.chat.app import create_app
from examples.chat.hub import HUB_KEY, Client
from examples.chat.protocol import message_event
from examples.chat.redis_hub import RedisHub

UNAVAILABLE = "The chat cannot reach its message store (Redis) just now; try again in a moment."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis.asyncio runs on asyncio only (test_chat.py checks the refusal on trio)


def redis_app(url: str, **config: Any) -> Firkin:
    return create_app({"TESTING": True, "REDIS_URL": url, "CHAT_HISTORY": 3, **config})


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the test's own, to look at what the chat keeps in Redis."""
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def listeners(redis: Redis) -> int:
    """How many connections to Redis are subscribed to a pattern (PUBSUB NUMPAT counts patterns)."""
    return sum(int(client["psub"]) > 0 for client in await redis.client_list())


async def receive(ws: TestWebsocketConnection) -> dict[str, Any]:
    with anyio.fail_after(5):
        event: dict[str, Any] = await ws.receive_json()
    return event


async def join(ws: TestWebsocketConnection, room: str, nick: str) -> list[Any]:
    """Join; the welcome's history (the member's own join notice, which follows it, is read too)."""
    await ws.send_json({"type": "join", "room": room, "nick": nick})
    welcome = await receive(ws)
    assert welcome["type"] == "welcome", welcome
    assert (await receive(ws))["type"] == "join"
    history: list[Any] = welcome["history"]
    return history


async def say(ws: TestWebsocketConnection, text: str) -> None:
    await ws.send_json({"type": "say", "text": text})


# ----------------------------------------------------------------- in process


@pytest.mark.anyio
async def test_two_apps_share_rooms_and_history_through_redis(redis_url: str, redis: Redis) -> None:
    one, two = redis_app(redis_url), redis_app(redis_url)
    async with one.test_app() as served_one, two.test_app() as served_two:
        assert await listeners(redis) == 2  # one per app
        health = await served_one.test_client().get("/health")
        assert health.json == {"status": "ok", "hub": "redis", "listening": True}
        first: FirkinClient = served_one.test_client()
        second: FirkinClient = served_two.test_client()
        async with (
            first.websocket("/ws") as alice,
            second.websocket("/ws") as bob,
            second.websocket("/ws") as carol,
        ):
            await join(alice, "lobby", "alice")
            await join(bob, "lobby", "bob")
            await join(carol, "kitchen", "carol")
            assert (await receive(alice))["nick"] == "bob"  # the join notice, from the other app
            for number in range(4):
                # Said through one app or the other, each message reaches both before the next is
                # said: two clients on two connections have no order between them to keep.
                await say(bob if number % 2 else alice, f"message {number}")
                for ws in (alice, bob):
                    assert (await receive(ws))["text"] == f"message {number}"
            await say(carol, "in the kitchen")
            assert (await receive(carol))["text"] == "in the kitchen"  # and nobody in the lobby heard it

            async with first.websocket("/ws") as dave:
                history = await join(dave, "lobby", "dave")
            assert [m["text"] for m in history] == ["message 1", "message 2", "message 3"]  # CHAT_HISTORY
            assert await redis.llen("chat:history:lobby") == 3  # capped by LTRIM
            assert (await receive(bob))["nick"] == "dave"  # joined ...
            leave = await receive(bob)  # ... and left, through the other app
            assert (leave["type"], leave["nick"], leave["reason"]) == ("leave", "dave", "left")
            await say(alice, "the last word")
            assert (await receive(bob))["text"] == "the last word"
    # Shut down: each app's listener has let go of its subscription (and its connections).
    assert await listeners(redis) == 0
    assert one.extensions.get(HUB_KEY) is None


@pytest.mark.anyio
async def test_a_message_that_arrives_while_joining_comes_once(redis_url: str) -> None:
    """A client that joins registers before it reads the history, so a message published between the
    two is in both: the live copy is dropped by its id."""
    app = redis_app(redis_url, CHAT_HISTORY=10)
    async with app.test_app() as served:
        hub = app.extensions[HUB_KEY]
        assert isinstance(hub, RedisHub)
        original_join = hub.join

        async def join_with_a_message_meanwhile(room: str, client: Client) -> list[Any]:
            held = anyio.Event()
            deliver = client.deliver

            def deliver_and_tell(text: str) -> None:
                deliver(text)
                held.set()

            client.deliver = deliver_and_tell  # type: ignore[method-assign]
            hub._rooms.setdefault(room, set()).add(client)  # registered, as join() does first
            await hub.publish(room, message_event(room, "bob", "meanwhile"), keep=True)
            with anyio.fail_after(5):
                await held.wait()  # the live copy came back through Redis, and waits in the client
            return await original_join(room, client)

        hub.join = join_with_a_message_meanwhile  # type: ignore[method-assign]
        async with served.test_client().websocket("/ws") as alice:
            history = await join(alice, "lobby", "alice")
            assert [m["text"] for m in history] == ["meanwhile"]
            await say(alice, "after")
            assert (await receive(alice))["text"] == "after"  # not "meanwhile" a second time


@pytest.mark.anyio
async def test_the_listener_reconnects_when_redis_restarts(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    server = start_redis(port)
    app = redis_app(f"redis://127.0.0.1:{port}/0")
    try:
        async with app.test_app() as served:
            hub = app.extensions[HUB_KEY]
            assert isinstance(hub, RedisHub)
            client = served.test_client()
            async with client.websocket("/ws") as alice, client.websocket("/ws") as bob:
                await join(alice, "lobby", "alice")
                await join(bob, "lobby", "bob")
                await receive(alice)  # bob joined
                server.stop()
                await say(alice, "while Redis is away")
                error = await receive(alice)
                assert error == {"type": "error", "message": UNAVAILABLE}
                with anyio.fail_after(10):  # redis-py's retries give up: our listener takes over
                    await hub.wait_until(lambda: not hub.listening)
                health = await client.get("/health")
                assert health.json == {"status": "degraded", "hub": "redis", "listening": False}
                server = start_redis(port)  # a new, empty Redis on the same address
                with anyio.fail_after(10):
                    await hub.wait_until(lambda: hub.subscriptions == 2)
                assert (await client.get("/health")).json["status"] == "ok"
                for ws in (alice, bob):  # told that messages may have gone missing meanwhile
                    gap = await receive(ws)
                    assert gap["type"] == "error"
                    assert gap["message"].startswith(
                        "The server lost its connection to the other chat servers"
                    )
                await say(alice, "Redis is back")
                assert (await receive(bob))["text"] == "Redis is back"
                assert (await receive(alice))["text"] == "Redis is back"
    finally:
        server.stop()
    assert any(r.getMessage().startswith("Lost the Redis pub/sub connection") for r in caplog.records)


# ----------------------------------------------------------------- two processes


def serve_chat(redis_url: str) -> tuple[Process, str]:
    """`firkin run` of the chat with REDIS_URL, on a free port; the process and its ws:// URL."""
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    args = [
        sys.executable,
        "-m",
        "firkin",
        "--app",
        "examples.chat.app:app",
        "run",
        "--port",
        "0",
        "--no-access-log",
    ]
    process = Process(args, ready=r"Running on http://127\.0\.0\.1:(\d+)", env=env)
    return process, f"ws://127.0.0.1:{process.ready.group(1)}/ws"


def test_two_processes_share_rooms_and_history_through_redis(redis_url: str) -> None:
    (first, url_a), (second, url_b) = serve_chat(redis_url), serve_chat(redis_url)
    try:
        asyncio.run(asyncio.wait_for(_talk_across_processes(url_a, url_b), 15))
    finally:
        statuses = first.stop(), second.stop()
    # A graceful shutdown: the lifespan closed the hub (its listener and connections) without error.
    for process, status in zip((first, second), statuses, strict=True):
        assert status == 0, process.output()
        assert "Traceback" not in process.output(), process.output()


async def _talk_across_processes(url_a: str, url_b: str) -> None:
    async def member(url: str, room: str, nick: str) -> tuple[ClientConnection, list[Any]]:
        ws = await connect(url)
        await ws.send(json.dumps({"type": "join", "room": room, "nick": nick}))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        assert json.loads(await ws.recv())["nick"] == nick  # its own join notice
        return ws, welcome["history"]

    async def next_message(ws: ClientConnection) -> Any:
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == "message":
                return event

    alice, _ = await member(url_a, "lobby", "alice")  # on process A
    bob, _ = await member(url_b, "lobby", "bob")  # on process B
    carol, _ = await member(url_b, "kitchen", "carol")
    notice = json.loads(await alice.recv())
    assert (notice["type"], notice["nick"]) == ("join", "bob")  # published by B, heard on A

    await alice.send(json.dumps({"type": "say", "text": "from A"}))
    assert (await next_message(bob))["text"] == "from A"
    await bob.send(json.dumps({"type": "say", "text": "from B"}))
    assert (await next_message(alice))["text"] == "from A"  # her own, then bob's
    assert (await next_message(alice))["text"] == "from B"
    await carol.send(json.dumps({"type": "say", "text": "kitchen only"}))
    assert (await next_message(carol))["text"] == "kitchen only"

    dave, history = await member(url_a, "lobby", "dave")  # history said on both processes
    assert [(m["nick"], m["text"]) for m in history] == [("alice", "from A"), ("bob", "from B")]
    await dave.send(json.dumps({"type": "say", "text": "from dave"}))
    assert (await next_message(bob))["text"] == "from B"  # bob's own, then dave's: kitchen never came
    assert (await next_message(bob))["text"] == "from dave"
    for ws in (alice, bob, carol, dave):
        await ws.close()
