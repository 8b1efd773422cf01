"""The chat's page (`/`), its health view (`/health`) and its websocket (`/ws`).

Each websocket runs two tasks: the handler reads the client's commands and acts on them, and a sender
task writes the client's outbox to the socket. Everything the client is sent (the room's events, and
the answers to its own commands) goes through that outbox, so it arrives in order, and the hub never
waits for one client: when a client's outbox is full it has fallen `CHAT_CLIENT_QUEUE` events
behind, and the connection is closed with 1013 "try again later" (RFC 6455 §7.4.1, IANA registry).
"""

from __future__ import annotations

from typing import Any, Literal

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream
from firkin import (
    Blueprint,
    WebsocketDisconnected,
    copy_current_websocket_context,
    current_app,
    render_template,
    request,
    websocket,
)

from .hub import Client, Hub, HubError, MemoryHub, get_hub
from .protocol import (
    BadInput,
    Event,
    Join,
    Say,
    check_room,
    encode,
    error_event,
    left_event,
    message_event,
    notice_event,
    parse_command,
    welcome_event,
)

__all__ = ["CLOSE_TOO_SLOW", "Member", "chat"]

#: The close code for a client that fell too far behind: 1013 "Try Again Later" (the server is
#: overloaded as far as this client is concerned; a client may reconnect and join again), as the notes
#: example's live feed does.
CLOSE_TOO_SLOW = 1013

chat = Blueprint("chat", __name__)


@chat.get("/")
async def index() -> str:
    room = request.args.get("room", "lobby")
    try:
        check_room(room)
    except BadInput:
        room = "lobby"
    return await render_template("chat.html", room=room, max_message=current_app.config["CHAT_MAX_MESSAGE"])


@chat.get("/health")
async def health() -> dict[str, Any]:
    """{"status": "ok", "hub": "memory", "rooms": {room: members}}, or with Redis
    {"status": "ok" or "degraded", "hub": "redis", "listening": whether pub/sub is connected}."""
    hub = get_hub()
    if isinstance(hub, MemoryHub):
        return {"status": "ok", "hub": "memory", "rooms": hub.rooms()}
    from .redis_hub import RedisHub

    assert isinstance(hub, RedisHub)
    return {"status": "ok" if hub.listening else "degraded", "hub": "redis", "listening": hub.listening}


class Member:
    """One websocket's part in the chat: the room it is in, under which nickname, and what its commands
    do. What it is sent goes through its `client`'s outbox."""

    def __init__(self, hub: Hub, client: Client, max_message: int) -> None:
        self.hub = hub
        self.client = client
        self.max_message = max_message
        self.room: str | None = None
        self.nick: str | None = None

    def tell(self, event: Event) -> None:
        self.client.deliver(encode(event))

    async def handle(self, raw: str | bytes) -> None:
        """Carry out one frame the client sent; what is wrong with it is told to the client."""
        try:
            command = parse_command(raw, self.max_message)
            if isinstance(command, Join):
                await self.join(command.room, command.nick)
            elif isinstance(command, Say):
                await self.say(command.text)
            else:
                if self.room is None:
                    raise BadInput("You are not in a room.")
                await self.leave("left")
        except (BadInput, HubError) as error:
            self.tell(error_event(str(error)))

    async def join(self, room: str, nick: str) -> None:
        if self.room is not None:
            await self.leave("left")
        client = self.client
        client.hold()  # the welcome goes first, then what the room said meanwhile
        try:
            history = await self.hub.join(room, client)
        except BaseException:
            client.drop_held()
            raise
        self.room, self.nick = room, nick
        client.release(encode(welcome_event(room, nick, history)), skip={event["id"] for event in history})
        await self._announce(notice_event("join", room, nick))

    async def say(self, text: str) -> None:
        if self.room is None or self.nick is None:
            raise BadInput('Join a room first: {"type": "join", "room": "lobby", "nick": "you"}.')
        await self.hub.publish(self.room, message_event(self.room, self.nick, text), keep=True)

    async def leave(self, reason: Literal["left", "dropped"], *, tell: bool = True) -> None:
        room, nick = self.room, self.nick
        if room is None or nick is None:
            return
        self.room = None
        await self.hub.leave(room, self.client)
        if tell:
            self.tell(left_event(room))
        await self._announce(notice_event("leave", room, nick, reason))

    async def _announce(self, notice: Event) -> None:
        try:
            await self.hub.publish(notice["room"], notice)
        except HubError:  # the room misses a notice; the member's own request went through
            current_app.logger.warning("Could not announce %s to room %s", notice["type"], notice["room"])


@chat.websocket("/ws")
async def socket() -> None:
    """One chat connection: commands in (this task), events out (the sender task)."""
    config = current_app.config
    too_slow = anyio.CancelScope()  # cancelled when the client's outbox overflows
    client = Client(config["CHAT_CLIENT_QUEUE"], on_overflow=too_slow.cancel)
    member = Member(get_hub(), client, config["CHAT_MAX_MESSAGE"])
    await websocket.accept()
    try:
        with too_slow:
            async with anyio.create_task_group() as group:
                group.start_soon(
                    copy_current_websocket_context(_send_outbox), client.outbox, group.cancel_scope
                )
                await _receive_commands(member)
                group.cancel_scope.cancel()  # the client left: stop sending
    finally:
        room, nick = member.room, member.nick
        with anyio.CancelScope(shield=True):  # even when firkin cancels us because the client left
            await member.leave("dropped" if client.overflowed else "left", tell=False)
        client.close()
    if client.overflowed:
        current_app.logger.warning(
            "Dropped %s from room %s: %d events were waiting to be sent to it (CHAT_CLIENT_QUEUE);"
            " closing with %d",
            nick,
            room,
            client.limit,
            CLOSE_TOO_SLOW,
        )
        await websocket.close(CLOSE_TOO_SLOW, f"too slow: {client.limit} events behind")


async def _receive_commands(member: Member) -> None:
    try:
        while True:
            await member.handle(await websocket.receive())
            # receive() returns at once while messages are waiting: let the sender tasks run between
            # two commands, so that a burst from one client reaches the outboxes a little at a time.
            await anyio.lowlevel.checkpoint()
    except WebsocketDisconnected:
        return


async def _send_outbox(outbox: MemoryObjectReceiveStream[str], done: anyio.CancelScope) -> None:
    """Send what is in the outbox; waits only when the outbox is empty or the socket cannot take more
    (the server's send() waits then), so the outbox fills only while the client does not read."""
    try:
        while True:
            await websocket.send(await outbox.receive())
            while True:
                try:
                    text = outbox.receive_nowait()
                except anyio.WouldBlock:
                    break
                await websocket.send(text)
    except (WebsocketDisconnected, anyio.EndOfStream):
        pass
    done.cancel()  # the client left: stop receiving too
