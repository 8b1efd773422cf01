"""Static files for apps and blueprints alike (flask.sansio's Scaffold leaves them to the framework)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, cast

from .globals import current_app

if TYPE_CHECKING:
    from .wrappers import Response

__all__ = ["StaticFilesMixin"]


class StaticFilesMixin:
    """`send_static_file` (the view of the static route) and `get_send_file_max_age`."""

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        """How long (seconds) clients may cache a file `send_file` sends, when it is not told:
        the app's SEND_FILE_MAX_AGE_DEFAULT (None: they revalidate each time, with conditional
        requests). Override to choose per file."""
        value = current_app.config["SEND_FILE_MAX_AGE_DEFAULT"]
        if isinstance(value, timedelta):
            return int(value.total_seconds())
        return cast("int | None", value)

    async def send_static_file(self, filename: str) -> Response:
        """The view of the static route (`static_url_path`): a file from `static_folder`."""
        from .helpers import send_from_directory

        folder: str | None = getattr(self, "static_folder", None)
        if folder is None:
            raise RuntimeError("'static_folder' must be set to serve static files.")
        return await send_from_directory(folder, filename, max_age=self.get_send_file_max_age(filename))
