"""The chat over real sockets: tapster serves it on each loop (asyncio, uvloop, trio) and the
`websockets` library's client talks to it: twenty clients in two rooms, and a client that stops
reading while its room goes on talking."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from conftest import RunningServer, ServeFactory
from examples.chat.app import create_app

CONFIG: dict[str, Any] = {"REDIS_URL": None, "CHAT_MAX_MESSAGE": 16_000}


def socket_url(running: RunningServer) -> str:
    return f"ws://{running.host}:{running.port}/ws"


async def joined(url: str, room: str, nick: str, **options: Any) -> ClientConnection:
    """A connection that has joined `room` (its welcome read)."""
    ws = await connect(url, **options)
    await ws.send(json.dumps({"type": "join", "room": room, "nick": nick}))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return ws


async def say(ws: ClientConnection, text: str) -> None:
    await ws.send(json.dumps({"type": "say", "text": text}))


async def messages(ws: ClientConnection, *, count: int | None = None, last: str | None = None) -> list[Any]:
    """The next `count` messages `ws` receives, or those up to the one whose text is `last`; the
    notices between them are checked (nobody here is dropped) and skipped."""
    received: list[Any] = []
    while count is None or len(received) < count:
        event = json.loads(await ws.recv())
        if event["type"] != "message":
            assert event["type"] in ("join", "leave"), event
            assert event.get("reason") != "dropped", event
            continue
        received.append(event)
        if event["text"] == last:
            break
    return received


def test_twenty_clients_in_two_rooms_each_see_their_rooms_messages_in_order(serve: ServeFactory) -> None:
    running = serve(create_app(CONFIG))
    url = socket_url(running)
    rooms = {"red": [f"red{n}" for n in range(10)], "blue": [f"blue{n}" for n in range(10)]}
    per_talker = 10
    per_room = 10 * per_talker

    async def talk(ws: ClientConnection, nick: str) -> None:
        for number in range(per_talker):
            await say(ws, f"{nick} {number}")

    async def main() -> dict[str, list[list[Any]]]:
        members = {
            room: await asyncio.gather(*(joined(url, room, nick) for nick in nicks))
            for room, nicks in rooms.items()
        }
        listening = {
            room: [asyncio.create_task(messages(ws, count=per_room)) for ws in members[room]]
            for room in rooms
        }
        # Everyone talks at once.
        await asyncio.gather(
            *(
                talk(ws, nick)
                for room, nicks in rooms.items()
                for ws, nick in zip(members[room], nicks, strict=True)
            )
        )
        heard = {room: list(await asyncio.gather(*tasks)) for room, tasks in listening.items()}
        # Then nothing more: the next message anyone gets is the "over" said in their own room.
        for room in rooms:
            await say(members[room][0], f"over in {room}")
        for room in rooms:
            for ws in members[room]:
                assert [m["text"] for m in await messages(ws, last=f"over in {room}")] == [f"over in {room}"]
        await asyncio.gather(*(ws.close() for connections in members.values() for ws in connections))
        return heard

    async def bounded() -> dict[str, list[list[Any]]]:
        async with asyncio.timeout(20):
            return await main()

    heard = asyncio.run(bounded())
    for room, nicks in rooms.items():
        first = [(m["nick"], m["text"]) for m in heard[room][0]]
        for sequence in heard[room]:
            assert {m["room"] for m in sequence} == {room}  # nothing from the other room
            assert [(m["nick"], m["text"]) for m in sequence] == first  # one order, the same for all
        for nick in nicks:  # each talker's messages, all of them, in the order sent
            assert [text for who, text in first if who == nick] == [f"{nick} {n}" for n in range(per_talker)]


def test_a_reader_that_stops_reading_is_dropped_and_the_others_go_on(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that never reads fills its TCP window and the server's write buffer; then the
    server's send() waits, its outbox fills (CHAT_CLIENT_QUEUE, 64), and it is dropped with 1013.
    Meanwhile the others get every message, each before the next one is said."""
    running = serve(create_app(CONFIG))
    url = socket_url(running)
    text = "x" * 15_000  # large messages fill the buffers sooner

    async def main() -> tuple[int, list[list[Any]], int, int | None]:
        # The slow client: a small receive buffer, no compression (which would squeeze these
        # messages to nothing), and at most one message read ahead by the library.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (running.host, running.port))
        slow = await joined(url, "lobby", "slow", sock=sock, compression=None, max_queue=1)
        readers = [await joined(url, "lobby", f"reader{n}") for n in range(3)]
        writer = await joined(url, "lobby", "writer")
        talkers = [*readers, writer]
        heard: list[list[Any]] = [[] for _ in talkers]
        saw_the_drop = [False for _ in talkers]
        said = 0
        # The writer waits for each message to come back to it before it says the next (as people
        # do), and so do the readers: nobody is more than one message behind, but slow.
        while not all(saw_the_drop):
            assert said < 20_000, "the slow reader was never dropped"
            await say(writer, f"{said} {text}")
            said += 1
            for number, ws in enumerate(talkers):
                while True:
                    event = json.loads(await ws.recv())
                    if event["type"] == "message":
                        heard[number].append(event["text"])
                        break
                    if event["type"] == "leave" and event["nick"] == "slow":
                        assert event["reason"] == "dropped"
                        saw_the_drop[number] = True
                    else:
                        assert event["type"] == "join", event
        await say(writer, "after the drop")
        for ws in talkers:
            assert [m["text"] for m in await messages(ws, last="after the drop")] == ["after the drop"]
        # Now slow reads what was on its way to it, then the close: 1013 "try again later".
        backlog = 0
        try:
            while True:
                event = json.loads(await slow.recv())
                backlog += event["type"] == "message"
        except ConnectionClosed as closed:
            code = None if closed.rcvd is None else closed.rcvd.code
        await asyncio.gather(*(ws.close() for ws in talkers))
        return said, heard, backlog, code

    async def bounded() -> tuple[int, list[list[Any]], int, int | None]:
        async with asyncio.timeout(20):
            return await main()

    with caplog.at_level(logging.WARNING, logger="examples.chat.app"):
        said, heard, backlog, code = asyncio.run(bounded())
    for got in heard:
        assert got == [f"{n} {text}" for n in range(said)]  # every message, in order
    assert code == 1013
    assert 0 < backlog < said  # slow got a part, and the rest was dropped with it
    dropped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Dropped")]
    assert dropped == [
        "Dropped slow from room lobby: 64 events were waiting to be sent to it (CHAT_CLIENT_QUEUE);"
        " closing with 1013"
    ]
