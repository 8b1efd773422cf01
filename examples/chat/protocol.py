"""What goes over the websocket, as JSON in text frames: the commands a client sends, parsed and checked
(anything wrong is a `BadInput` whose message is meant for the user), and the events the server sends.

Client to server:

    {"type": "join", "room": "lobby", "nick": "alice"}   join a room (leaving the one you are in)
    {"type": "say", "text": "hello"}                     a message to your room
    {"type": "leave"}                                    leave your room

Server to client:

    {"type": "welcome", "room", "nick", "history": [message, ...]}
                    you joined; the room's last messages, oldest first
    {"type": "message", "id", "room", "nick", "text", "time"}
                    time: milliseconds since the epoch
    {"type": "join", "room", "nick", "time"}
                    someone joined your room (you too)
    {"type": "leave", "room", "nick", "time", "reason"}
                    someone left your room; reason: "left", or "dropped" (too slow)
    {"type": "left", "room"}
                    you left the room
    {"type": "error", "message"}
                    what was wrong; the connection stays open
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "MAX_NICK",
    "MAX_ROOM",
    "BadInput",
    "Command",
    "Event",
    "Join",
    "Leave",
    "Say",
    "check_nick",
    "check_room",
    "check_text",
    "encode",
    "error_event",
    "left_event",
    "message_event",
    "notice_event",
    "parse_command",
    "welcome_event",
]

Event = dict[str, Any]

MAX_NICK = 24  # characters
MAX_ROOM = 32  # characters
# Letters and digits of any script, '_', '.' and '-': a name that reads as one word.
_NICK = re.compile(rf"[\w.-]{{1,{MAX_NICK}}}")
# Lowercase ASCII, as chat channels usually are: room names are also Redis keys and parts of URLs.
_ROOM = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{MAX_ROOM - 1}}}")
# Control characters other than newline and tab, which a message may hold.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class BadInput(Exception):
    """A command that cannot be carried out; `str(error)` tells the user what to send instead."""


@dataclass(frozen=True, slots=True)
class Join:
    room: str
    nick: str


@dataclass(frozen=True, slots=True)
class Say:
    text: str


@dataclass(frozen=True, slots=True)
class Leave:
    pass


Command = Join | Say | Leave


def check_nick(nick: object) -> str:
    if not isinstance(nick, str) or _NICK.fullmatch(nick) is None:
        raise BadInput(f"A nickname is 1 to {MAX_NICK} letters, digits, '_', '.' or '-'.")
    return nick


def check_room(room: object) -> str:
    if not isinstance(room, str) or _ROOM.fullmatch(room) is None:
        raise BadInput(
            f"A room name is 1 to {MAX_ROOM} lowercase letters, digits or '-', and does not start with '-'."
        )
    return room


def check_text(text: object, max_length: int) -> str:
    if not isinstance(text, str):
        raise BadInput('A message is a string: {"type": "say", "text": "..."}.')
    text = text.strip()
    if not text:
        raise BadInput("The message is empty.")
    if len(text) > max_length:
        raise BadInput(f"A message is at most {max_length} characters; this one has {len(text)}.")
    if _CONTROL.search(text):
        raise BadInput("A message cannot hold control characters (other than newlines and tabs).")
    return text


def parse_command(raw: str | bytes, max_message: int) -> Command:
    """The command in one frame the client sent, checked; `BadInput` says what is wrong with it."""
    if not isinstance(raw, str):
        raise BadInput("Send text frames with JSON in them, not binary ones.")
    try:
        data = json.loads(raw)
    except ValueError:
        raise BadInput('Send JSON, such as {"type": "say", "text": "hello"}.') from None
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "join":
        return Join(check_room(data.get("room")), check_nick(data.get("nick")))
    if kind == "say":
        return Say(check_text(data.get("text"), max_message))
    if kind == "leave":
        return Leave()
    raise BadInput('Send a JSON object whose "type" is "join", "say" or "leave".')


# ----------------------------------------------------------------- the server's events


def encode(event: Event) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def _now() -> int:
    return int(time.time() * 1000)


def message_event(room: str, nick: str, text: str) -> Event:
    # The id lets a client that joins while messages flow (through Redis) drop the live copy of a
    # message that its history already holds.
    return {
        "type": "message",
        "id": uuid.uuid4().hex,
        "room": room,
        "nick": nick,
        "text": text,
        "time": _now(),
    }


def notice_event(
    kind: Literal["join", "leave"], room: str, nick: str, reason: Literal["left", "dropped"] | None = None
) -> Event:
    event: Event = {"type": kind, "room": room, "nick": nick, "time": _now()}
    if reason is not None:
        event["reason"] = reason
    return event


def welcome_event(room: str, nick: str, history: list[Event]) -> Event:
    return {"type": "welcome", "room": room, "nick": nick, "history": history}


def left_event(room: str) -> Event:
    return {"type": "left", "room": room}


def error_event(message: str) -> Event:
    return {"type": "error", "message": message}
