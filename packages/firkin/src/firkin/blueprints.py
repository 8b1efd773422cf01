"""Blueprints: Flask's sans-I/O Blueprint (nesting, url_prefix, subdomain, name=), for firkin apps."""

from __future__ import annotations

from flask.sansio.blueprints import Blueprint as _SansIOBlueprint
from flask.sansio.blueprints import BlueprintSetupState

__all__ = ["Blueprint", "BlueprintSetupState"]


class Blueprint(_SansIOBlueprint):
    """A group of routes, hooks and error handlers registered on an app (or a parent blueprint)."""
