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
    stream_with_context,
)
from .globals import current_app, g, request, session
from .helpers import (
    abort,
    flash,
    get_flashed_messages,
    make_response,
    redirect,
    send_file,
    send_from_directory,
    url_for,
)
from .json import jsonify
from .signals import (
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
from .templating import render_template, render_template_string, stream_template, stream_template_string
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
    "before_render_template",
    "copy_current_app_context",
    "copy_current_request_context",
    "current_app",
    "escape",
    "flash",
    "g",
    "get_flashed_messages",
    "got_request_exception",
    "has_app_context",
    "has_request_context",
    "jsonify",
    "make_response",
    "message_flashed",
    "redirect",
    "render_template",
    "render_template_string",
    "request",
    "request_finished",
    "request_started",
    "request_tearing_down",
    "send_file",
    "send_from_directory",
    "session",
    "stream_template",
    "stream_template_string",
    "stream_with_context",
    "template_rendered",
    "url_for",
]
