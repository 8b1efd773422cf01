"""Flask's signals (and Quart's websocket ones), on blinker. Sending costs nothing when nobody listens
(checked before each send)."""

from __future__ import annotations

from blinker import Namespace

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

_signals = Namespace()

template_rendered = _signals.signal("template-rendered")
before_render_template = _signals.signal("before-render-template")
request_started = _signals.signal("request-started")
request_finished = _signals.signal("request-finished")
request_tearing_down = _signals.signal("request-tearing-down")
got_request_exception = _signals.signal("got-request-exception")
appcontext_tearing_down = _signals.signal("appcontext-tearing-down")
appcontext_pushed = _signals.signal("appcontext-pushed")
appcontext_popped = _signals.signal("appcontext-popped")
message_flashed = _signals.signal("message-flashed")
websocket_started = _signals.signal("websocket-started")
websocket_finished = _signals.signal("websocket-finished")
websocket_tearing_down = _signals.signal("websocket-tearing-down")
got_websocket_exception = _signals.signal("got-websocket-exception")

#: Always True: blinker is a dependency (Flask and Quart kept this flag for when it was optional).
signals_available = True
