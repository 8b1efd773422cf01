"""URL routing: werkzeug's Map and Rule, as the app's `url_map_class` / `url_rule_class` (Quart's path)."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Map, MapAdapter, Rule

__all__ = ["FirkinMap", "FirkinRule", "MapAdapter"]


class FirkinRule(Rule):
    """A URL rule. `websocket=True` marks a websocket route (served once websockets land)."""

    def __init__(self, string: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(string, *args, **kwargs)


class FirkinMap(Map):
    """The app's URL map."""
