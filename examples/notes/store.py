"""The notes, kept in memory: one store per served app, made when the app starts serving."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from firkin import Firkin, current_app

__all__ = ["STORE_KEY", "Note", "NoteStore", "get_store", "open_store"]

#: Where the store lives in `app.extensions`, as Flask extensions keep their state.
STORE_KEY = "notes.store"


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    title: str
    body: str
    author: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "body": self.body, "author": self.author}


class NoteStore:
    """Notes by id. Every method takes the lock, so concurrent requests (and sync views calling in
    through `anyio.from_thread`) see each change whole; ids are never reused."""

    def __init__(self) -> None:
        self._lock = anyio.Lock()
        self._notes: dict[int, Note] = {}
        self._next_id = 1
        self._subscribers: set[MemoryObjectSendStream[Note]] = set()

    @contextmanager
    def subscribe(self, max_pending: int = 16) -> Iterator[MemoryObjectReceiveStream[Note]]:
        """The notes added from now on, as a stream (the live feed). A subscriber that falls more
        than `max_pending` notes behind is dropped: its stream ends, rather than the store waiting
        for it or keeping an ever longer backlog."""
        send, receive = anyio.create_memory_object_stream[Note](max_pending)
        self._subscribers.add(send)
        try:
            with receive:
                yield receive
        finally:
            self._subscribers.discard(send)
            send.close()

    async def add(self, title: str, body: str, author: str) -> Note:
        async with self._lock:
            note = Note(self._next_id, title, body, author)
            self._notes[note.id] = note
            self._next_id += 1
        for subscriber in list(self._subscribers):
            try:
                subscriber.send_nowait(note)
            except anyio.WouldBlock:  # fell `max_pending` notes behind: dropped
                self._subscribers.discard(subscriber)
                subscriber.close()
        return note

    async def get(self, note_id: int) -> Note | None:
        async with self._lock:
            return self._notes.get(note_id)

    async def all(self) -> list[Note]:
        """A snapshot, oldest first."""
        async with self._lock:
            return list(self._notes.values())

    async def replace(self, note_id: int, title: str, body: str) -> Note | None:
        async with self._lock:
            old = self._notes.get(note_id)
            if old is None:
                return None
            note = Note(note_id, title, body, old.author)
            self._notes[note_id] = note
            return note

    async def delete(self, note_id: int) -> bool:
        async with self._lock:
            return self._notes.pop(note_id, None) is not None

    async def count(self) -> int:
        async with self._lock:
            return len(self._notes)


def open_store(app: Firkin) -> NoteStore:
    """The app's store, made on first use. Called when the app starts serving (in the running event
    loop, whose lock it gets) and by the `seed` command, which runs without a server."""
    store = app.extensions.get(STORE_KEY)
    if store is None:
        store = app.extensions[STORE_KEY] = NoteStore()
    assert isinstance(store, NoteStore)
    return store


def get_store() -> NoteStore:
    """The current app's store (in a view, a hook or a command)."""
    store = current_app.extensions.get(STORE_KEY)
    if store is None:
        raise RuntimeError(
            "The notes store is opened when the app starts serving (before_serving). In tests, "
            "run the lifespan around the requests: `async with app.test_app():`."
        )
    assert isinstance(store, NoteStore)
    return store
