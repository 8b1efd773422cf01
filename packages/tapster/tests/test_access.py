"""Access-log atoms and formats (no sockets): every atom, escaping, laziness, JSON, bad formats;
and the request counters behind the metrics."""

from __future__ import annotations

import json
import logging
import os
import re

import pytest
from tapster import Config, ConfigError
from tapster._access import ATOMS, DEFAULT_FORMAT, AccessEntry, check_format, resolve_format
from tapster.asgi._observe import DURATION_BUCKETS, Observer, RequestMetrics, method_label, status_class
from tapster.protocol import Request


def entry(
    target: bytes = b"/a%20b?x=1",
    *,
    method: bytes = b"GET",
    version: bytes = b"1.1",
    headers: list[tuple[bytes, bytes]] | None = None,
    status: int = 200,
    response_headers: list[tuple[bytes, bytes]] | None = None,
    sent: int = 12,
    duration: float = 0.0123456,
    client: tuple[str, int] | None = ("10.0.0.1", 5555),
) -> AccessEntry:
    path, _, query = target.partition(b"?")
    request = Request(method, target, path, query, version, headers or [], True, False, False)
    return AccessEntry(request, client, status, response_headers or [], sent, duration)


def test_every_atom() -> None:
    e = entry(
        headers=[(b"user-agent", b"curl/8"), (b"referer", b"http://ref/"), (b"x-id", b"42")],
        response_headers=[(b"Content-Type", b"text/html")],
    )
    values = {atom: e[atom] for atom in ("h", "c", "l", "u", "r", "m", "U", "q", "H")}
    assert values == {
        "h": "10.0.0.1",
        "c": "10.0.0.1:5555",
        "l": "-",
        "u": "-",
        "r": "GET /a b?x=1 HTTP/1.1",
        "m": "GET",
        "U": "/a b",
        "q": "x=1",
        "H": "HTTP/1.1",
    }
    assert (e["s"], e["B"], e["b"]) == (200, 12, 12)
    assert (e["f"], e["a"]) == ("http://ref/", "curl/8")
    assert (e["T"], e["M"], e["D"], e["L"]) == (0, 12, 12345, "0.012346")
    assert e["p"] == f"<{os.getpid()}>"
    assert re.fullmatch(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", str(e["t"]))
    assert e["{X-Id}i"] == "42"
    assert e["{content-type}o"] == "text/html"  # response names compared without case
    assert e["{x-missing}i"] == "-"
    assert e["{PATH}e"] == os.environ["PATH"]
    assert json.loads(str(e["json"]))["path"] == "/a b"
    assert set(e) == {atom for atom in ATOMS if not atom.startswith("{")}


def test_empty_and_missing_values() -> None:
    e = entry(sent=0, client=None)
    assert (e["h"], e["c"], e["b"], e["B"], e["a"], e["f"]) == ("-", "-", "-", 0, "-", "-")
    assert json.loads(str(e["json"]))["client"] is None


def test_the_default_format_is_the_line_tapster_always_wrote() -> None:
    assert DEFAULT_FORMAT % entry() == '10.0.0.1:5555 - "GET /a b?x=1 HTTP/1.1" 200 12'
    assert DEFAULT_FORMAT % entry(b"/", version=b"2") == '10.0.0.1:5555 - "GET / HTTP/2" 200 12'


def test_request_values_are_escaped() -> None:
    e = entry(b"/x%0d%0aforged", headers=[(b"user-agent", b"\x1b[31mred")])
    line = "%(r)s %(a)s %(U)s %({user-agent}i)s" % e  # noqa: UP031 - the logging module's own %-format
    assert not {"\r", "\n", "\x1b"} & set(line)
    assert "\\r\\nforged" in line
    assert "\\x1b[31mred" in line
    document = str(e["json"])
    assert not {"\n", "\x1b"} & set(document)
    assert json.loads(document)["user_agent"] == "\x1b[31mred"


def test_json_fields() -> None:
    document = json.loads(resolve_format("json") % entry(headers=[(b"referer", b"r")], status=404, sent=9))
    assert sorted(document) == sorted(
        ["time", "client", "method", "path", "query", "protocol", "status", "bytes", "duration", "referer",
         "user_agent"]
    )  # fmt: skip
    assert (document["status"], document["bytes"], document["referer"], document["user_agent"]) == (
        404,
        9,
        "r",
        None,
    )
    assert document["duration"] == 0.012346


class Counting(AccessEntry):
    """An entry that counts the atoms computed (to show a dropped record computes none)."""

    looked_up: list[str] = []  # noqa: RUF012 - one list for the test

    def __getitem__(self, key: str) -> object:
        self.looked_up.append(key)
        return super().__getitem__(key)


def test_lines_are_formatted_lazily(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tapster.access")
    e = entry()
    counting = Counting(e.request, e.client, e.status, e.response_headers, e.sent, e.duration)
    with caplog.at_level(logging.WARNING, logger="tapster.access"):
        logger.info("%(r)s %(s)s", counting)  # below the level: nothing computed
        assert Counting.looked_up == []
    with caplog.at_level(logging.INFO, logger="tapster.access"):
        logger.info("%(r)s %(s)s", counting)
        assert caplog.records[-1].getMessage() == "GET /a b?x=1 HTTP/1.1 200"
    assert set(Counting.looked_up) == {"r", "s"}  # only the atoms the format names


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("%(nope)s", "unknown access-log atom %(nope)s"),
        ("%(h)s %s", "every conversion must name an atom"),
        ("100%", "every conversion must name an atom"),
        ("%(h)", "not a %-format"),
        ("%(h)d", "not a %-format"),  # h is a string
    ],
)
def test_bad_formats(fmt: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_format(fmt)
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config(access_log_format=fmt)


def test_good_formats() -> None:
    for fmt in (DEFAULT_FORMAT, "json", "%(h)s 100%% %({x}i)s %({X}o)s %(D)d", "no atoms at all"):
        check_format(fmt)


def test_observer_off_paths(caplog: pytest.LogCaptureFixture) -> None:
    metrics = RequestMetrics()
    observer = Observer(Config(), metrics)  # access log off: counts only
    e = entry()
    with caplog.at_level(logging.INFO, logger="tapster.access"):
        observer.exchange(e.request, e.client, 201, [], 0, 0.02)
    assert not caplog.records
    assert metrics.requests == {("GET", "2xx"): 1}


# ----------------------------------------------------------------- counters


def test_request_metrics_buckets_and_labels() -> None:
    metrics = RequestMetrics()
    metrics.count("GET", 200, 0.001)
    metrics.count("GET", 204, 0.005)  # on a bound: counted in that bucket (le)
    metrics.count("POST", 503, 3.0)
    metrics.count("other", 101, 60.0)
    assert metrics.requests == {("GET", "2xx"): 2, ("POST", "5xx"): 1, ("other", "1xx"): 1}
    assert metrics.duration_buckets[0] == 2
    assert metrics.duration_buckets[DURATION_BUCKETS.index(5.0)] == 1
    assert metrics.duration_buckets[-1] == 1  # +Inf
    assert metrics.duration_count == 4
    assert metrics.duration_sum == pytest.approx(63.006)
    metrics.worker_restarted()
    assert metrics.worker_restarts == 1


def test_labels_are_bounded() -> None:
    assert method_label(b"GET") == "GET"
    assert method_label(b"BREW") == "other"  # a client chooses the method: no label per invention
    assert [status_class(s) for s in (100, 199, 200, 302, 404, 599, 600, 99)] == [
        "1xx", "1xx", "2xx", "3xx", "4xx", "5xx", "other", "other"
    ]  # fmt: skip
