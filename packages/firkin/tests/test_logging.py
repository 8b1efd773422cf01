"""`app.logger` when logging is not configured: firkin's default handler writes to stderr. Flask's
reads the current request's WSGI environ, which an ASGI request does not have, so with it every
record logged during a request was lost to a "--- Logging error ---"."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from firkin import Firkin
from firkin.logging import create_logger, default_handler

pytestmark = pytest.mark.anyio


NAME = "firkin_logging_test_app"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """default_handler's output. The app's logger does not propagate to the test runner's handlers
    (see `unconfigured`)."""
    stream = io.StringIO()
    old = default_handler.setStream(stream)
    logger = logging.getLogger(NAME)
    logger.propagate = False
    try:
        yield stream
    finally:
        default_handler.setStream(old)
        logger.removeHandler(default_handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def unconfigured() -> None:
    """Take pytest's capturing handlers off the app's logger (pytest puts them on loggers that do not
    propagate, as the test is starting), so that it is as in a program that never set up logging."""
    logger = logging.getLogger(NAME)
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)


async def test_an_error_in_a_view_is_logged_by_the_default_handler(captured: io.StringIO) -> None:
    unconfigured()
    app = Firkin(NAME)

    @app.route("/")
    async def index() -> str:
        app.logger.warning("about to fail")
        raise LookupError("gone")

    response = await app.test_client().get("/")
    assert response.status_code == 500
    output = captured.getvalue()
    assert "WARNING in test_logging: about to fail" in output
    assert "ERROR in app: Exception on GET /" in output
    assert "LookupError: gone" in output
    assert app.logger.handlers == [default_handler]


def test_a_configured_logger_gets_no_default_handler(captured: io.StringIO) -> None:
    unconfigured()
    app = Firkin(NAME, root_path=".")
    handler = logging.NullHandler()
    logging.getLogger(app.name).addHandler(handler)
    try:
        assert default_handler not in create_logger(app).handlers
    finally:
        logging.getLogger(app.name).removeHandler(handler)


def test_debug_mode_logs_debug_records(captured: io.StringIO) -> None:
    app = Firkin(NAME, root_path=".")
    app.debug = True
    assert app.logger.level == logging.DEBUG
