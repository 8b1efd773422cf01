"""The JSON provider classes (Flask's), at Quart's module path: subclass `DefaultJSONProvider` and set
`app.json_provider_class` (or `app.json`) to customise how the app reads and writes JSON."""

from flask.json.provider import DefaultJSONProvider, JSONProvider

__all__ = ["DefaultJSONProvider", "JSONProvider"]
