"""Configuration: Flask's `Config` (from_object, from_file, from_mapping, from_prefixed_env, ...)."""

from flask.config import Config, ConfigAttribute

__all__ = ["Config", "ConfigAttribute"]
