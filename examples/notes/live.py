"""The live feed: what changes in a user's notes, sent to every window that user has open (each one a
websocket, `/api/live` in api.py). A user's notes are theirs alone, so each user has a feed of their
own; nobody else hears of them.

The feed lives in the memory of one server process: windows served by another process (several
`firkin run` behind one address) do not hear of each other's changes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.from_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from firkin import Firkin, current_app

__all__ = ["FEED_KEY", "LiveFeed", "TooManyFeeds", "get_feed", "open_feed"]

#: Where the feed lives in `app.extensions`.
FEED_KEY = "notes.live"

Event = dict[str, Any]


class TooManyFeeds(Exception):
    """The user has NOTES_LIVE_FEEDS_PER_USER feeds open already."""


class LiveFeed:
    """Subscribers per user; each gets the events published for its user, through a queue of its own
    bounded to `max_pending` events. Used from the event loop's thread only (sync code publishes
    through `publish_from_thread`), so it needs no lock."""

    def __init__(self, *, max_pending: int, max_per_user: int) -> None:
        self.max_pending = max_pending
        self.max_per_user = max_per_user
        self._subscribers: dict[int, set[MemoryObjectSendStream[Event]]] = {}

    def count(self, user_id: int) -> int:
        """How many feeds the user has open."""
        return len(self._subscribers.get(user_id, ()))

    @contextmanager
    def subscribe(self, user_id: int) -> Iterator[MemoryObjectReceiveStream[Event]]:
        """The user's events from now on, as a stream. A subscriber that falls more than
        `max_pending` events behind is dropped: its stream ends, rather than the feed waiting for it
        or keeping an ever longer backlog. Raises TooManyFeeds past `max_per_user` subscribers."""
        mine = self._subscribers.setdefault(user_id, set())
        if len(mine) >= self.max_per_user:
            raise TooManyFeeds(f"{len(mine)} live feeds are open for this user already (the most allowed)")
        send, receive = anyio.create_memory_object_stream[Event](self.max_pending)
        mine.add(send)
        try:
            with receive:
                yield receive
        finally:
            self._drop(user_id, send)

    def publish(self, user_id: int, event: Event) -> None:
        """Hand `event` to each of the user's subscribers, never waiting for one."""
        for subscriber in list(self._subscribers.get(user_id, ())):
            try:
                subscriber.send_nowait(event)
            except anyio.WouldBlock:  # fell `max_pending` events behind: dropped
                self._drop(user_id, subscriber)

    def publish_from_thread(self, user_id: int, event: Event) -> None:
        """`publish()` from a worker thread (a plain `def` view): it runs on the event loop."""
        anyio.from_thread.run_sync(self.publish, user_id, event)

    def _drop(self, user_id: int, subscriber: MemoryObjectSendStream[Event]) -> None:
        subscriber.close()
        mine = self._subscribers.get(user_id)
        if mine is not None:
            mine.discard(subscriber)
            if not mine:
                del self._subscribers[user_id]


def open_feed(app: Firkin) -> LiveFeed:
    feed = LiveFeed(
        max_pending=app.config["NOTES_LIVE_QUEUE"], max_per_user=app.config["NOTES_LIVE_FEEDS_PER_USER"]
    )
    app.extensions[FEED_KEY] = feed
    return feed


def get_feed() -> LiveFeed:
    """The current app's feed (in a view or a websocket handler)."""
    feed = current_app.extensions.get(FEED_KEY)
    if feed is None:
        raise RuntimeError(
            "The live feed is opened when the app starts serving (before_serving). In tests, run the "
            "lifespan around the requests: `async with app.test_app():`."
        )
    assert isinstance(feed, LiveFeed)
    return feed
