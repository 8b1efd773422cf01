"""Logging setup for the command line: standard `logging`, two loggers, nothing forced on anyone.

- `tapster.error`: server events and the app's failures (with tracebacks); `--log-level` sets its
  level. `tapster.access`: one line per response, with `--access-log`.
- `--log-config FILE` hands the whole setup to the file: dictConfig from .json, .toml, .yaml/.yml
  (YAML only when PyYAML is installed), or fileConfig from .ini/.cfg/.conf. Tapster then adds
  nothing.
- Otherwise tapster adds its default stream handler to a logger only when nothing would show its
  records: no handler on it, on `tapster`, or on the root logger (the app's or the user's
  configuration wins, and its handlers are never replaced). The default handler is added once,
  however often this runs, and the logger then stops propagating, so a root handler the app adds
  later does not print every line twice (Hypercorn #357).
"""

from __future__ import annotations

import configparser
import json
import logging
import logging.config
import sys
import tomllib
from pathlib import Path
from typing import Any

from .config import Config
from .errors import ConfigError

__all__ = ["TRACE", "configure_logging", "load_log_config"]

TRACE = 5  # --log-level trace: below DEBUG (protocol-level detail)

_ERROR_FORMAT = "%(levelname)s:  %(message)s"


class _DefaultHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Tapster's own stream handler (recognised, so it is never added twice)."""


def load_log_config(path: str) -> None:
    """Apply a logging configuration file; ConfigError, saying what is wrong, when it cannot be."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"log_config {path!r}: no such file")
    suffix = file.suffix.lower()
    try:
        if suffix in (".ini", ".cfg", ".conf"):
            logging.config.fileConfig(file, disable_existing_loggers=False)
            return
        if suffix == ".json":
            data: Any = json.loads(file.read_text())
        elif suffix == ".toml":
            data = tomllib.loads(file.read_text())
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(
                    f"log_config {path!r} is YAML, which needs PyYAML: pip install pyyaml "
                    "(or write the same dictConfig as .json or .toml)"
                ) from None
            try:
                data = yaml.safe_load(file.read_text())
            except yaml.YAMLError as exc:
                raise ConfigError(f"log_config {path!r}: {' '.join(str(exc).split())}") from None
        else:
            raise ConfigError(
                f"log_config {path!r}: unknown kind {suffix or '(no suffix)'}; use .json, .toml, "
                ".yaml or .yml (dictConfig), or .ini (fileConfig)"
            )
        if not isinstance(data, dict):
            raise ConfigError(f"log_config {path!r} must hold a dictConfig mapping (with version: 1)")
        logging.config.dictConfig(data)
    except ConfigError:
        raise
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        ImportError,
        OSError,
        RuntimeError,
        configparser.Error,
    ) as exc:
        # dictConfig's and fileConfig's own errors, and the parsers' (JSONDecodeError and
        # TOMLDecodeError are ValueErrors). On one line: configparser's run over several.
        message = " ".join(str(exc).split())
        raise ConfigError(f"log_config {path!r}: {message}") from None


def _shown(logger: logging.Logger) -> bool:
    """Something configured would already show this logger's records: its own handlers, those of
    `tapster`, or the root's (NullHandlers show nothing)."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(not isinstance(h, logging.NullHandler) for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def _add_default(logger: logging.Logger, stream: Any, fmt: str) -> None:
    if any(isinstance(h, _DefaultHandler) for h in logger.handlers) or _shown(logger):
        return
    handler = _DefaultHandler(stream)
    handler.setFormatter(logging.Formatter(fmt))
    logger.addHandler(handler)
    logger.propagate = False


def configure_logging(config: Config) -> None:
    """Set up tapster's loggers for the command line (see the module doc)."""
    logging.addLevelName(TRACE, "TRACE")
    if config.log_config is not None:
        load_log_config(config.log_config)
        return
    error = logging.getLogger("tapster.error")
    error.setLevel(config.python_log_level)
    _add_default(error, sys.stderr, _ERROR_FORMAT)
    if config.access_log:
        access = logging.getLogger("tapster.access")
        if access.level == logging.NOTSET:
            access.setLevel(logging.INFO)  # (the root's WARNING would hide every line)
        # The format is the access-log format already: the line is the message.
        _add_default(access, sys.stdout, "%(message)s")
