"""The hub through Redis, so that several processes (on one machine or many) serve one chat.

Each process keeps its own websockets' rooms in memory, as `MemoryHub` does, and listens to Redis for
what to deliver to them: one pub/sub connection per process, subscribed to the pattern
`<prefix>room:*`. Publishing a message is one MULTI/EXEC transaction (RPUSH to the room's history,
LTRIM it to the last `history` messages, PUBLISH to the room's channel), so every process sees the
messages of a room in the order the history keeps them.

Joining registers the client locally *before* reading the history, so no message falls between the
two; one that is in both (published while the history was read) is dropped from the live copy by its
id (see `Client.hold` / `Client.release`). Pub/sub does not keep what it could not deliver: while the
listener is cut off from Redis (it reconnects on its own, backing off up to `RECONNECT_MAX` seconds)
live messages are lost to this process's clients, who are told so; the history has them.

redis.asyncio runs on asyncio (and uvloop), not on trio.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from .hub import Client, HubError
from .protocol import Event, encode, error_event

__all__ = ["RECONNECT_MAX", "RECONNECT_MIN", "RedisHub"]

log = logging.getLogger(__name__)

RECONNECT_MIN = 0.1  # seconds before the listener's first attempt to reconnect, doubled each failure
RECONNECT_MAX = 5.0  # seconds between attempts at most
SOCKET_TIMEOUT = 5.0  # seconds for a command's answer (and to connect)
RETRIES = 3  # more tries of a command whose connection broke, within about 0.1 s (redis-py's default,
# 10 tries up to 1 s apart, would keep a user waiting seconds before being told to try again)

_UNAVAILABLE = "The chat cannot reach its message store (Redis) just now; try again in a moment."
_GAP = (
    "The server lost its connection to the other chat servers for a moment: messages sent meanwhile"
    " may be missing here. Join the room again to see its history."
)


class RedisHub:
    """Rooms shared through Redis at `url`: histories in capped lists, events through pub/sub."""

    def __init__(self, url: str, history: int, *, prefix: str = "chat:") -> None:
        self.url = url
        self.history = history
        self.prefix = prefix
        #: Whether the listener is subscribed now, and how many times it has subscribed (more than
        #: once: it reconnected, by itself or through redis-py's retries).
        self.listening = False
        self.subscriptions = 0
        self._rooms: dict[str, set[Client]] = {}  # this process's clients only
        self._redis: Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None  # set (and replaced) when those change

    def _history_key(self, room: str) -> str:
        return f"{self.prefix}history:{room}"

    def _channel(self, room: str) -> str:
        return f"{self.prefix}room:{room}"

    def _connection(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("RedisHub.start() opens the connection: the hub is not serving")
        return self._redis

    # ----------------------------------------------------------------- lifetime

    async def start(self, timeout: float = 10.0) -> None:
        """Connect, and subscribe the listener (waiting, up to `timeout` seconds, until Redis has
        confirmed it: no message published after this returns is missed)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "REDIS_URL needs asyncio (or uvloop): redis.asyncio does not run on trio."
                " Serve with --loop asyncio, or unset REDIS_URL for rooms in memory."
            ) from None
        self._redis = Redis.from_url(
            self.url,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.5), retries=RETRIES),
        )
        self._changed = asyncio.Event()
        try:
            await self._redis.ping()
            self._listener = asyncio.create_task(self._listen(), name=f"chat: Redis listener ({self.url})")
            await asyncio.wait_for(self.wait_until(lambda: self.listening), timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            await self.close()
            raise RuntimeError(f"Cannot reach Redis at {self.url}: {exc or type(exc).__name__}") from exc

    async def close(self) -> None:
        """Stop the listener (its connection is closed as it ends), then close the connections."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.wait([listener])  # (a cancellation of close() itself still propagates)
        connection, self._redis = self._redis, None
        if connection is not None:
            await connection.aclose()
        self._rooms.clear()

    async def wait_until(self, check: Callable[[], bool]) -> None:
        """Wait until `check()` is true; it is tried again each time `listening` or `subscriptions`
        changes."""
        while not check():
            assert self._changed is not None, "the hub is not serving"
            await self._changed.wait()

    def _tell_changed(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        if event is not None:
            event.set()

    async def _listen(self) -> None:
        delay = RECONNECT_MIN
        while True:
            pubsub = self._connection().pubsub()
            try:
                await pubsub.psubscribe(self._channel("*"))
                async for message in pubsub.listen():
                    if message["type"] == "pmessage":
                        self._fan_out(message["channel"], message["data"])
                    elif message["type"] == "psubscribe":  # Redis confirms (also after redis-py reconnected)
                        delay = RECONNECT_MIN
                        self._on_subscribed()
            except (RedisError, OSError) as exc:
                self.listening = False
                self._tell_changed()
                log.warning(
                    "Lost the Redis pub/sub connection to %s (%s); reconnecting in %.1f s",
                    self.url,
                    exc,
                    delay,
                )
            except Exception:  # a bug must not end the chat for this process: log it, go on
                self.listening = False
                self._tell_changed()
                log.exception("The Redis listener failed; starting it again in %.1f s", delay)
            finally:
                await _close_quietly(pubsub)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    def _on_subscribed(self) -> None:
        self.listening = True
        self.subscriptions += 1
        if self.subscriptions > 1:
            log.info("Subscribed to %s again", self.url)
            gap = encode(error_event(_GAP))
            for members in self._rooms.values():
                for client in members:
                    client.deliver(gap)
        self._tell_changed()

    def _fan_out(self, channel: str, text: str) -> None:
        room = channel[len(self._channel("")) :]
        # deliver() never waits and never changes the set: a client that overflows leaves later.
        for client in self._rooms.get(room, ()):
            client.deliver(text)

    # ----------------------------------------------------------------- the Hub protocol

    async def join(self, room: str, client: Client) -> list[Event]:
        self._rooms.setdefault(room, set()).add(client)
        try:
            raw = await self._connection().lrange(self._history_key(room), 0, -1)
        except RedisError as exc:
            await self.leave(room, client)
            raise HubError(_UNAVAILABLE) from exc
        return [json.loads(text) for text in raw]

    async def leave(self, room: str, client: Client) -> None:
        members = self._rooms.get(room)
        if members is not None:
            members.discard(client)
            if not members:
                del self._rooms[room]

    async def publish(self, room: str, event: Event, *, keep: bool = False) -> None:
        text = encode(event)
        try:
            async with self._connection().pipeline(transaction=True) as pipe:
                if keep and self.history > 0:
                    key = self._history_key(room)
                    pipe.rpush(key, text)
                    pipe.ltrim(key, -self.history, -1)
                pipe.publish(self._channel(room), text)
                await pipe.execute()
        except RedisError as exc:
            raise HubError(_UNAVAILABLE) from exc


async def _close_quietly(pubsub: Any) -> None:
    try:
        await pubsub.aclose()
    except (RedisError, OSError):  # the connection is already broken: nothing left to close cleanly
        pass
