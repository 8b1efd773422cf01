"""The app's logger (`app.logger`), and the handler it gets when logging is not set up (Quart's
`quart.logging` path).

Flask's default handler writes to the WSGI errors stream of the current request, which it finds in
`request.environ`: a firkin request is an ASGI one, without an environ, so that handler failed
("--- Logging error ---") on every record logged during a request. firkin's writes to stderr, as
Quart's does.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from flask.logging import has_level_handler

if TYPE_CHECKING:
    from flask.sansio.app import App

__all__ = ["create_logger", "default_handler", "has_level_handler"]

#: Added to the app's logger when no handler would take its records; remove it to configure your own:
#: `app.logger.removeHandler(firkin.logging.default_handler)`.
default_handler = logging.StreamHandler(sys.stderr)
default_handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s in %(module)s: %(message)s"))


def create_logger(app: App) -> logging.Logger:
    """The logger named after the app: at DEBUG level in debug mode (unless a level is set), with
    `default_handler` unless a handler for its level is already configured."""
    logger = logging.getLogger(app.name)
    if app.debug and not logger.level:
        logger.setLevel(logging.DEBUG)
    if not has_level_handler(logger):
        logger.addHandler(default_handler)
    return logger
