"""The ASGI adapters of a Firkin app, one module per scope type: `http` (requests), `websocket`,
`lifespan`, and the `background` tasks they share; `scope` reads what werkzeug's request classes
need from an ASGI scope. The app's `asgi_app` routes each scope here; what a request or a websocket
then goes through is the one dispatch pipeline (`firkin._pipeline`)."""

from .background import BackgroundTasks, background_tasks
from .http import handle_http, request_from_scope
from .lifespan import handle_lifespan, serving_started, serving_stopped
from .websocket import handle_websocket, websocket_from_scope

__all__ = [
    "BackgroundTasks",
    "background_tasks",
    "handle_http",
    "handle_lifespan",
    "handle_websocket",
    "request_from_scope",
    "serving_started",
    "serving_stopped",
    "websocket_from_scope",
]
