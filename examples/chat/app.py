"""The application factory, `create_app()`, and the `app` that `firkin --app examples.chat.app:app run`
serves."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from firkin import Firkin

from .hub import HUB_KEY, open_hub
from .views import chat

__all__ = ["DEFAULTS", "app", "create_app"]

DEFAULTS: dict[str, Any] = {
    # Messages kept per room, and sent to whoever joins.
    "CHAT_HISTORY": 50,
    # Events waiting to be sent to one client; past that it is dropped (close 1013), so that one
    # slow reader never holds the others up nor makes the server buffer without end.
    "CHAT_CLIENT_QUEUE": 64,
    # Characters in one message.
    "CHAT_MAX_MESSAGE": 500,
    # Rooms one process keeps in memory (without Redis); past that, the quietest empty one goes.
    "CHAT_MAX_ROOMS": 1000,
    # Where the rooms live in Redis (keys "<prefix>history:<room>", channels "<prefix>room:<room>"),
    # so that several chats can share one Redis.
    "CHAT_REDIS_PREFIX": "chat:",
    # redis://host:port/db: rooms shared by every process with the same URL. None: in memory.
    "REDIS_URL": None,
}


def create_app(config: Mapping[str, Any] | None = None) -> Firkin:
    """A new chat app. Configuration, later sources winning: DEFAULTS, the REDIS_URL environment
    variable, the FIRKIN_* ones (FIRKIN_CHAT_HISTORY=100, FIRKIN_REDIS_URL=...), then `config`."""
    app = Firkin(__name__)
    app.config.from_mapping(DEFAULTS)
    if os.environ.get("REDIS_URL"):
        app.config["REDIS_URL"] = os.environ["REDIS_URL"]
    app.config.from_prefixed_env("FIRKIN")
    if config is not None:
        app.config.from_mapping(config)
    _check_config(app.config)

    app.register_blueprint(chat)

    @app.before_serving
    async def open_the_hub() -> None:
        await open_hub(app).start()  # with Redis: connected and subscribed, or the server does not start

    @app.after_serving
    async def close_the_hub() -> None:
        # The server has closed the websockets (1001) by now; a new serving period gets a new hub.
        await app.extensions.pop(HUB_KEY).close()

    return app


def _check_config(config: Mapping[str, Any]) -> None:
    for key, least in (
        ("CHAT_HISTORY", 0),
        ("CHAT_CLIENT_QUEUE", 1),
        ("CHAT_MAX_MESSAGE", 1),
        ("CHAT_MAX_ROOMS", 1),
    ):
        value = config[key]
        if type(value) is not int or value < least:
            raise ValueError(f"{key} must be an integer >= {least}; got {value!r}")


app = create_app()
