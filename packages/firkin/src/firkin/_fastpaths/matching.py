"""URL matching in werkzeug's own state tree, with each method's rules compiled into regular
expressions once (`FastMatchMap.fast_match`). It reads werkzeug internals: `Map._matcher._root` (the
states' `static`, `dynamic` and `rules`), the `__werkzeug_N` names of its regex groups,
`Rule._converters`, `Map._rules_by_endpoint` and `Map._remap`. Its answers are checked against
werkzeug's `MapAdapter.match` in tests/test_fast_match.py, and the internals in
tests/test_werkzeug_internals.py."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from werkzeug.routing import (
    AnyConverter,
    FloatConverter,
    IntegerConverter,
    Map,
    MapAdapter,
    PathConverter,
    Rule,
    UnicodeConverter,
    UUIDConverter,
    ValidationError,
)

if TYPE_CHECKING:
    from werkzeug.routing.matcher import State

__all__ = ["WERKZEUG_GROUP", "FastMatchMap"]


class _Unsure(Exception):
    """The fast match cannot tell: werkzeug's own match decides (and raises what it raises)."""


#: What an alternative's group holds: its rule (None when werkzeug must decide) and, per argument,
#: the name, the number of the group holding its text, and the conversion.
_Entry = tuple["Rule | None", tuple[tuple[str, int, "Callable[[str], Any]"], ...]]
#: One regular expression of alternatives, and the entry for the number of each alternative's group.
_Alternatives = tuple[re.Pattern[str], dict[int, _Entry]]


class _Table:
    """All rules a method can reach, as regular expressions in werkzeug's order of precedence: one
    per first path segment that is static text, and one for rules whose first segment is variable.

    Werkzeug's matcher walks its state tree depth first: at each level the static transition, then
    the dynamic ones by weight. Listing the rules in the order of that walk and trying them as one
    alternation (`re` takes the first alternative that matches) gives the same rule for a path. Where
    the walk would stop early (a missing trailing slash that redirects, a final slash that a
    non-strict rule accepts), the table has an "unsure" entry at the same place, and werkzeug
    decides. Only for maps werkzeug's converters can be trusted with (each segment's regex stays in
    its segment); others use the tree walk.
    """

    __slots__ = ("by_first", "dynamic")

    def __init__(self) -> None:
        self.by_first: dict[str, _Alternatives] = {}
        self.dynamic: _Alternatives | None = None

    def lookup(self, path: str) -> tuple[Rule, dict[str, Any]] | None:
        end = path.find("/", 1)
        alternatives = self.by_first.get(path[1:] if end < 0 else path[1:end])
        found = None
        if alternatives is not None:
            pattern, entries = alternatives
            found = pattern.match(path)
        if found is None:
            if self.dynamic is None:
                return None
            pattern, entries = self.dynamic
            found = pattern.match(path)
            if found is None:
                return None
        rule, fields = entries[found.lastindex]  # type: ignore[index]
        if rule is None:
            return None
        values: dict[str, Any] = {}
        try:
            for name, group, convert in fields:
                values[name] = convert(found[group])
        except (ValidationError, ValueError):
            return None  # werkzeug answers 404 (it does not look further either)
        if rule.defaults:
            values.update(rule.defaults)
        return rule, values


def _conversion(converter: Any) -> Callable[[str], Any]:
    """What turns a matched argument into the view's value: `converter.to_python`, or the same
    thing without a method call for werkzeug's default int and string converters. (Their regex
    already admitted the text; `int` can still refuse a number over Python's digit limit, which
    `to_python` reports as ValidationError and `lookup` as ValueError: a 404 either way.)"""
    kind = type(converter)
    if kind is UnicodeConverter:
        return str
    if kind is IntegerConverter and not converter.fixed_digits and converter.min is converter.max is None:
        return int
    return cast("Callable[[str], Any]", converter.to_python)


_SEGMENT_SAFE = (
    UnicodeConverter,
    IntegerConverter,
    FloatConverter,
    UUIDConverter,
    AnyConverter,
    PathConverter,
)
WERKZEUG_GROUP = re.compile(r"\(\?P<__werkzeug_(\d+)>")
_OUR_GROUP = re.compile(r"\(\?P<(v\d+)>")


class _NotPlain(Exception):
    """The map uses something the table does not model: match with the tree walk."""


def _build_table(url_map: Map, method: str, websocket: bool) -> _Table:
    for any_rule in url_map.iter_rules():
        if any(type(converter) not in _SEGMENT_SAFE for converter in any_rule._converters.values()):
            raise _NotPlain()  # a converter of the app's: its regex may reach past its segment
    root = url_map._matcher._root

    def suits(rule: Rule) -> bool:
        return (rule.methods is None or method in rule.methods) and rule.websocket == websocket

    if list(root.static) != [""] or root.dynamic or root.rules:
        raise _NotPlain()  # subdomains or hosts in use
    domain = root.static[""]
    if list(domain.static) != [""] or domain.dynamic or domain.rules:
        raise _NotPlain()
    lead = domain.static[""]  # the empty part before a path's first slash
    if lead.rules:
        raise _NotPlain()
    buckets: dict[str | None, list[str]] = {}
    table = _Table()
    counter = itertools.count()

    #: group name of an alternative -> its rule and, per argument, the name, the group name
    #: holding its text and the conversion (group numbers are known once a pattern is compiled).
    named: dict[str, tuple[Rule | None, tuple[tuple[str, str, Callable[[str], Any]], ...]]] = {}

    def emit(bucket: str | None, pieces: list[str], rule: Rule | None, names: list[str]) -> None:
        group = f"r{len(named)}"
        # Group names must be unique in the whole pattern: the same part appears in several rules.
        source = _OUR_GROUP.sub(lambda found: f"(?P<{found[1]}_{group}>", "/".join(pieces))
        fields: tuple[tuple[str, str, Callable[[str], Any]], ...] = ()
        if rule is not None:
            if rule.redirect_to is not None or rule.alias:
                rule = None  # werkzeug redirects
            elif url_map.redirect_defaults and url_map._rules_by_endpoint[rule.endpoint][0] is not rule:
                rule = None  # an earlier rule of the endpoint may provide defaults: werkzeug redirects
            else:
                converters = rule._converters
                fields = tuple(
                    (str(name), f"{text}_{group}", _conversion(converters[name]))
                    for name, text in zip(converters, names, strict=True)
                )
        named[group] = (rule, fields)
        buckets.setdefault(bucket, []).append(f"(?:(?P<{group}>/{source})\\Z)")

    def visit(state: State, bucket: str | None, pieces: list[str], names: list[str]) -> None:
        suitable = [rule for rule in state.rules if suits(rule)]
        if bucket is None:
            pass  # the empty path before the first slash: never asked for
        elif suitable:
            emit(bucket, pieces, suitable[0], names)
        elif "" in state.static and any(suits(rule) for rule in state.static[""].rules):
            emit(bucket, pieces, None, names)  # werkzeug redirects to the path with a slash
        for text, child in state.static.items():
            visit(child, text if bucket is None else bucket, [*pieces, re.escape(text)], names)
        for part, child in state.dynamic:
            if part.suffixed or not part.content.endswith("\\Z"):
                raise _NotPlain()
            numbered: list[tuple[int, str]] = []  # werkzeug's group number, our group name

            def rename(found: re.Match[str], numbered: list[tuple[int, str]] = numbered) -> str:
                name = f"v{next(counter)}"
                numbered.append((int(found[1]), name))
                return f"(?P<{name}>"

            source = WERKZEUG_GROUP.sub(rename, part.content[:-2])
            groups = [name for _, name in sorted(numbered)]
            first = "\0dynamic" if bucket is None else bucket
            visit(child, first, [*pieces, source], [*names, *groups])
        if any(not rule.strict_slashes and suits(rule) for rule in state.rules):
            emit(bucket, [*pieces, ""], None, names)  # a final slash that werkzeug may accept

    visit(lead, None, [], [])
    for bucket, alternatives in buckets.items():
        if bucket is None:
            raise _NotPlain()
        pattern = re.compile("|".join(alternatives))
        index = pattern.groupindex
        entries: dict[int, _Entry] = {}
        for name, number in index.items():
            if name in named:
                rule, fields = named[name]
                entries[number] = (rule, tuple((arg, index[text], convert) for arg, text, convert in fields))
        if bucket == "\0dynamic":
            table.dynamic = (pattern, entries)
        else:
            table.by_first[bucket] = (pattern, entries)
    return table


_UNBUILT = _Table()  # a method whose table is not built yet


class FastMatchMap(Map):
    """A URL map with a fast match (FirkinMap's base).

    `fast_match` finds the rule for a request in werkzeug's own state machine (the same tree, so the
    same precedence: static transitions before dynamic ones, dynamic ones by weight) with the
    regular expressions compiled once. It answers only when the match is plain: anything that
    would make werkzeug redirect, refuse the method or look further (a trailing-slash redirect,
    merged slashes, redirect_to, redirect defaults, a converter refusing the value) returns None,
    and the caller asks werkzeug's MapAdapter.match, which gives the full behaviour.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._patterns: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {}
        #: per method: the table for HTTP requests and for websockets (None: use the tree walk)
        self._tables: dict[str, _Table | None] = {}
        self._ws_tables: dict[str, _Table | None] = {}

    def add(self, rulefactory: Any) -> None:
        super().add(rulefactory)
        self._tables = {}  # rebuilt from the new tree when next needed
        self._ws_tables = {}

    def fast_match(
        self, adapter: MapAdapter, path: str, method: str, websocket: bool = False
    ) -> tuple[Rule, dict[str, Any]] | None:
        if self._remap:
            self.update()
        if adapter.subdomain == "" and not self.host_matching and path[:1] == "/" and path[1:2] != "/":
            table = (self._ws_tables if websocket else self._tables).get(method, _UNBUILT)
            if table is _UNBUILT:
                table = self._table(method, websocket)
            if table is not None:
                return table.lookup(path)
        domain = adapter.server_name
        if not self.host_matching and adapter.subdomain is not None:
            domain = adapter.subdomain
        if path[:1] != "/" or path[1:2] == "/":
            path = f"/{path.lstrip('/')}" if path else ""  # as MapAdapter.match makes it
        try:
            found = self._walk(self._matcher._root, [domain, *path.split("/")], 0, [], method, websocket)
        except _Unsure:
            return None
        if found is None:
            return None
        rule, raw = found
        if rule.redirect_to is not None or rule.alias:
            return None
        if self.redirect_defaults and self._rules_by_endpoint[rule.endpoint][0] is not rule:
            return None  # an earlier rule of the endpoint may provide defaults: werkzeug redirects
        values: dict[str, Any] = {}
        converters = rule._converters
        try:
            for name, value in zip(converters, raw, strict=False):
                values[str(name)] = converters[name].to_python(value)
        except ValidationError:
            return None
        if rule.defaults:
            values.update(rule.defaults)
        return rule, values

    def _table(self, method: str, websocket: bool) -> _Table | None:
        tables = self._ws_tables if websocket else self._tables
        if len(tables) >= 64:  # bounded: methods are client input
            tables.clear()
        try:
            table: _Table | None = _build_table(self, method, websocket)
        except _NotPlain:
            table = None
        tables[method] = table
        return table

    def _walk(
        self, state: State, parts: list[str], at: int, values: list[str], method: str, websocket: bool
    ) -> tuple[Rule, list[str]] | None:
        end = len(parts)
        # Static parts with nothing else to try at their level: follow them without recursing.
        while at < end and not state.dynamic and not (at == end - 1 and state.rules and parts[at] == ""):
            following = state.static.get(parts[at])
            if following is None:
                return None
            state = following
            at += 1
        if at == end:
            for rule in state.rules:
                if (rule.methods is None or method in rule.methods) and rule.websocket == websocket:
                    return rule, values
            if state.rules or "" in state.static:
                raise _Unsure()  # wrong method or kind, or a trailing-slash redirect: werkzeug's call
            return None
        part = parts[at]
        following = state.static.get(part)
        if following is not None:
            found = self._walk(following, parts, at + 1, values, method, websocket)
            if found is not None:
                return found
        for test, next_state in state.dynamic:
            compiled = self._patterns.get(test.content)
            if compiled is None:
                compiled = self._compile(test.content)
            pattern, names = compiled
            if test.final:
                match = pattern.match("/".join(parts[at:]))
                rest = len(parts)
            else:
                match = pattern.match(part)
                rest = at + 1
            if match is None:
                continue
            if test.suffixed and match.groups()[-1] == "/":
                raise _Unsure()  # a slash after a non-isolating part: werkzeug's redirect logic
            if len(names) == 1:
                found = self._walk(next_state, parts, rest, [*values, match[names[0]]], method, websocket)
            else:
                found = self._walk(
                    next_state, parts, rest, values + [match[name] for name in names], method, websocket
                )
            if found is not None:
                return found
        if at == len(parts) - 1 and part == "" and state.rules:
            raise _Unsure()  # non-strict-slash rules may match a final slash: werkzeug's call
        return None

    def _compile(self, content: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
        pattern = re.compile(content)
        names = sorted(
            (name for name in pattern.groupindex if name.startswith("__werkzeug_")),
            key=lambda name: int(name[11:]),
        )
        compiled = self._patterns[content] = (pattern, tuple(names))
        return compiled
