"""Firkin: the Flask API on async/await, over ASGI."""

from markupsafe import Markup, escape

from .app import Firkin
from .blueprints import Blueprint
from .config import Config
from .ctx import (
    after_this_request,
    copy_current_app_context,
    copy_current_request_context,
    has_app_context,
    has_request_context,
)
from .globals import current_app, g, request, session
from .helpers import abort, make_response, redirect, url_for
from .json import jsonify
from .signals import (
    appcontext_popped,
    appcontext_pushed,
    appcontext_tearing_down,
    got_request_exception,
    request_finished,
    request_started,
    request_tearing_down,
)
from .wrappers import Request, Response

__version__ = "0.1.0"

__all__ = [
    "Blueprint",
    "Config",
    "Firkin",
    "Markup",
    "Request",
    "Response",
    "__version__",
    "abort",
    "after_this_request",
    "appcontext_popped",
    "appcontext_pushed",
    "appcontext_tearing_down",
    "copy_current_app_context",
    "copy_current_request_context",
    "current_app",
    "escape",
    "g",
    "got_request_exception",
    "has_app_context",
    "has_request_context",
    "jsonify",
    "make_response",
    "redirect",
    "request",
    "request_finished",
    "request_started",
    "request_tearing_down",
    "session",
    "url_for",
]
