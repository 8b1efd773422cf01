"""Blueprints: Flask's sans-I/O Blueprint (nesting, url_prefix, subdomain, name=), for firkin apps."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from flask.sansio.blueprints import Blueprint as _SansIOBlueprint
from flask.sansio.blueprints import BlueprintSetupState

from firkin.cli import AppGroup

from .globals import current_app

if TYPE_CHECKING:
    from .wrappers import Response

__all__ = ["Blueprint", "BlueprintSetupState"]


class Blueprint(_SansIOBlueprint):
    """A group of routes, hooks and error handlers registered on an app (or a parent blueprint)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The blueprint's click command group, added to the app's CLI (see `cli_group`).
        self.cli: AppGroup = AppGroup()

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        """How long (seconds) clients may cache this blueprint's static files: the app's
        SEND_FILE_MAX_AGE_DEFAULT (None: they revalidate each time)."""
        value = current_app.config["SEND_FILE_MAX_AGE_DEFAULT"]
        if isinstance(value, timedelta):
            return int(value.total_seconds())
        return cast("int | None", value)

    async def send_static_file(self, filename: str) -> Response:
        """The view of the blueprint's static route (`static_url_path`): a file from its `static_folder`."""
        from .helpers import send_from_directory

        if self.static_folder is None:
            raise RuntimeError("'static_folder' must be set to serve static files.")
        return await send_from_directory(
            self.static_folder, filename, max_age=self.get_send_file_max_age(filename)
        )
