"""The chat example in process, through firkin's test client, on asyncio and trio: the page, the rooms,
the history, the notices, what bad input gets, and the drop of a client that falls behind.

Over real sockets: test_chat_e2e.py (tapster and the `websockets` client), test_chat_browser.py
(headless Chromium), test_chat_redis.py (two processes sharing rooms through a real redis-server).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import anyio
import pytest
from firkin import Firkin
from firkin.testing import FirkinClient, LifespanError, TestWebsocketConnection
from firkin.testing.connections import make_websocket_scope

from examples.chat import app as app_module
from examples.chat.app import DEFAULTS, create_app
from examples.chat.hub import HUB_KEY, Client, MemoryHub, get_hub
from examples.chat.protocol import MAX_NICK, MAX_ROOM, encode, message_event
from examples.chat.views import CLOSE_TOO_SLOW

pytestmark = pytest.mark.anyio

TEST_CONFIG: dict[str, Any] = {"TESTING": True, "REDIS_URL": None, "CHAT_HISTORY": 3, "CHAT_MAX_MESSAGE": 40}


@pytest.fixture
def app() -> Firkin:
    return create_app(TEST_CONFIG)


@pytest.fixture
async def client(app: Firkin) -> AsyncIterator[FirkinClient]:
    """A client for the app, started as a server starts it (the lifespan opens the hub)."""
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def receive(ws: TestWebsocketConnection) -> dict[str, Any]:
    with anyio.fail_after(5):
        event: dict[str, Any] = await ws.receive_json()
    return event


async def join(ws: TestWebsocketConnection, room: str, nick: str) -> dict[str, Any]:
    """Join `room`; the welcome, after checking that the member's own join notice follows it."""
    await ws.send_json({"type": "join", "room": room, "nick": nick})
    welcome = await receive(ws)
    assert welcome["type"] == "welcome", welcome
    assert welcome["room"] == room
    assert welcome["nick"] == nick
    assert without_time(await receive(ws)) == {"type": "join", "room": room, "nick": nick}
    return welcome


def without_time(event: dict[str, Any]) -> dict[str, Any]:
    """The event less what changes from run to run (its time and id)."""
    return {key: value for key, value in event.items() if key not in ("time", "id")}


async def say(ws: TestWebsocketConnection, text: str) -> None:
    await ws.send_json({"type": "say", "text": text})


# ----------------------------------------------------------------- configuration and the page


def test_config_from_defaults_environment_and_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("FIRKIN_CHAT_HISTORY", raising=False)
    assert create_app().config["REDIS_URL"] is None
    assert create_app().config["CHAT_HISTORY"] == DEFAULTS["CHAT_HISTORY"] == 50
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6399/0")
    monkeypatch.setenv("FIRKIN_CHAT_HISTORY", "7")  # parsed as JSON
    from_env = create_app()
    assert from_env.config["REDIS_URL"] == "redis://127.0.0.1:6399/0"
    assert from_env.config["CHAT_HISTORY"] == 7
    assert create_app({"REDIS_URL": None}).config["REDIS_URL"] is None


@pytest.mark.parametrize(
    ("key", "value"),
    [("CHAT_HISTORY", -1), ("CHAT_CLIENT_QUEUE", 0), ("CHAT_MAX_MESSAGE", "long"), ("CHAT_MAX_ROOMS", 1.5)],
)
def test_bad_config_is_refused_with_the_key_named(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=key):
        create_app({**TEST_CONFIG, key: value})


def test_module_level_app_for_the_command_line() -> None:
    assert isinstance(app_module.app, Firkin)
    assert app_module.app.name == "examples.chat.app"
    assert set(app_module.app.blueprints) == {"chat"}


async def test_the_hub_is_opened_and_closed_with_the_server(app: Firkin) -> None:
    async with app.app_context():
        with pytest.raises(RuntimeError, match=r"app\.test_app\(\)"):
            get_hub()
    async with app.test_app():
        assert isinstance(app.extensions[HUB_KEY], MemoryHub)
    assert HUB_KEY not in app.extensions  # a later serving period starts with a new hub


async def test_page_and_static_files(client: FirkinClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert 'data-socket="ws://localhost/ws"' in page.text  # url_for of the websocket route
    assert 'id="room" name="room" value="lobby"' in page.text
    assert 'maxlength="40"' in page.text  # CHAT_MAX_MESSAGE
    assert "/static/chat.js" in page.text
    assert "/static/chat.css" in page.text
    assert 'value="kitchen"' in (await client.get("/?room=kitchen")).text
    assert 'value="lobby"' in (await client.get("/?room=Not%20a%20room")).text
    script = await client.get("/static/chat.js")
    assert script.status_code == 200
    assert script.mimetype in ("text/javascript", "application/javascript")
    assert (await client.get("/static/chat.css")).mimetype == "text/css"


async def test_the_socket_is_a_websocket_only(client: FirkinClient) -> None:
    assert (await client.get("/ws")).status_code == 400


async def test_health(client: FirkinClient) -> None:
    async with client.websocket("/ws") as ws:
        await join(ws, "lobby", "alice")
        assert (await client.get("/health")).json == {"status": "ok", "hub": "memory", "rooms": {"lobby": 1}}


# ----------------------------------------------------------------- rooms


async def test_join_say_and_notices(client: FirkinClient) -> None:
    async with client.websocket("/ws") as alice, client.websocket("/ws") as bob:
        assert (await join(alice, "lobby", "alice"))["history"] == []
        await join(bob, "lobby", "bob")
        assert without_time(await receive(alice)) == {"type": "join", "room": "lobby", "nick": "bob"}

        await say(bob, "  hello, alice  ")
        for ws in (alice, bob):  # the sender gets its own message too: everyone sees one order
            event = await receive(ws)
            assert without_time(event) == {
                "type": "message",
                "room": "lobby",
                "nick": "bob",
                "text": "hello, alice",
            }
            assert len(event["id"]) == 32
            assert isinstance(event["time"], int)

        await bob.send_json({"type": "leave"})
        assert await receive(bob) == {"type": "left", "room": "lobby"}
        leave = without_time(await receive(alice))
        assert leave == {"type": "leave", "room": "lobby", "nick": "bob", "reason": "left"}
        await say(alice, "still here")
        assert (await receive(alice))["text"] == "still here"

        await say(bob, "after leaving")
        assert (await receive(bob))["message"].startswith("Join a room first")


async def test_rooms_are_separate_and_switching_leaves_the_old_one(client: FirkinClient) -> None:
    async with (
        client.websocket("/ws") as alice,
        client.websocket("/ws") as bob,
        client.websocket("/ws") as carol,
    ):
        await join(alice, "lobby", "alice")
        await join(bob, "lobby", "bob")
        await receive(alice)  # bob joined
        await join(carol, "kitchen", "carol")
        await say(carol, "in the kitchen")
        assert (await receive(carol))["text"] == "in the kitchen"

        await bob.send_json({"type": "join", "room": "kitchen", "nick": "bobby"})
        assert await receive(bob) == {"type": "left", "room": "lobby"}
        welcome = await receive(bob)
        assert welcome["type"] == "welcome"
        assert [m["text"] for m in welcome["history"]] == ["in the kitchen"]
        assert without_time(await receive(bob)) == {"type": "join", "room": "kitchen", "nick": "bobby"}
        leave = without_time(await receive(alice))
        assert leave == {"type": "leave", "room": "lobby", "nick": "bob", "reason": "left"}
        assert without_time(await receive(carol)) == {"type": "join", "room": "kitchen", "nick": "bobby"}

        await say(alice, "lobby only")
        await say(carol, "kitchen only")
        assert (await receive(alice))["text"] == "lobby only"
        assert (await receive(bob))["text"] == "kitchen only"
        assert (await receive(carol))["text"] == "kitchen only"


async def test_history_keeps_the_last_n_messages_in_order(client: FirkinClient) -> None:
    async with client.websocket("/ws") as alice:
        await join(alice, "lobby", "alice")
        for number in range(5):
            await say(alice, f"message {number}")
            await receive(alice)
    async with client.websocket("/ws") as bob:
        welcome = await join(bob, "lobby", "bob")
    assert [without_time(m) for m in welcome["history"]] == [
        {"type": "message", "room": "lobby", "nick": "alice", "text": f"message {number}"}
        for number in (2, 3, 4)  # CHAT_HISTORY = 3
    ]


async def test_leaving_by_disconnecting_is_announced(client: FirkinClient) -> None:
    async with client.websocket("/ws") as alice:
        await join(alice, "lobby", "alice")
        async with client.websocket("/ws") as bob:
            await join(bob, "lobby", "bob")
            await receive(alice)  # bob joined
        leave = without_time(await receive(alice))
        assert leave == {"type": "leave", "room": "lobby", "nick": "bob", "reason": "left"}
        assert (await client.get("/health")).json["rooms"] == {"lobby": 1}


async def test_the_number_of_rooms_is_bounded() -> None:
    app = create_app({**TEST_CONFIG, "CHAT_MAX_ROOMS": 2})
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with (
            client.websocket("/ws") as alice,
            client.websocket("/ws") as bob,
            client.websocket("/ws") as carol,
        ):
            await join(alice, "one", "alice")
            await say(alice, "remembered while there is space")
            await receive(alice)
            await join(bob, "two", "bob")
            # "one" is empty once alice moves on: it is forgotten to make space for "three".
            await alice.send_json({"type": "join", "room": "three", "nick": "alice"})
            assert await receive(alice) == {"type": "left", "room": "one"}
            assert (await receive(alice))["type"] == "welcome"
            await receive(alice)  # her join notice
            await carol.send_json({"type": "join", "room": "four", "nick": "carol"})
            full = "The server has 2 rooms in use already; join one of those."
            assert await receive(carol) == {"type": "error", "message": full}
            await bob.send_json({"type": "leave"})
            assert (await receive(bob))["type"] == "left"
            assert (await join(carol, "one", "carol"))["history"] == []  # a new room "one"
            assert (await client.get("/health")).json["rooms"] == {"three": 1, "one": 1}


# ----------------------------------------------------------------- bad input


BAD_INPUT: list[tuple[str | bytes, str]] = [
    (b"\x00binary", "Send text frames with JSON in them, not binary ones."),
    ("hello", 'Send JSON, such as {"type": "say", "text": "hello"}.'),
    ("[1, 2]", 'Send a JSON object whose "type" is "join", "say" or "leave".'),
    ('{"room": "lobby"}', 'Send a JSON object whose "type" is "join", "say" or "leave".'),
    ('{"type": "shout"}', 'Send a JSON object whose "type" is "join", "say" or "leave".'),
    ('{"type": "say", "text": "hi"}', 'Join a room first: {"type": "join", "room": "lobby", "nick": "you"}.'),
    ('{"type": "leave"}', "You are not in a room."),
]
BAD_NICK = f"A nickname is 1 to {MAX_NICK} letters, digits, '_', '.' or '-'."
BAD_ROOM = f"A room name is 1 to {MAX_ROOM} lowercase letters, digits or '-', and does not start with '-'."
BAD_JOINS: list[tuple[dict[str, object], str]] = [
    ({"room": "lobby"}, BAD_NICK),
    ({"room": "lobby", "nick": ""}, BAD_NICK),
    ({"room": "lobby", "nick": "two words"}, BAD_NICK),
    ({"room": "lobby", "nick": "<script>"}, BAD_NICK),
    ({"room": "lobby", "nick": "x" * (MAX_NICK + 1)}, BAD_NICK),
    ({"room": "lobby", "nick": 42}, BAD_NICK),
    ({"room": "Lobby", "nick": "alice"}, BAD_ROOM),
    ({"room": "-lobby", "nick": "alice"}, BAD_ROOM),
    ({"room": "lob by", "nick": "alice"}, BAD_ROOM),
    ({"room": "r" * (MAX_ROOM + 1), "nick": "alice"}, BAD_ROOM),
    ({"room": ["lobby"], "nick": "alice"}, BAD_ROOM),
    ({"nick": "alice"}, BAD_ROOM),
]
BAD_MESSAGES: list[tuple[object, str]] = [
    ("", "The message is empty."),
    (" \n\t ", "The message is empty."),
    ("x" * 41, "A message is at most 40 characters; this one has 41."),
    ("bell\x07", "A message cannot hold control characters (other than newlines and tabs)."),
    (["not", "text"], 'A message is a string: {"type": "say", "text": "..."}.'),
]


async def test_bad_input_gets_an_error_and_the_connection_goes_on(client: FirkinClient) -> None:
    async with client.websocket("/ws") as ws:
        for frame, message in BAD_INPUT:
            await ws.send(frame)
            assert await receive(ws) == {"type": "error", "message": message}, frame
        for fields, message in BAD_JOINS:
            await ws.send_json({"type": "join", **fields})
            assert await receive(ws) == {"type": "error", "message": message}, fields
        await join(ws, "lobby", "Zoë_2.0-x")  # letters of any script
        for text, message in BAD_MESSAGES:
            await ws.send_json({"type": "say", "text": text})
            assert await receive(ws) == {"type": "error", "message": message}, text
        await say(ws, "x" * 40)  # exactly the limit
        assert (await receive(ws))["text"] == "x" * 40
        await say(ws, "two\tlines\nand <b>markup</b>")
        assert (await receive(ws))["text"] == "two\tlines\nand <b>markup</b>"
        await ws.send_json({"type": "join", "room": "lobby", "nick": "bad nick"})  # still in lobby
        assert (await receive(ws))["type"] == "error"
        await say(ws, "still in the lobby")
        assert (await receive(ws))["room"] == "lobby"


# ----------------------------------------------------------------- a client that falls behind


def test_a_client_overflows_once_and_then_gets_nothing() -> None:
    overflows: list[str] = []
    client = Client(2, on_overflow=lambda: overflows.append("over"))
    for text in ("a", "b", "c", "d"):
        client.deliver(text)
    assert overflows == ["over"]
    assert client.overflowed
    assert [client.outbox.receive_nowait() for _ in range(2)] == ["a", "b"]
    client.close()


def test_a_joining_client_gets_the_welcome_first_and_no_message_twice() -> None:
    client = Client(4, on_overflow=lambda: pytest.fail("no overflow expected"))
    in_history, live = message_event("r", "a", "in both"), message_event("r", "a", "only live")
    client.hold()
    client.deliver(encode(in_history))
    client.deliver(encode(live))
    client.release("welcome", skip={in_history["id"]})
    assert [client.outbox.receive_nowait() for _ in range(2)] == ["welcome", encode(live)]
    client.close()


def test_what_a_client_holds_is_bounded_too() -> None:
    overflows: list[str] = []
    client = Client(2, on_overflow=lambda: overflows.append("over"))
    client.hold()
    for text in ("a", "b", "c"):
        client.deliver(text)
    assert overflows == ["over"]
    client.close()


class StalledSocket:
    """A websocket client on the app's ASGI interface that stops reading when told to: from then on,
    the app's sends wait for ever, as a server's do once a client's TCP window and the server's write
    buffer are full. (The test client's own websockets buffer without bound.)"""

    def __init__(self, app: Firkin) -> None:
        self.app = app
        self.stalled = False
        self.closed: dict[str, Any] | None = None  # the app's websocket.close
        self._to_app, self._app_inbox = anyio.create_memory_object_stream[dict[str, Any]](16)
        self._app_outbox, self._from_app = anyio.create_memory_object_stream[dict[str, Any]](16)

    async def run(self) -> None:
        async def receive() -> dict[str, Any]:
            return await self._app_inbox.receive()

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "websocket.close":
                self.closed = dict(message)
            elif message["type"] == "websocket.send" and self.stalled:
                await anyio.sleep_forever()
            else:
                await self._app_outbox.send(dict(message))

        await self._to_app.send({"type": "websocket.connect"})
        try:
            await self.app(make_websocket_scope(self.app, "/ws"), receive, send)
        finally:
            for stream in (self._to_app, self._app_inbox, self._app_outbox, self._from_app):
                stream.close()

    async def send_json(self, data: Any) -> None:
        await self._to_app.send({"type": "websocket.receive", "text": json.dumps(data)})

    async def receive_json(self) -> Any:
        with anyio.fail_after(5):
            while True:
                message = await self._from_app.receive()
                if message["type"] == "websocket.send":
                    return json.loads(message["text"])


async def test_a_client_that_falls_behind_is_dropped_with_1013(
    app: Firkin, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["CHAT_CLIENT_QUEUE"] = 4
    with anyio.fail_after(10):  # the task group ends when the app's handler for slow does
        async with app.test_app() as test_app, anyio.create_task_group() as group:
            client = test_app.test_client()
            slow = StalledSocket(app)
            group.start_soon(slow.run)
            await slow.send_json({"type": "join", "room": "lobby", "nick": "slow"})
            assert (await slow.receive_json())["type"] == "welcome"
            async with client.websocket("/ws") as other:
                await join(other, "lobby", "other")
                assert (await slow.receive_json())["nick"] == "slow"  # the join notices
                assert (await slow.receive_json())["nick"] == "other"
                slow.stalled = True
                # The first message's send never ends, the next 4 fill slow's outbox, the 6th is one
                # too many; "other" gets every one of them regardless, then hears that slow was dropped.
                with caplog.at_level(logging.WARNING, logger=app.logger.name):
                    for number in range(6):
                        await say(other, f"message {number}")
                        assert (await receive(other))["text"] == f"message {number}"
                    leave = without_time(await receive(other))
                assert leave == {"type": "leave", "room": "lobby", "nick": "slow", "reason": "dropped"}
                await say(other, "carry on")
                assert (await receive(other))["text"] == "carry on"
                assert (await client.get("/health")).json["rooms"] == {"lobby": 1}
    assert slow.closed is not None
    assert slow.closed["code"] == CLOSE_TOO_SLOW == 1013
    assert slow.closed["reason"] == "too slow: 4 events behind"
    dropped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Dropped")]
    assert dropped == [
        "Dropped slow from room lobby: 4 events were waiting to be sent to it (CHAT_CLIENT_QUEUE);"
        " closing with 1013"
    ]


# ----------------------------------------------------------------- Redis, where it is not


async def test_redis_url_needs_asyncio_or_a_reachable_redis(anyio_backend: str) -> None:
    app = create_app({**TEST_CONFIG, "REDIS_URL": "redis://127.0.0.1:1/0"})  # nobody listens on port 1
    expected = (
        "REDIS_URL needs asyncio"
        if anyio_backend == "trio"
        else "Cannot reach Redis at redis://127.0.0.1:1/0"
    )
    with pytest.raises(LifespanError, match=expected):
        async with app.test_app():
            pass  # pragma: no cover
