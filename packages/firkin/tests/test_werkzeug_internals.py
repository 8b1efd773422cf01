"""The fast paths that lean on werkzeug's (and jinja's) internals, checked against them.

firkin builds some objects without werkzeug's own code, to save time on every request: a Request
without werkzeug's __init__, a Response whose status and headers are set directly (`of_data`,
`of_parts`, a str or bytes `Response(...)`), `Headers` filled through its `_list`, and URL matching
that reads the state tree of werkzeug's matcher and its regex group names (`firkin.routing`; its
behaviour is compared with werkzeug's in test_fast_match.py). werkzeug and flask carry upper version
bounds in firkin's pyproject.toml; when a new release changes any of these internals, a test here
fails and says which fast path to revisit.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from firkin._fastpaths.matching import WERKZEUG_GROUP
from firkin.wrappers import Request, Response
from firkin.wrappers.request import Body
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers
from werkzeug.routing import Map, Rule
from werkzeug.sansio.request import Request as WerkzeugRequest
from werkzeug.sansio.response import Response as WerkzeugResponse

ROOT = Path(__file__).resolve().parents[3]


def test_werkzeug_and_flask_have_upper_bounds() -> None:
    project = tomllib.loads((ROOT / "packages" / "firkin" / "pyproject.toml").read_text())
    dependencies = project["project"]["dependencies"]
    for name in ("werkzeug", "flask"):
        spec = next(d for d in dependencies if re.match(rf"{name}\b", d, re.I))
        assert "<" in spec, f"{spec}: firkin leans on {name}'s internals, so it needs an upper bound"


def test_request_init_sets_what_werkzeugs_sets() -> None:
    server = ("example.com", 443)
    headers = Headers([("Host", "example.com"), ("X-A", "1")])
    theirs = WerkzeugRequest("GET", "https", server, "/app", "/x/y", b"a=1", headers, "10.0.0.1")
    # werkzeug's __init__ sets exactly these; firkin's sets each of them itself (headers lazily).
    assert sorted(vars(theirs)) == [
        "headers",
        "method",
        "path",
        "query_string",
        "remote_addr",
        "root_path",
        "scheme",
        "server",
    ], "werkzeug's Request.__init__ changed: revisit firkin.wrappers.request.Request.__init__"
    raw = [(b"host", b"example.com"), (b"x-a", b"1")]
    ours = Request(
        "GET", "https", server, "/app", "/x/y", b"a=1", None, "10.0.0.1", Body(None, b""), raw_headers=raw
    )
    for name in vars(theirs):
        assert getattr(ours, name) == getattr(theirs, name), name
    for name in ("url", "base_url", "host", "host_url", "full_path", "args", "access_route"):
        assert getattr(ours, name) == getattr(theirs, name), name


@pytest.mark.parametrize(
    "build",
    [
        lambda cls: cls("hello"),
        lambda cls: cls(b"\x00bytes", 201),
        lambda cls: cls("gone", 410, mimetype="text/plain"),
        lambda cls: cls("x", content_type="application/x-thing; charset=latin-1"),
        lambda cls: cls("odd", 299),
    ],
)
def test_direct_responses_are_what_werkzeug_builds(build: Any) -> None:
    ours = build(Response)
    assert ours.asgi_headers() is not None, "not the direct path: this test would compare nothing"
    theirs = _werkzeug_response(build)
    assert (ours.status, ours.status_code) == (theirs.status, theirs.status_code)
    assert list(ours.headers.items()) == list(theirs.headers.items())


def test_of_data_and_of_parts_are_what_werkzeug_builds() -> None:
    ours = Response.of_data(b'{"a":1}', "application/json")
    theirs = WerkzeugResponse(200, content_type="application/json")
    theirs.headers["Content-Length"] = "7"
    assert (ours.status, ours.status_code, list(ours.headers.items())) == (
        theirs.status,
        theirs.status_code,
        list(theirs.headers.items()),
    )
    parts = Response.of_parts(b"Hello", 202, "text/plain", [("Content-Type", "text/plain"), ("X-Y", "z")])
    assert parts is not None
    theirs = WerkzeugResponse(202, headers=[("Content-Type", "text/plain"), ("X-Y", "z")])
    theirs.headers["Content-Length"] = "5"
    assert (parts.status, parts.status_code, list(parts.headers.items())) == (
        theirs.status,
        theirs.status_code,
        list(theirs.headers.items()),
    )


def _werkzeug_response(build: Any) -> WerkzeugResponse:
    """What werkzeug's own __init__ makes of the same arguments (its sans-I/O response has no body:
    the Content-Length firkin's set_data adds is added here the same way)."""
    captured: dict[str, Any] = {}

    class Capture:
        def __init__(self, response: Any, status: Any = None, **kwargs: Any) -> None:
            captured.update(kwargs, response=response, status=status)

    build(Capture)
    response = captured.pop("response")
    data = response.encode() if isinstance(response, str) else response
    content_type = captured.get("content_type")
    if content_type is None and captured.get("mimetype") is None:
        captured["content_type"] = "text/html; charset=utf-8"
    theirs = WerkzeugResponse(captured.pop("status"), **captured)
    theirs.headers["Content-Length"] = str(len(data))
    return theirs


def test_the_response_internals_firkin_sets() -> None:
    theirs = WerkzeugResponse(404, content_type="text/plain")
    assert sorted(vars(theirs)) == ["_status", "_status_code", "headers"], (
        "werkzeug's Response.__init__ changed: revisit Response._set_direct"
    )
    assert (theirs._status, theirs._status_code) == ("404 NOT FOUND", 404)
    headers = Headers([("A", "1"), ("B", "2")])
    assert headers._list == [("A", "1"), ("B", "2")], "Headers no longer keeps its items in _list"
    filled = Headers.__new__(Headers)
    filled._list = [("A", "1")]
    assert filled.get("a") == "1"
    assert list(filled.items()) == [("A", "1")]


def test_the_matcher_internals_firkin_reads() -> None:
    url_map = Map([Rule("/", endpoint="index"), Rule("/user/<int:id>/<name>", endpoint="user")])
    url_map.bind("localhost")  # builds the matcher's state tree
    url_map.update()
    root = url_map._matcher._root
    for state in (root, root.static[""], root.static[""].static[""]):
        assert isinstance(state.static, dict)
        assert isinstance(state.dynamic, list)
        assert isinstance(state.rules, list)
    lead = root.static[""].static[""]
    user = lead.static["user"]
    (part, _child), *_ = user.dynamic
    assert part.content.endswith("\\Z")
    assert WERKZEUG_GROUP.search(part.content), f"werkzeug names its groups differently now: {part.content}"
    rule = url_map._rules_by_endpoint["user"][0]
    assert set(rule._converters) == {"id", "name"}


@pytest.mark.anyio
async def test_templates_render_as_render_async_does() -> None:
    # firkin._fastpaths.templates merges the template's ChainMap of globals itself.
    from collections import ChainMap

    import jinja2
    from firkin import Firkin
    from firkin._fastpaths.templates import render_async

    app = Firkin(__name__)
    env = app.jinja_env
    env.globals["site"] = "the site"
    base = env.from_string("<h1>{{ site }}</h1>{% block body %}{% endblock %}{{ range(2)|list }}")
    template = env.from_string(
        '{% extends base %}{% block body %}{{ name }} {{ site }} {{ "<b>"|e }}{% endblock %}',
        globals={"site": "overridden"},
    )
    assert type(template.globals) is ChainMap, "jinja's template globals are no longer a ChainMap"
    for context in ({"name": "x", "base": base}, {"name": "<y>", "base": base, "site": "given"}):
        assert await render_async(template, dict(context)) == await template.render_async(dict(context))
    strict = jinja2.Environment(enable_async=True, undefined=jinja2.StrictUndefined)
    failing = strict.from_string("{{ missing }}")
    with pytest.raises(jinja2.UndefinedError) as ours:
        await render_async(failing, {})
    with pytest.raises(jinja2.UndefinedError) as theirs:
        await failing.render_async({})
    assert str(ours.value) == str(theirs.value)


_PIECES = [b"\r", b"\n", b"\r\n", b"-", b"--", b"--XyZ", b"XyZ", b"a", b" ", b"\t", b"--XyZ-", b"--XyZ--"]


def _events(decoder: Any, chunks: list[bytes]) -> list[tuple[str, bytes]]:
    from werkzeug.sansio.multipart import Data, Epilogue, NeedData

    out: list[tuple[str, bytes]] = []
    for chunk in [*chunks, None]:
        decoder.receive_data(chunk)
        event = decoder.next_event()
        while not isinstance(event, Epilogue | NeedData):
            if isinstance(event, Data):
                if out and out[-1][0] == "data":
                    out[-1] = ("data", out[-1][1] + event.data)
                else:
                    out.append(("data", event.data))
            else:
                out.append((type(event).__name__, getattr(event, "name", "").encode()))
            event = decoder.next_event()
    return out


def test_the_multipart_decoder_internals_firkin_replaces() -> None:
    """firkin._fastpaths.multipart.Decoder replaces two methods of werkzeug's decoder and one
    attribute: each must still be what werkzeug calls, in the same way."""
    import inspect
    import re

    from werkzeug.sansio.multipart import MultipartDecoder

    assert list(inspect.signature(MultipartDecoder._parse_data).parameters) == ["self", "data", "start"]
    assert list(inspect.signature(MultipartDecoder._last_partial_boundary_index).parameters) == [
        "self",
        "data",
    ]
    calls = inspect.getsource(MultipartDecoder.next_event)
    assert "self._parse_data(self.buffer, start=True)" in calls, "werkzeug reads part data differently now"
    assert "self._parse_data(self.buffer, start=False)" in calls, "werkzeug reads part data differently now"
    assert isinstance(MultipartDecoder(b"XyZ").boundary_re, re.Pattern)
    # Decoder.next_event reads a part's headers itself, as werkzeug's does:
    for line in (
        "match = BLANK_LINE_RE.search(self.buffer, self._search_position)",
        "headers = self._parse_headers(self.buffer[: match.start()])",
        "headers_end = (match.start() + match.end()) // 2",
        'disposition, extra = parse_options_header(\n                    headers["content-disposition"]',
        'filename = extra.get("filename")',
        "self._parts_decoded += 1",
        "if self.max_parts is not None and self._parts_decoded > self.max_parts:",
        "self._search_position = max(0, len(self.buffer) - SEARCH_EXTRA_LENGTH)",
        'raise ValueError(f"Invalid form-data cannot parse beyond {self.state}")',
    ):
        assert line in calls, f"werkzeug reads a part's headers differently now: {line}"


@given(
    st.lists(st.sampled_from(_PIECES), max_size=12),
    st.lists(st.sampled_from(_PIECES), max_size=12),
    st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=40),
)
@settings(max_examples=300, deadline=None)
def test_the_multipart_decoder_splits_as_werkzeug_reads_it_whole(
    field: list[bytes], file: list[bytes], sizes: list[int]
) -> None:
    # firkin._fastpaths.multipart.Decoder, fed in chunks of any size, gives what werkzeug's own
    # decoder gives for the whole body at once (its boundary search and partial-boundary hold-back).
    from firkin._fastpaths.multipart import Decoder
    from werkzeug.sansio.multipart import MultipartDecoder

    # (Each part's data starts with "a": data that starts with the boundary itself is read one way
    # or the other by werkzeug depending on where its chunks split, a malformed form either way.)
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="f"\r\n\r\na'
        + b"".join(field)
        + b'\r\n--XyZ\r\nContent-Disposition: form-data; name="u"; filename="u"\r\n\r\na'
        + b"".join(file)
        + b"\r\n--XyZ--\r\n"
    )
    try:
        expected = _events(MultipartDecoder(b"XyZ"), [body])
    except ValueError:
        expected = None  # not a well-formed form (the data made a boundary line of its own)
    chunks, at = [], 0
    for size in sizes * (len(body) // sum(sizes) + 1):
        if at >= len(body):
            break
        chunks.append(body[at : at + size])
        at += size
    try:
        got = _events(Decoder(b"XyZ"), chunks)
    except ValueError:
        got = None
    assert got == expected


def test_a_form_multidict_filled_directly_is_what_werkzeug_builds() -> None:
    # _fastpaths.forms fills a MultiDict with dict.update: its layout (a dict of value lists).
    from firkin._fastpaths.forms import multidict_of
    from firkin.wrappers.request import awaitable_class
    from werkzeug.datastructures import ImmutableMultiDict, MultiDict
    from werkzeug.exceptions import BadRequestKeyError

    pairs = [("a", "1"), ("b", "2"), ("a", "3"), ("c", "")]
    for cls in (MultiDict, ImmutableMultiDict, awaitable_class(ImmutableMultiDict)):
        fields: dict[str, list[str]] = {}
        for name, value in pairs:
            fields.setdefault(name, []).append(value)
        made, built = multidict_of(cls, fields), cls(pairs)
        assert type(made) is cls
        assert list(made.items(multi=True)) == list(built.items(multi=True))
        assert made.getlist("a") == ["1", "3"]
        assert made["a"] == "1"
        assert made.to_dict() == built.to_dict()
        assert dict.__getitem__(made, "a") == dict.__getitem__(built, "a") == ["1", "3"]  # the layout
        with pytest.raises(BadRequestKeyError):
            made["missing"]
    with pytest.raises(TypeError):
        multidict_of(ImmutableMultiDict, {"a": ["1"]})["a"] = "2"  # still immutable

    class Own(MultiDict[str, str]):
        def __init__(self, mapping: Any = None) -> None:
            super().__init__(mapping)
            self.seen = mapping

    own = multidict_of(Own, {"a": ["1"]})
    assert own.seen == {"a": ["1"]}  # a class with its own __init__ is built by it


def test_the_jinja_macro_internals_firkin_replaces() -> None:
    # _fastpaths.templates.SyncFirstMacro overrides Macro._invoke(arguments, autoescape), and
    # firkin's Template puts it in place of the `Macro` global of each compiled template.
    import inspect

    import jinja2
    from firkin._fastpaths.templates import SyncFirstMacro
    from firkin.templating import Template
    from jinja2.runtime import Macro

    assert list(inspect.signature(Macro._invoke).parameters) == ["self", "arguments", "autoescape"]
    source = "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(1) }}{% call m(2) %}{% endcall %}"
    generated = jinja2.Environment(enable_async=True).compile(source, raw=True)
    assert "Macro(environment, " in generated  # made through the namespace's global
    assert re.search(r"^from jinja2\.runtime import .*\bMacro\b", generated, re.M)
    env = jinja2.Environment(enable_async=True)
    env.template_class = Template
    template = env.from_string("{% macro m(x) %}<{{ x }}>{% endmacro %}")
    assert template.root_render_func.__globals__["Macro"] is SyncFirstMacro
    assert issubclass(SyncFirstMacro, Macro)
