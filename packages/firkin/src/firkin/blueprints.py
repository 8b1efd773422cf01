"""Blueprints: Flask's sans-I/O Blueprint (nesting, url_prefix, subdomain, name=), for firkin apps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask.sansio.blueprints import Blueprint as _SansIOBlueprint
from flask.sansio.blueprints import BlueprintSetupState

from firkin.cli import AppGroup

from ._static import StaticFilesMixin
from ._websocket_app import WebsocketBlueprintMixin

if TYPE_CHECKING:
    pass

__all__ = ["Blueprint", "BlueprintSetupState"]


class Blueprint(StaticFilesMixin, WebsocketBlueprintMixin, _SansIOBlueprint):
    """A group of routes, websockets, hooks and error handlers registered on an app (or a parent
    blueprint)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The blueprint's click command group, added to the app's CLI (see `cli_group`).
        self.cli: AppGroup = AppGroup()
