"""The hub: who is in which room, the history of each room, and the fan-out of events to the members.

A `Client` is one websocket as the hub sees it: an outbox, the bounded queue of encoded events waiting
to be sent to it. The hub hands events to clients with `deliver()`, which never waits: a client whose
outbox is full has fallen `CHAT_CLIENT_QUEUE` events behind, and is dropped (its connection closes
with 1013) instead of slowing the room down or holding an ever longer backlog.

`MemoryHub` keeps the rooms of one process in memory; `examples.chat.redis_hub.RedisHub` shares them
between processes through Redis. `open_hub(app)` makes the one the config asks for.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import anyio
from firkin import Firkin, current_app

from .protocol import Event, encode

__all__ = ["HUB_KEY", "Client", "Hub", "HubError", "MemoryHub", "get_hub", "open_hub"]

#: Where the hub lives in `app.extensions`, as Flask extensions keep their state.
HUB_KEY = "chat.hub"


class HubError(Exception):
    """The hub could not do what was asked (Redis is unreachable, too many rooms); the message is
    meant for the user."""


class Client:
    """One websocket, as the hub sees it. `deliver()` queues an encoded event for it without waiting;
    the websocket's sender task takes them from `outbox`. When the outbox is full, `on_overflow` is
    called (once) and whatever comes later is dropped."""

    def __init__(self, limit: int, on_overflow: Callable[[], None]) -> None:
        self.limit = limit
        self.overflowed = False
        self._on_overflow = on_overflow
        self._inbox, self.outbox = anyio.create_memory_object_stream[str](limit)
        self._held: list[str] | None = None

    def deliver(self, text: str) -> None:
        if self.overflowed:
            return
        if self._held is not None:
            self._held.append(text)
            if len(self._held) <= self.limit:
                return
        else:
            try:
                self._inbox.send_nowait(text)
                return
            except anyio.WouldBlock:
                pass
        self.overflowed = True
        self._on_overflow()

    def hold(self) -> None:
        """Keep what is delivered from now on aside, until `release()`: while joining, the welcome
        (with the history) must go out first."""
        self._held = []

    def release(self, first: str, skip: set[str]) -> None:
        """Send `first` (the welcome), then what was held, less the messages whose ids are in `skip`
        (the history already holds them)."""
        held, self._held = self._held or [], None
        self.deliver(first)
        for text in held:
            if not skip or json.loads(text).get("id") not in skip:
                self.deliver(text)

    def drop_held(self) -> None:
        """Forget what was held (the join failed)."""
        self._held = None

    def close(self) -> None:
        self._inbox.close()
        self.outbox.close()


class Hub(Protocol):
    """What the websocket handler needs of a hub, in memory or through Redis."""

    async def start(self) -> None:
        """Called when the app starts serving."""

    async def close(self) -> None:
        """Called when the app stops serving."""

    async def join(self, room: str, client: Client) -> list[Event]:
        """Add `client` to `room`; returns the room's last messages, oldest first. Every message
        published later is delivered to the client (and none of those returned)."""

    async def leave(self, room: str, client: Client) -> None:
        """Take `client` out of `room`: nothing more is delivered to it from there."""

    async def publish(self, room: str, event: Event, *, keep: bool = False) -> None:
        """Deliver `event` to everyone in `room`, in the order published; `keep`: add it to the
        room's history too."""


@dataclass(slots=True)
class _Room:
    history: deque[Event]
    members: set[Client] = field(default_factory=set)


class MemoryHub:
    """The rooms of one process. Their number is bounded: past `max_rooms`, the empty room that was
    quiet the longest is forgotten (with its history) to make space for a new one."""

    def __init__(self, history: int, max_rooms: int) -> None:
        self.history = history
        self.max_rooms = max_rooms
        self._rooms: dict[str, _Room] = {}  # the least recently active first

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._rooms.clear()

    async def join(self, room: str, client: Client) -> list[Event]:
        state = self._rooms.get(room)
        if state is None:
            if len(self._rooms) >= self.max_rooms:
                self._forget_a_quiet_room()
            state = self._rooms[room] = _Room(deque(maxlen=self.history))
        state.members.add(client)
        return list(state.history)

    def _forget_a_quiet_room(self) -> None:
        for name, state in self._rooms.items():
            if not state.members:
                del self._rooms[name]
                return
        raise HubError(f"The server has {self.max_rooms} rooms in use already; join one of those.")

    async def leave(self, room: str, client: Client) -> None:
        state = self._rooms.get(room)
        if state is not None:
            state.members.discard(client)

    async def publish(self, room: str, event: Event, *, keep: bool = False) -> None:
        state = self._rooms.get(room)
        if state is None:
            return
        if keep:
            state.history.append(event)
            self._rooms[room] = self._rooms.pop(room)  # now the most recently active
        text = encode(event)  # once for the whole room
        # deliver() never waits and never changes the set: a client that overflows leaves later.
        for client in state.members:
            client.deliver(text)

    def rooms(self) -> dict[str, int]:
        """The rooms and how many are in each (for the health view and tests)."""
        return {name: len(state.members) for name, state in self._rooms.items()}


def open_hub(app: Firkin) -> Hub:
    """The app's hub, made on first use (when the app starts serving): through Redis when the
    config has a REDIS_URL, else in memory."""
    hub: Hub | None = app.extensions.get(HUB_KEY)
    if hub is None:
        config = app.config
        if config.get("REDIS_URL"):
            from .redis_hub import RedisHub

            hub = RedisHub(config["REDIS_URL"], config["CHAT_HISTORY"], prefix=config["CHAT_REDIS_PREFIX"])
        else:
            hub = MemoryHub(config["CHAT_HISTORY"], config["CHAT_MAX_ROOMS"])
        app.extensions[HUB_KEY] = hub
    return hub


def get_hub() -> Hub:
    """The current app's hub (in a view or a websocket handler)."""
    hub: Hub | None = current_app.extensions.get(HUB_KEY)
    if hub is None:
        raise RuntimeError(
            "The chat hub is opened when the app starts serving (before_serving). In tests, run the"
            " lifespan around the requests: `async with app.test_app():`."
        )
    return hub
