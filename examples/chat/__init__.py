"""A chat on firkin's websockets: rooms, nicknames, a bounded history per room, join and leave notices,
and a page that uses it from the browser. One process keeps the rooms in memory; with REDIS_URL set,
the rooms fan out through Redis pub/sub so that several processes serve one chat.

`create_app()` is in `examples.chat.app`; run it with `firkin --app examples.chat.app:app run`.
"""

from __future__ import annotations

__all__: list[str] = []
