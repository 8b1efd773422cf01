"""Quart's request-building helpers in firkin.testing (module path and names as in quart.testing)."""

from __future__ import annotations

import inspect
from collections.abc import MutableMapping
from typing import Any

import pytest
from firkin import Firkin, request
from firkin.testing import (
    FirkinClient,
    QuartClient,
    make_test_body_with_headers,
    make_test_headers_path_and_query_string,
    make_test_scope,
    no_op_push,
    sentinel,
)
from werkzeug.datastructures import Headers

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("path", "query_string", "subdomain", "expected_path", "expected_query", "expected_host"),
    [
        ("/path", {"a": "b"}, None, "/path", b"a=b", "localhost"),
        ("/path", {"a": ["b", "c"]}, None, "/path", b"a=b&a=c", "localhost"),
        ("/path?b=c", None, None, "/path", b"b=c", "localhost"),
        ("/path%20", None, None, "/path ", b"", "localhost"),
        ("/path", None, "api", "/path", b"", "api.localhost"),
    ],
)
def test_headers_path_and_query_string(
    path: str,
    query_string: dict[str, object] | None,
    subdomain: str | None,
    expected_path: str,
    expected_query: bytes,
    expected_host: str,
) -> None:
    headers, result_path, query = make_test_headers_path_and_query_string(
        Firkin(__name__),
        path,
        None,
        query_string,
        None,
        subdomain,
    )
    assert (result_path, query, headers["Host"], headers["User-Agent"]) == (
        expected_path,
        expected_query,
        expected_host,
        "Firkin",
    )


def test_basic_auth_header() -> None:
    headers, _, _ = make_test_headers_path_and_query_string(Firkin(__name__), "/", auth=("ada", "pw"))
    assert headers["Authorization"] == "Basic YWRhOnB3"


def test_bodies() -> None:
    assert make_test_body_with_headers() == (b"", Headers())
    body, headers = make_test_body_with_headers(json=None)  # None is JSON too: null
    assert (body, headers["Content-Type"]) == (b"null", "application/json")
    body, headers = make_test_body_with_headers(form={"a": "1"})
    assert (body, headers["Content-Type"]) == (b"a=1", "application/x-www-form-urlencoded")
    with pytest.raises(ValueError, match="at most one"):
        make_test_body_with_headers(data=b"x", json={"a": 1})


def test_sentinel_means_no_json_given() -> None:
    # `sentinel` is json's default: passing it is passing nothing, unlike None (JSON null above).
    assert inspect.signature(make_test_body_with_headers).parameters["json"].default is sentinel
    assert make_test_body_with_headers(json=sentinel) == (b"", Headers())
    body, headers = make_test_body_with_headers(data=b"raw", json=sentinel)  # not a second body
    assert (body, headers) == (b"raw", Headers())


async def test_no_op_push_is_awaited_as_in_quart() -> None:
    # Awaited (Quart's is async); what is left to show is that it raises nothing and changes nothing.
    headers = Headers({"Accept": "text/css"})
    await no_op_push("/style.css", headers)
    assert headers == Headers({"Accept": "text/css"})


async def test_a_scope_made_by_hand_is_served() -> None:
    app = Firkin(__name__, root_path="")

    @app.get("/where")
    async def where() -> str:
        return f"{request.host} {request.path} {request.args['q']} {request.root_path}"

    headers, path, query = make_test_headers_path_and_query_string(app, "/where?q=1")
    scope = make_test_scope("http", path, "GET", headers, query, "http", "/mount", "1.1", None)
    assert scope["path"] == "/mount/where"
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"localhost /where 1 /mount"
    websocket_scope = make_test_scope("websocket", "/ws", "GET", headers, b"", "ws", "", "1.1", {"x": 1})
    assert (websocket_scope["type"], websocket_scope["subprotocols"], websocket_scope["x"]) == (
        "websocket",
        [],
        1,
    )
    assert "method" not in websocket_scope


def test_quart_names_for_the_client() -> None:
    assert QuartClient is FirkinClient


def test_a_test_scopes_raw_path_is_percent_encoded_as_a_client_sends_it() -> None:
    scope = make_test_scope("http", "/❤️ x", "GET", Headers(), b"", "http", "", "1.1", None)
    assert scope["path"] == "/❤️ x"
    assert scope["raw_path"] == b"/%E2%9D%A4%EF%B8%8F%20x"
