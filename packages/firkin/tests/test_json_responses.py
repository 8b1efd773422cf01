"""Dicts and lists returned by views are encoded with the app's JSON provider settings, as Flask does."""

from __future__ import annotations

import datetime
import decimal
from typing import Any, cast

import pytest
from firkin import Firkin, Response, jsonify

pytestmark = pytest.mark.anyio


def make_app() -> Firkin:
    app = Firkin(__name__)

    @app.get("/")
    async def index() -> dict[str, Any]:
        return {"b": 1, "a": "é", "when": datetime.date(2026, 11, 25), "price": decimal.Decimal("1.50")}

    @app.get("/list")
    async def listing() -> list[int]:
        return [3, 1]

    return app


async def test_defaults_sorted_ascii_compact_with_a_newline() -> None:
    response = await make_app().test_client().get("/")
    assert response.mimetype == "application/json"
    assert await response.get_data() == (
        b'{"a":"\\u00e9","b":1,"price":"1.50","when":"Wed, 25 Nov 2026 00:00:00 GMT"}\n'
    )
    assert await (await make_app().test_client().get("/list")).get_data() == b"[3,1]\n"


async def test_settings_changed_at_run_time_are_used() -> None:
    app = make_app()
    client = app.test_client()
    await client.get("/")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    data = await (await client.get("/")).get_data(as_text=True)
    assert data.startswith('{"b":1,"a":"é",')


async def test_debug_mode_indents_and_compact_false_too() -> None:
    app = make_app()
    app.debug = True
    assert await (await app.test_client().get("/list")).get_data() == b"[\n  3,\n  1\n]\n"
    app.debug = False
    app.json.compact = False  # type: ignore[attr-defined]
    assert await (await app.test_client().get("/list")).get_data() == b"[\n  3,\n  1\n]\n"


async def test_a_custom_default_is_used() -> None:
    app = make_app()

    class Point:
        pass

    app.json.default = lambda o: "a point" if isinstance(o, Point) else str(o)  # type: ignore[attr-defined]

    @app.get("/point")
    async def point() -> dict[str, Any]:
        return {"p": Point()}

    assert await (await app.test_client().get("/point")).get_data() == b'{"p":"a point"}\n'


async def test_same_text_as_json_dumps_and_errors_leave_no_trace() -> None:
    """The compact body is what json.dumps(sort_keys=True, separators=(",", ":")) writes, and a
    failed encoding (a circular structure, an unknown type) is a 500 that the next response does
    not inherit (the circular-reference check starts empty every time)."""
    import json

    app = Firkin(__name__)
    shared = [1.5, float("inf"), float("nan"), None, True, "\u2603", {"z": {"y": [-0.0, 10**30]}}]
    loop: list[Any] = []
    loop.append(loop)

    @app.get("/value")
    async def value() -> dict[str, Any]:
        return {"b": shared, "a": shared}

    @app.get("/loop")
    async def circular() -> list[Any]:
        return loop

    items: list[Any] = [object()]

    @app.get("/items")
    async def listing() -> dict[str, Any]:
        return {"items": items}

    client = app.test_client()
    expected = json.dumps({"b": shared, "a": shared}, sort_keys=True, separators=(",", ":")) + "\n"
    for _ in range(2):
        assert (await client.get("/loop")).status_code == 500
        response = await client.get("/value")
        assert await response.get_data(as_text=True) == expected
    assert (await client.get("/items")).status_code == 500  # an object() in the list
    items[0] = 1  # the same list, now encodable: no stale "circular reference" from the failure
    assert await (await client.get("/items")).get_data() == b'{"items":[1]}\n'


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {"message": "héllo", "ok": True}),
        (({"b": 1, "a": [1, 2]},), {}),
        ((1, "two", None), {}),
        (("just a str",), {}),
        ((), {}),
    ],
)
@pytest.mark.parametrize("settings", [{}, {"DEBUG": True}, {"sort_keys": False, "ensure_ascii": False}])
async def test_jsonify_is_what_the_json_provider_responds(
    args: tuple[object, ...], kwargs: dict[str, object], settings: dict[str, object]
) -> None:
    app = Firkin(__name__)
    app.config["DEBUG"] = settings.get("DEBUG", False)
    for name in ("sort_keys", "ensure_ascii"):
        if name in settings:
            setattr(app.json, name, settings[name])
    async with app.app_context():
        built = jsonify(*args, **kwargs)
        by_provider = cast(Response, app.json.response(*args, **kwargs))  # firkin's response class
        assert built.status == by_provider.status
        assert await built.get_data() == await by_provider.get_data()
        assert list(built.headers.items()) == list(by_provider.headers.items())
    with pytest.raises(TypeError):
        async with app.app_context():
            jsonify(1, a=2)


async def test_any_mapping_is_sent_as_json() -> None:
    """firkin.typing.ResponseValue (Quart's too) says Mapping: a mapping that is not a dict is JSON,
    not an iterable whose keys are streamed."""
    from types import MappingProxyType

    app = Firkin(__name__)

    @app.route("/")
    async def index() -> MappingProxyType[str, int]:
        return MappingProxyType({"a": 1})

    response = await app.test_client().get("/")
    assert response.mimetype == "application/json"
    assert await response.get_json() == {"a": 1}
