"""Configuration: Flask's `Config` (from_object, from_file, from_mapping, ...), with `FIRKIN_` as the
default prefix of `from_prefixed_env` (Quart's is `QUART_`, Flask's `FLASK_`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask.config import Config as _FlaskConfig
from flask.config import ConfigAttribute

__all__ = ["Config", "ConfigAttribute"]


class Config(_FlaskConfig):
    """The app's configuration, a dict with loaders (`app.config`)."""

    def from_prefixed_env(self, prefix: str = "FIRKIN", *, loads: Callable[[str], Any] = json.loads) -> bool:
        """Load the environment variables that start with `FIRKIN_` (or `prefix` + `_`), the prefix
        dropped: `FIRKIN_SECRET_KEY` sets `SECRET_KEY`. Values are parsed with `loads` (JSON), and
        kept as strings when that fails; `__` nests into dicts (`FIRKIN_DB__HOST` sets
        `config["DB"]["HOST"]`). Variables are loaded in sorted order."""
        return super().from_prefixed_env(prefix, loads=loads)
