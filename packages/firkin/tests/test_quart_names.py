"""Quart's public names in `quart.typing`, `quart.testing` and `quart.wrappers` exist in firkin under the
same path after the documented swap (quart -> firkin, Quart -> Firkin, QUART_ -> FIRKIN_), and are
usable: classes are classes, functions functions, protocols and TypedDicts have Quart's members, and
the type aliases accept at least what Quart's accept.

Quart is imported here only (a test dependency; firkin never imports it)."""

from __future__ import annotations

import ast
import collections.abc
import importlib
import inspect
import sys
import types
import typing
from typing import Any, ForwardRef, Union, get_args, get_origin

import pytest

# The three modules the swap must cover, and the submodules whose own classes Quart code imports
# (`from quart.testing.connections import TestHTTPConnection`, `from quart.wrappers.base import ...`).
MODULES = ["quart.typing", "quart.testing", "quart.wrappers"]
SUBMODULES = [
    "quart.testing.app",
    "quart.testing.client",
    "quart.testing.connections",
    "quart.testing.utils",
    "quart.wrappers.base",
    "quart.wrappers.request",
    "quart.wrappers.response",
    "quart.wrappers.websocket",
]


def swap(name: str) -> str:
    """The documented migration: what a Quart name is called in firkin."""
    return name.replace("quart", "firkin").replace("Quart", "Firkin").replace("QUART_", "FIRKIN_")


def public_names(module: types.ModuleType) -> list[str]:
    """What a module exports: its `__all__`, else every public name bound in it except modules and
    what it imported from the standard library (`Any`, `Protocol`, `datetime` are not Quart's API)."""
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return sorted(exported)
    tree = ast.parse(inspect.getsource(module))
    from_stdlib = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and node.level == 0
        and node.module is not None
        and node.module.split(".")[0] in sys.stdlib_module_names
        for alias in node.names
    }
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name not in from_stdlib
    )


def defined_names(module: types.ModuleType) -> list[str]:
    """The classes and functions a module defines itself (not those it imports)."""
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    )


def pairs(modules: list[str], names: Any) -> list[tuple[str, str]]:
    return [(module, name) for module in modules for name in names(importlib.import_module(module))]


ALL_PAIRS = pairs(MODULES, public_names) + pairs(SUBMODULES, defined_names)


def test_the_enumeration_finds_quarts_names() -> None:
    """A guard on the test itself: an enumeration that found nothing would pass vacuously."""
    found = {f"{module}.{name}" for module, name in ALL_PAIRS}
    assert len(found) > 70
    assert {
        "quart.typing.ResponseReturnValue",
        "quart.typing.HTTPScope",
        "quart.typing.TestClientProtocol",
        "quart.typing.HeaderValue",
        "quart.testing.QuartClient",
        "quart.testing.QuartCliRunner",
        "quart.wrappers.BaseRequestWebsocket",
        "quart.testing.connections.TestHTTPConnection",
    } <= found
    assert "quart.typing.Any" not in found  # imported from the standard library


@pytest.mark.parametrize(("module", "name"), ALL_PAIRS, ids=[f"{m}.{n}" for m, n in ALL_PAIRS])
def test_quart_name_exists_after_the_swap(module: str, name: str) -> None:
    theirs = getattr(importlib.import_module(module), name)
    ours = getattr(importlib.import_module(swap(module)), swap(name), None)
    assert ours is not None, f"{swap(module)}.{swap(name)} is missing (Quart has {module}.{name})"
    if inspect.isclass(theirs):
        assert inspect.isclass(ours), f"{swap(module)}.{swap(name)} should be a class"
        if issubclass(theirs, BaseException):
            assert issubclass(ours, BaseException)
    elif inspect.isfunction(theirs) or inspect.isbuiltin(theirs):
        assert callable(ours), f"{swap(name)} should be a function"
        assert not inspect.isclass(ours), f"{swap(name)} should be a function"
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs)


# ---------------------------------------------------------------------------- the typing names

quart_typing = importlib.import_module("quart.typing")
firkin_typing = importlib.import_module("firkin.typing")
TYPING_NAMES = public_names(quart_typing)


def _kind(value: Any) -> str:
    if typing.is_typeddict(value):
        return "typeddict"
    if inspect.isclass(value) and getattr(value, "_is_protocol", False):
        return "protocol"
    if inspect.isclass(value):
        return "class"
    return "alias"


@pytest.mark.parametrize("name", TYPING_NAMES)
def test_typing_name_has_the_same_kind(name: str) -> None:
    assert _kind(getattr(firkin_typing, swap(name))) == _kind(getattr(quart_typing, name))


@pytest.mark.parametrize("name", [n for n in TYPING_NAMES if _kind(getattr(quart_typing, n)) == "typeddict"])
def test_scope_typeddicts_have_quarts_keys(name: str) -> None:
    theirs, ours = getattr(quart_typing, name), getattr(firkin_typing, name)
    assert ours.__required_keys__ == theirs.__required_keys__
    assert ours.__optional_keys__ == theirs.__optional_keys__


def _members(protocol: type) -> dict[str, inspect.Signature | None]:
    """A protocol's members: each method's signature, None for an attribute."""
    members: dict[str, inspect.Signature | None] = dict.fromkeys(protocol.__annotations__)
    for name, value in vars(protocol).items():
        if inspect.isfunction(value) and (not name.startswith("__") or name in _DUNDERS):
            members[name] = inspect.signature(value)
    return members


_DUNDERS = {"__init__", "__call__", "__aenter__", "__aexit__"}


@pytest.mark.parametrize("name", [n for n in TYPING_NAMES if _kind(getattr(quart_typing, n)) == "protocol"])
def test_protocols_have_quarts_members(name: str) -> None:
    theirs, ours = _members(getattr(quart_typing, name)), _members(getattr(firkin_typing, swap(name)))
    assert set(ours) == set(theirs)
    for member, signature in theirs.items():
        if signature is None:
            assert ours[member] is None, f"{name}.{member} should be an attribute"
            continue
        our_signature = ours[member]
        assert our_signature is not None, f"{name}.{member} should be a method"
        # The same parameters, by name and kind, so calls written for Quart's type check against ours.
        assert [(p.name, p.kind) for p in our_signature.parameters.values()] == [
            (p.name, p.kind) for p in signature.parameters.values()
        ], f"{name}.{member}"
        assert inspect.iscoroutinefunction(getattr(getattr(firkin_typing, swap(name)), member)) == (
            inspect.iscoroutinefunction(getattr(getattr(quart_typing, name), member))
        )


# The type aliases: each of Quart's is matched by firkin's, member by member. Firkin's may accept more
# (a union may have more members; a bare `dict` of Quart's is any parametrised dict of ours).


def _name(name: str) -> str:
    return {
        # Hypercorn's event types, which Quart's ASGI callables name, are ASGI messages here.
        "ASGIReceiveEvent": "MutableMapping",
        "ASGISendEvent": "MutableMapping",
    }.get(name, swap(name))


def _shape(tp: Any) -> Any:
    """A comparable form of a type: names for classes and forward references, (origin, args) for
    generics, a frozenset for a union (flattened)."""
    if isinstance(tp, ForwardRef):
        return _name(tp.__forward_arg__)
    if isinstance(tp, str):
        return _name(tp)
    if tp is type(None) or tp is None:
        return "None"
    if tp is Any:
        return "Any"
    if isinstance(tp, list):
        return tuple(_shape(arg) for arg in tp)
    if tp is Ellipsis:
        return "..."
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        members: set[Any] = set()
        for arg in get_args(tp):
            shape = _shape(arg)
            members.update(shape if isinstance(shape, frozenset) else {shape})
        return frozenset(members)
    if origin is not None:
        return (_name(getattr(origin, "__name__", str(origin))), tuple(_shape(arg) for arg in get_args(tp)))
    if inspect.isclass(tp):
        if tp.__module__ == "hypercorn.typing" and typing.is_typeddict(tp):
            return tp.__name__  # a scope: firkin has its own TypedDict of that name
        return _name(tp.__name__)
    raise AssertionError(f"unexpected type form {tp!r}")


def _accepts(ours: Any, theirs: Any) -> bool:
    """Whether our shape covers theirs."""
    if isinstance(theirs, frozenset):
        mine = ours if isinstance(ours, frozenset) else frozenset({ours})
        return all(any(_accepts(candidate, member) for candidate in mine) for member in theirs)
    if isinstance(ours, frozenset):
        return any(_accepts(candidate, theirs) for candidate in ours)
    if isinstance(theirs, str) and isinstance(ours, tuple) and ours[0] == theirs:
        return True  # a bare generic of theirs (`dict`), parametrised here
    if isinstance(theirs, tuple) and isinstance(ours, tuple):
        return len(theirs) == len(ours) and all(_accepts(o, t) for o, t in zip(ours, theirs, strict=True))
    return bool(ours == theirs)


ALIASES = [n for n in TYPING_NAMES if _kind(getattr(quart_typing, n)) == "alias"]


@pytest.mark.parametrize("name", ALIASES)
def test_type_aliases_accept_what_quarts_accept(name: str) -> None:
    theirs = getattr(quart_typing, name)
    if name in ("ASGIReceiveCallable", "ASGISendCallable"):
        # Hypercorn's: a receive callable takes nothing, a send callable one message; both awaitable.
        ours = getattr(firkin_typing, name)
        assert get_origin(ours) is collections.abc.Callable
        assert len(get_args(ours)[0]) == len(get_args(theirs)[0])
        assert get_origin(get_args(ours)[1]) is collections.abc.Awaitable
        return
    assert _accepts(_shape(getattr(firkin_typing, swap(name))), _shape(theirs)), name


def test_shape_comparison_notices_a_difference() -> None:
    """A guard on the comparison: narrower aliases and other callables do not pass."""
    assert not _accepts(_shape(firkin_typing.HeaderValue), _shape(quart_typing.ResponseValue))
    assert not _accepts(_shape(firkin_typing.AfterServingCallable), _shape(quart_typing.TeardownCallable))
    assert _accepts(_shape(firkin_typing.ResponseReturnValue), _shape(quart_typing.ResponseReturnValue))


def test_firkin_does_not_import_quart() -> None:
    """Quart is a test dependency only: importing firkin's modules (Quart's paths) loads none of it."""
    import subprocess

    code = (
        "import sys, firkin, firkin.typing, firkin.testing, firkin.testing.connections, "
        "firkin.wrappers, firkin.wrappers.base, firkin.logging, firkin.cli\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('quart', 'hypercorn'))\n"
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
