"""Config from its three sources: a TOML file, TAPSTER_* environment variables, and explicit values.

Later sources win: defaults < file < environment < command line (or `overrides`). Every value is checked
against the setting's kind here, so an error names the key, variable or flag the user wrote and what it
should look like; the Config then checks ranges, and its error says where the bad value came from.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from typing import Any

from .config import GROUPS, Config, Setting, settings
from .errors import ConfigError

__all__ = ["ENV_PREFIX", "load_config", "parse_env_value"]

ENV_PREFIX = "TAPSTER_"
# Variables that start with the prefix but are not settings.
_NOT_SETTINGS = frozenset({"TAPSTER_CONFIG"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_EXAMPLES = {
    "bool": "true or false",
    "int": "an integer",
    "optional-int": "an integer",
    "float": "a number",
    "str": "a string",
    "optional-str": "a string",
    "list": 'a list of strings, e.g. ["0.0.0.0:8000"]',
}


def _suggest(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_value(setting: Setting, value: Any, where: str) -> Any:
    """A TOML value of the setting's kind (TOML has the types; only their fit is checked)."""
    kind = setting.kind
    ok = (
        (kind == "bool" and type(value) is bool)
        or (kind in ("int", "optional-int") and type(value) is int)
        or (kind == "float" and type(value) in (int, float))
        or (kind in ("str", "optional-str") and type(value) is str)
        or (
            kind == "list"
            and (type(value) is str or (type(value) is list and all(type(v) is str for v in value)))
        )
    )
    if not ok:
        raise ConfigError(f"{where} must be {_EXAMPLES[kind]}; got {value!r}")
    if setting.choices is not None and value not in setting.choices:
        raise ConfigError(f"{where} must be one of {', '.join(setting.choices)}; got {value!r}")
    if kind == "float":
        return float(value)
    if kind == "list":
        return (value,) if type(value) is str else tuple(value)
    return value


def parse_env_value(setting: Setting, text: str, where: str) -> Any:
    """An environment variable's text as the setting's kind; lists are separated by commas or spaces."""
    kind = setting.kind
    try:
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError
            return lowered in _TRUE
        if kind in ("int", "optional-int"):
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        expected = "1/0, true/false, yes/no or on/off" if kind == "bool" else _EXAMPLES[kind]
        raise ConfigError(f"{where} must be {expected}; got {text!r}") from None
    if kind == "list":
        items = tuple(item for item in text.replace(",", " ").split() if item)
        if not items:
            raise ConfigError(f"{where} must name at least one value; got {text!r}")
        return items
    if setting.choices is not None and text not in setting.choices:
        raise ConfigError(f"{where} must be one of {', '.join(setting.choices)}; got {text!r}")
    return text


def _from_file(path: str, by_key: dict[tuple[str, str], Setting]) -> dict[str, tuple[Any, str]]:
    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path!r}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path!r} is not valid TOML: {exc}") from None
    values: dict[str, tuple[Any, str]] = {}
    for group, table in document.items():
        if group not in GROUPS:
            raise ConfigError(
                f"{path}: unknown table [{group}]{_suggest(group, list(GROUPS))}; "
                f"the tables are {', '.join(f'[{g}]' for g in GROUPS)}"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {group} must be a table, [{group}] with keys under it; got {table!r}")
        keys = [key for (g, key) in by_key if g == group]
        for key, value in table.items():
            setting = by_key.get((group, key))
            if setting is None:
                raise ConfigError(
                    f"{path}: unknown key {key!r} in [{group}]{_suggest(key, keys)}; "
                    f"its keys are {', '.join(keys)}"
                )
            where = f"[{group}] {key} in {path}"
            values[setting.name] = (_check_value(setting, value, where), where)
    return values


def _from_env(environ: Mapping[str, str], by_env: dict[str, Setting]) -> dict[str, tuple[Any, str]]:
    values: dict[str, tuple[Any, str]] = {}
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _NOT_SETTINGS:
            continue
        setting = by_env.get(name)
        if setting is None:
            raise ConfigError(
                f"unknown environment variable {name}{_suggest(name, list(by_env))}; "
                "tapster reads TAPSTER_CONFIG and one TAPSTER_* variable per flag (docs/configuration.md)"
            )
        values[setting.name] = (parse_env_value(setting, text, name), name)
    return values


def load_config(
    file: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    override_source: Mapping[str, str] | None = None,
) -> Config:
    """The Config from a TOML file (or $TAPSTER_CONFIG), the TAPSTER_* variables of `environ` (none when it
    is None) and `overrides` (Config field names), each source above the ones before it."""
    table = settings()
    values: dict[str, tuple[Any, str]] = {}
    if environ is not None and file is None:
        file = environ.get("TAPSTER_CONFIG") or None
    if file is not None:
        values.update(_from_file(os.fspath(file), {(s.group, s.key): s for s in table}))
    if environ is not None:
        values.update(_from_env(environ, {s.env: s for s in table}))
    for name, value in (overrides or {}).items():
        values[name] = (value, (override_source or {}).get(name, name))
    try:
        return Config(**{name: value for name, (value, _) in values.items()})
    except ConfigError as exc:
        message = str(exc)
        for name, (_, where) in values.items():
            if message.startswith(name + " ") and where != name:
                raise ConfigError(f"{message} (set by {where})") from None
        raise
    except TypeError as exc:  # an override that is not a field
        raise ConfigError(str(exc)) from None
