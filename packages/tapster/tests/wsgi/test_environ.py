"""PEP 3333 rules without I/O: the environ built from a scope, start_response, wsgi.errors."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
from tapster.wsgi._environ import ErrorStream, ResponseHead, build_environ


def scope(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/a b/ü",
        "raw_path": b"/a%20b/%C3%BC",
        "root_path": "",
        "query_string": b"x=1&y=%C3%BC",
        "headers": [
            (b"host", b"example.com:8080"),
            (b"content-type", b"text/plain"),
            (b"content-length", b"5"),
            (b"accept", b"text/html"),
            (b"accept", b"application/json"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"x-custom-thing", b"caf\xe9"),
        ],
        "server": ("127.0.0.1", 8080),
        "client": ("10.0.0.1", 5555),
    }
    base.update(overrides)
    return base


def test_cgi_variables() -> None:
    env = build_environ(scope())
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    # Percent-decoded bytes carried as latin-1 (PEP 3333 "Unicode Issues"): the app re-encodes.
    assert env["PATH_INFO"] == "/a b/\xc3\xbc"
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/a b/ü"
    assert env["QUERY_STRING"] == "x=1&y=%C3%BC"  # not decoded: the app parses it
    assert env["RAW_URI"] == "/a%20b/%C3%BC?x=1&y=%C3%BC"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", "8080")
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("10.0.0.1", "5555")
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_HOST"] == "example.com:8080"
    assert env["HTTP_X_CUSTOM_THING"] == "caf\xe9"


def test_repeated_headers_are_joined_with_a_comma_and_cookies_with_a_semicolon() -> None:
    env = build_environ(scope())
    assert env["HTTP_ACCEPT"] == "text/html, application/json"
    assert env["HTTP_COOKIE"] == "a=1; b=2"


def test_wsgi_keys() -> None:
    env = build_environ(scope(scheme="https"), multiprocess=True)
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "https"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is True
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    for key, value in env.items():  # PEP 3333: native strings throughout the CGI part
        if key.isupper():
            assert type(value) is str, key


def test_root_path_becomes_script_name() -> None:
    # Tapster's scope: path includes root_path, raw_path is what was received (without it).
    env = build_environ(scope(root_path="/api", path="/api/users/1", raw_path=b"/users/1"))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/api", "/users/1")


def test_without_raw_path_the_root_path_is_cut_from_path() -> None:
    env = build_environ(scope(root_path="/api", path="/api/ü", raw_path=None))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/api", "/\xc3\xbc")
    assert "RAW_URI" not in env


def test_http2_and_http10_protocol_names() -> None:
    assert build_environ(scope(http_version="2"))["SERVER_PROTOCOL"] == "HTTP/2"
    assert build_environ(scope(http_version="1.0"))["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_header_names_with_underscores_are_dropped() -> None:
    # x_user and x-user would both be HTTP_X_USER: a proxy that vets one would let the other by.
    env = build_environ(scope(headers=[(b"x-user", b"alice"), (b"x_user", b"mallory")]))
    assert env["HTTP_X_USER"] == "alice"


def test_a_unix_socket_takes_its_server_name_from_host() -> None:
    env = build_environ(scope(server=None, client=None))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "8080")
    assert "REMOTE_ADDR" not in env
    env = build_environ(scope(server=None, scheme="https", headers=[(b"host", b"[::1]")]))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("[::1]", "443")
    env = build_environ(scope(server=None, headers=[]))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("localhost", "80")


def test_no_body_headers_no_content_variables() -> None:
    env = build_environ(scope(method="GET", headers=[(b"host", b"h")]))
    assert "CONTENT_TYPE" not in env
    assert "CONTENT_LENGTH" not in env


# ------------------------------------------------------------------------------------- start_response


def test_start_response_records_status_and_headers() -> None:
    head = ResponseHead()
    head.start("201 Created", [("Content-Type", "text/plain"), ("Content-Length", "12"), ("X-A", "é")])
    assert head.status == 201
    assert head.headers == [(b"content-type", b"text/plain"), (b"content-length", b"12"), (b"x-a", b"\xe9")]
    assert head.content_length == 12


def test_hop_by_hop_headers_are_dropped() -> None:
    head = ResponseHead()
    head.start("200 OK", [("Connection", "close"), ("Transfer-Encoding", "chunked"), ("X", "1")])
    assert head.headers == [(b"x", b"1")]


def test_a_second_call_needs_exc_info() -> None:
    head = ResponseHead()
    head.start("200 OK", [])
    with pytest.raises(RuntimeError, match="second time without exc_info"):
        head.start("500 Oops", [])


def test_exc_info_before_the_head_went_out_replaces_it() -> None:
    head = ResponseHead()
    head.start("200 OK", [("X", "1")])
    try:
        raise KeyError("boom")
    except KeyError:
        head.start("500 Internal Server Error", [("X", "2")], sys.exc_info())
    assert (head.status, head.headers) == (500, [(b"x", b"2")])


def test_exc_info_after_the_head_went_out_reraises() -> None:
    head = ResponseHead()
    head.start("200 OK", [])
    head.sent = True
    try:
        raise KeyError("boom")
    except KeyError:
        info = sys.exc_info()
    with pytest.raises(KeyError, match="boom") as caught:
        head.start("500 Internal Server Error", [], info)
    assert caught.value is info[1]


def test_exc_info_of_nones_is_a_plain_call() -> None:
    head = ResponseHead()
    head.start("200 OK", [], (None, None, None))
    with pytest.raises(RuntimeError):
        head.start("200 OK", [], (None, None, None))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (b"200 OK", TypeError),
        (200, TypeError),
        ("200", ValueError),
        ("2000 OK", ValueError),
        ("abc OK", ValueError),
        ("099 Low", ValueError),
    ],
)
def test_bad_status(status: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="status"):
        ResponseHead().start(status, [])


@pytest.mark.parametrize(
    ("headers", "error", "match"),
    [
        ((("a", "b"),), TypeError, "must be a list"),
        ([("a", b"b")], TypeError, r"\(str, str\) tuple"),
        ([("a", "b", "c")], TypeError, r"\(str, str\) tuple"),
        (["ab"], TypeError, r"\(str, str\) tuple"),
        ([("x", "€")], ValueError, "not latin-1"),
        ([("content-length", "-1")], ValueError, "Content-Length"),
        ([("content-length", "ten")], ValueError, "Content-Length"),
    ],
)
def test_bad_headers(headers: Any, error: type[Exception], match: str) -> None:
    head = ResponseHead()
    with pytest.raises(error, match=match):
        head.start("200 OK", headers)
    assert head.status is None  # nothing recorded: a later correct call is still the first


# ------------------------------------------------------------------------------------- wsgi.errors


def test_error_stream_logs_lines(caplog: pytest.LogCaptureFixture) -> None:
    stream = ErrorStream(max_line=16)
    with caplog.at_level(logging.ERROR, logger="tapster.error"):
        stream.write("one\ntw")
        stream.write("o\n")
        stream.writelines(["three", "\n"])
        stream.write("x" * 40)  # longer than max_line: logged in pieces, never held whole
        stream.write("tail")
        stream.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "one",
        "two",
        "three",
        "x" * 16,
        "x" * 16,
        "x" * 8,
        "tail",
    ]


def test_error_stream_takes_text_only() -> None:
    with pytest.raises(TypeError, match="takes str"):
        ErrorStream().write(b"bytes")  # type: ignore[arg-type]
