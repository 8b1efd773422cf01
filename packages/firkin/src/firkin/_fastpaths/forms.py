"""A form's MultiDict filled with its values' lists directly.

werkzeug's MultiDict is a dict of lists (each key's values, in order), and its `__init__` given
pairs or a mapping walks them in Python (an isinstance check against the Mapping ABC, then a loop
with a check per value) before it hands such a dict to `dict.__init__`. An urlencoded form's fields
are parsed straight into that shape (`firkin.wrappers.request.parse_urlencoded`), so a class that
keeps `MultiDict.__init__` gets them with one C-level `dict.update`, as `dict.__init__` would.
tests/test_werkzeug_internals.py checks the layout against werkzeug's.
"""

from __future__ import annotations

from typing import TypeVar

from werkzeug.datastructures import MultiDict

__all__ = ["multidict_of"]

M = TypeVar("M", bound=MultiDict[str, str])


def multidict_of(cls: type[M], fields: dict[str, list[str]]) -> M:
    """`cls(fields)` (each list non-empty, and not kept by the caller)."""
    if cls.__init__ is not MultiDict.__init__:
        return cls(fields)  # a subclass with its own __init__: as it asks
    made = cls()
    dict.update(made, fields)
    return made
