"""URL routing: werkzeug's Map and Rule, as the app's `url_map_class` / `url_rule_class` (Quart's path)."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Map, MapAdapter, Rule

from ._fastpaths.matching import FastMatchMap

__all__ = ["FirkinMap", "FirkinRule", "MapAdapter", "has_subdomain_rules", "subdomain_of"]


class FirkinRule(Rule):
    """A URL rule. `websocket=True` marks a websocket route (`app.websocket`): it matches websocket
    handshakes only, and an HTTP rule on the same path matches HTTP requests only (an HTTP request to
    a path with only a websocket rule is werkzeug's WebsocketMismatch, 400 Bad Request, as in Quart)."""

    def __init__(self, string: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(string, *args, **kwargs)


class FirkinMap(FastMatchMap):
    """The app's URL map: werkzeug's, with a fast match (`firkin._fastpaths.matching`) and the
    knowledge of whether a rule is for a subdomain."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subdomain_rules: bool | None = None

    def add(self, rulefactory: Any) -> None:
        super().add(rulefactory)
        self._subdomain_rules = None  # worked out again when next asked

    @property
    def has_subdomain_rules(self) -> bool:
        """Whether a rule is for a subdomain other than the default one (which makes firkin match
        subdomains, as Quart does: see `Firkin.create_url_adapter`)."""
        found = self._subdomain_rules
        if found is None:
            found = self._subdomain_rules = has_subdomain_rules(self)
        return found


def has_subdomain_rules(url_map: Map) -> bool:
    """Whether a rule of `url_map` is for a subdomain other than the map's default."""
    default = url_map.default_subdomain or ""
    return any((rule.subdomain or "") != default for rule in url_map.iter_rules())


def subdomain_of(host: str, server_name: str | None, scheme: str) -> str:
    """The subdomain part of `host` under SERVER_NAME ("" without one, or for the name itself);
    "<invalid>" when the host is not under it (werkzeug's word), so that neither the plain rules nor
    a named subdomain's match; a wildcard subdomain rule (`<user>`) still does, as in Flask."""
    if not server_name:
        return ""
    name = server_name.lower()
    if scheme in ("http", "ws"):
        name = name.removesuffix(":80")
    elif scheme in ("https", "wss"):
        name = name.removesuffix(":443")
    labels = host.lower().split(".")
    suffix = name.split(".")
    if labels[-len(suffix) :] != suffix:
        return "<invalid>"
    return ".".join(label for label in labels[: -len(suffix)] if label)
