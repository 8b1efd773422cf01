"""FirkinMap.fast_match must agree with werkzeug's MapAdapter.match whenever it answers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from firkin.routing import FirkinMap, FirkinRule
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect, Rule

SEGMENTS = [
    "a",
    "b",
    "user",
    "<int:id>",
    "<name>",
    "<path:rest>",
    "<float:x>",
    "<any(a, b):which>",
    "<uuid:u>",
    # converters with arguments: their to_python runs; the plain int and string ones are shortcut
    "<int(signed=True):signed>",
    "<int(min=10, max=99):ranged>",
    "<int(fixed_digits=2):fixed>",
    "<string(length=2):two>",
]
# "٤٢": Arabic-Indic digits, which \d admits and int() reads; 5000 digits: over int()'s limit.
PATH_PARTS = [
    "a",
    "b",
    "user",
    "1",
    "42",
    "-3",
    "007",
    "\u0664\u0662",
    "9" * 5000,
    "x",
    "1.5",
    "",
    "0f3c2d9e-4c1b-4e5f-9a7b-1c2d3e4f5a6b",
    "a.b",
]


def build_rules(draw: Any) -> list[Rule]:
    rules: list[Rule] = []
    for index in range(draw(st.integers(1, 6))):
        segments = draw(st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=3))
        names: set[str] = set()
        parts = []
        for segment in segments:
            if segment.startswith("<"):
                name = segment.rstrip(">").split(":")[-1].split(")")[-1]
                if name in names:
                    continue
                names.add(name)
            parts.append(segment)
        string = "/" + "/".join(parts) + ("/" if draw(st.booleans()) else "")
        if string == "//":
            string = "/"
        methods = draw(st.sampled_from([["GET"], ["POST"], ["GET", "POST"]]))
        kwargs: dict[str, Any] = {"endpoint": f"e{index}", "methods": methods}
        if draw(st.integers(0, 5)) == 0:
            kwargs["strict_slashes"] = False
        if draw(st.integers(0, 6)) == 0:
            kwargs["redirect_to"] = "/a"
        rules.append(FirkinRule(string, **kwargs))
    return rules


@st.composite
def maps_and_paths(draw: Any) -> tuple[FirkinMap, str, str]:
    rules = build_rules(draw)
    url_map = FirkinMap(rules)
    if draw(st.booleans()):
        # A path made from one of the rules, its variables filled with any value (the converter may
        # refuse it), maybe without or with an extra trailing slash: where precedence matters.
        rule = draw(st.sampled_from(rules))
        path = re.sub(r"<[^>]+>", lambda _: draw(st.sampled_from([*PATH_PARTS[:-3], "a/b"])), rule.rule)
        path = draw(st.sampled_from([path, path.rstrip("/") or "/", path + "/"]))
    else:
        path = "/" + "/".join(draw(st.lists(st.sampled_from(PATH_PARTS), max_size=4)))
    if draw(st.integers(0, 8)) == 0:
        path = "/" + path  # a doubled slash: werkzeug merges (and redirects)
    method = draw(st.sampled_from(["GET", "POST", "PUT"]))
    return url_map, path, method


@settings(max_examples=1500, deadline=None)
@given(maps_and_paths())
def test_fast_match_agrees_with_werkzeug(case: tuple[FirkinMap, str, str]) -> None:
    url_map, path, method = case
    adapter = url_map.bind("example.com", default_method=method)
    fast = url_map.fast_match(adapter, path, method)
    try:
        expected = adapter.match(path, method, return_rule=True)
    except (HTTPException, RequestRedirect):
        assert fast is None, f"werkzeug refuses {method} {path}, fast_match gave {fast}"
        return
    if fast is not None:
        assert fast[0] is expected[0]
        assert fast[1] == expected[1]


@pytest.mark.parametrize(
    ("path", "endpoint", "values"),
    [
        ("/user/7", "by_id", {"id": 7}),
        ("/user/me", "me", {}),  # static beats dynamic
        ("/user/ada", "by_name", {"name": "ada"}),  # int refuses, the string converter takes it
        ("/files/a/b/c.txt", "files", {"rest": "a/b/c.txt"}),
    ],
)
def test_fast_match_precedence(path: str, endpoint: str, values: dict[str, Any]) -> None:
    url_map = FirkinMap(
        [
            FirkinRule("/user/<int:id>", endpoint="by_id"),
            FirkinRule("/user/me", endpoint="me"),
            FirkinRule("/user/<name>", endpoint="by_name"),
            FirkinRule("/files/<path:rest>", endpoint="files"),
        ]
    )
    adapter = url_map.bind("example.com")
    found = url_map.fast_match(adapter, path, "GET")
    assert found is not None
    assert (found[0].endpoint, found[1]) == (endpoint, values)


def test_fast_match_leaves_redirects_and_errors_to_werkzeug() -> None:
    url_map = FirkinMap(
        [FirkinRule("/dir/", endpoint="dir"), FirkinRule("/post", endpoint="post", methods=["POST"])]
    )
    adapter = url_map.bind("example.com")
    assert url_map.fast_match(adapter, "/dir", "GET") is None  # werkzeug redirects to /dir/
    assert url_map.fast_match(adapter, "/post", "GET") is None  # werkzeug: 405
    assert url_map.fast_match(adapter, "/nothing", "GET") is None  # werkzeug: 404


def test_plain_maps_use_the_table_and_custom_converters_the_tree_walk() -> None:
    from werkzeug.routing import BaseConverter

    plain = FirkinMap([FirkinRule("/user/<int:id>", endpoint="by_id"), FirkinRule("/", endpoint="index")])
    assert plain._table("GET", False) is not None

    class Everything(BaseConverter):
        regex = ".+"

    custom = FirkinMap([FirkinRule("/a/<all:rest>", endpoint="all")], converters={"all": Everything})
    assert custom._table("GET", False) is None
    adapter = custom.bind("example.com")
    # werkzeug keeps a part-isolating converter in its segment; so must the fast match.
    assert custom.fast_match(adapter, "/a/x/y", "GET") is None
    found = custom.fast_match(adapter, "/a/xy", "GET")
    assert found is not None
    assert found[1] == {"rest": "xy"}


def test_rules_added_later_are_matched() -> None:
    url_map = FirkinMap([FirkinRule("/<name>", endpoint="name")])
    adapter = url_map.bind("example.com")
    before = url_map.fast_match(adapter, "/about", "GET")
    assert before is not None
    assert (before[0].endpoint, before[1]) == ("name", {"name": "about"})
    url_map.add(FirkinRule("/about", endpoint="about"))
    found = url_map.fast_match(url_map.bind("example.com"), "/about", "GET")
    assert found is not None
    assert (found[0].endpoint, found[1]) == ("about", {})


RULES = [
    ("/a", {}),
    ("/a/", {}),
    ("/<name>", {}),
    ("/<int:id>", {}),
    ("/a/<name>", {}),
    ("/a/b", {"methods": ["POST"]}),
    ("/<path:rest>", {}),
    ("/a/<path:rest>", {}),
    ("/b", {"strict_slashes": False}),
    ("/<name>/b", {}),
    ("/old", {"redirect_to": "/a"}),
    ("/", {}),
]
PATHS = [
    "/",
    "/a",
    "/a/",
    "/b",
    "/b/",
    "/a/b",
    "/a/b/",
    "/7",
    "/7/b",
    "/x/b",
    "/a/x/y",
    "/old",
    "/a/7",
    "//a",
]


@pytest.mark.parametrize("size", [1, 2, 3])
def test_fast_match_agrees_on_every_small_map(size: int) -> None:
    """Every map of `size` rules from RULES, every path, both methods: exhaustive, where hypothesis
    samples."""
    from itertools import combinations

    answered = 0
    for chosen in combinations(range(len(RULES)), size):
        rules: list[Rule] = [
            FirkinRule(RULES[i][0], endpoint=f"e{i}", **RULES[i][1])  # type: ignore[arg-type]
            for i in chosen
        ]
        url_map = FirkinMap(rules)
        for method in ("GET", "POST"):
            adapter = url_map.bind("example.com", default_method=method)
            for path in PATHS:
                fast = url_map.fast_match(adapter, path, method)
                try:
                    expected = adapter.match(path, method, return_rule=True)
                except (HTTPException, RequestRedirect):
                    assert fast is None, (chosen, method, path, fast)
                    continue
                if fast is not None:
                    answered += 1
                    assert (fast[0], fast[1]) == (expected[0], expected[1]), (chosen, method, path)
    assert answered > 0


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/n/42", {"x": 42}),
        ("/n/007", {"x": 7}),
        ("/n/\u0664\u0662", {"x": 42}),  # \d admits other scripts' digits, and int() reads them
        ("/n/" + "9" * 5000, None),  # over int()'s digit limit: werkzeug's ValidationError, a 404
        ("/n/-1", None),
        ("/s/héllo", {"word": "héllo"}),
    ],
)
def test_default_int_and_string_arguments_convert_as_werkzeug_does(
    path: str, expected: dict[str, Any] | None
) -> None:
    url_map = FirkinMap([FirkinRule("/n/<int:x>", endpoint="n"), FirkinRule("/s/<word>", endpoint="s")])
    adapter = url_map.bind("example.com")
    found = url_map.fast_match(adapter, path, "GET")
    if expected is None:
        assert found is None
        with pytest.raises(HTTPException) as info:
            adapter.match(path, "GET")
        assert info.value.code == 404
    else:
        assert found is not None
        assert found[1] == expected == adapter.match(path, "GET")[1]
        assert type(found[1].get("x", 0)) is int
