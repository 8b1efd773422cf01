"""Flask's signals (and Quart's websocket ones), on blinker. Sending costs nothing when nobody listens
(checked before each send).

The request, template, app context and flashing signals are Flask's own objects (`flask.signals`),
so a receiver connected to `flask.request_started` or `flask.template_rendered` (as extensions do)
hears firkin's requests too. Receivers are called with the firkin app as the sender.
"""

from __future__ import annotations

from blinker import Namespace
from flask.signals import (
    appcontext_popped,
    appcontext_pushed,
    appcontext_tearing_down,
    before_render_template,
    got_request_exception,
    message_flashed,
    request_finished,
    request_started,
    request_tearing_down,
    template_rendered,
)

__all__ = [
    "appcontext_popped",
    "appcontext_pushed",
    "appcontext_tearing_down",
    "before_render_template",
    "got_request_exception",
    "got_websocket_exception",
    "message_flashed",
    "request_finished",
    "request_started",
    "request_tearing_down",
    "signals_available",
    "template_rendered",
    "websocket_finished",
    "websocket_started",
    "websocket_tearing_down",
]

# Only the websocket signals, which Flask does not have.
_signals = Namespace()

websocket_started = _signals.signal("websocket-started")
websocket_finished = _signals.signal("websocket-finished")
websocket_tearing_down = _signals.signal("websocket-tearing-down")
got_websocket_exception = _signals.signal("got-websocket-exception")

#: Always True: blinker is a dependency (Flask and Quart kept this flag for when it was optional).
signals_available = True
