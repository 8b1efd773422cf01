"""Access log, Prometheus metrics and StatsD end to end: real requests over HTTP/1.1, HTTP/2 and a
WebSocket, then the endpoint scraped over a real socket and the datagrams read from a real UDP (or
Unix datagram) socket; on asyncio, uvloop and trio."""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tapster.asgi._types import Receive, Scope, Send
from websockets.sync.client import connect

from conftest import RunningServer, ServeFactory

from .apps import Recorder, respond
from .gate import Gate
from .h2client import H2Client


def ws_url(running: RunningServer, path: str) -> str:
    return "ws://" + running.url.split("//", 1)[1] + path


class App:
    """Recorder's routes, plus /block (waits at the gate) and a WebSocket echo."""

    def __init__(self) -> None:
        self.gate = Gate()
        self.recorder = Recorder()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            while (message := await receive())["type"] != "websocket.disconnect":
                await send({"type": "websocket.send", "text": message.get("text")})
            return
        if scope["type"] == "http" and scope["path"] == "/block":
            await self.gate.wait()
            await respond(send, 200, b"released")
            return
        await self.recorder(scope, receive, send)


def access_lines(caplog: pytest.LogCaptureFixture, running: RunningServer) -> list[str]:
    """The access lines, once the server has stopped (a line is written after the response has
    left: the client may read it before the server thread gets to the log)."""
    running.stop()
    return [r.getMessage() for r in caplog.records if r.name == "tapster.access"]


# ----------------------------------------------------------------- access log


def test_access_log_format_atoms(serve: ServeFactory, caplog: pytest.LogCaptureFixture) -> None:
    fmt = "%(h)s %(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %(b)s %({user-agent}i)s %({content-type}o)s %(D)s %(L)s"
    running = serve(App(), access_log=True, access_log_format=fmt)
    caplog.set_level(logging.INFO, logger="tapster.access")
    httpx.get(running.url + "/status?204", headers={"user-agent": "probe/1.0"})
    httpx.post(running.url + "/echo?x=1", content=b"hello", headers={"content-type": "text/x-test"})
    first, second = access_lines(caplog, running)
    host = running.host
    assert re.fullmatch(rf"{host} GET /status 204 HTTP/1.1 204 0 - probe/1.0 - \d+ \d+\.\d{{6}}", first)
    parts = second.split(" ")
    assert parts[:9] == [host, "POST", "/echo", "x=1", "HTTP/1.1", "200", "5", "5", "python-httpx/0.28.1"]
    assert parts[9] == "application/octet-stream"  # the response's header, not the request's


def test_access_log_json(serve: ServeFactory, caplog: pytest.LogCaptureFixture) -> None:
    running = serve(App(), access_log=True, access_log_format="json")
    caplog.set_level(logging.INFO, logger="tapster.access")
    httpx.get(running.url + "/sc%1bope?a=%0a", headers={"referer": 'http://r/"q"'})
    (line,) = access_lines(caplog, running)
    assert "\x1b" not in line
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["method"] == "GET"
    assert entry["path"] == "/sc\x1bope"
    assert entry["query"] == "a=%0a"
    assert entry["status"] == 404
    assert entry["bytes"] == len(b"not found")
    assert entry["protocol"] == "HTTP/1.1"
    assert entry["referer"] == 'http://r/"q"'
    assert entry["user_agent"] == "python-httpx/0.28.1"
    assert entry["client"].startswith(running.host + ":")
    assert 0 <= entry["duration"] < 5
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])


def test_access_log_failed_app_and_websocket_and_http2(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    running = serve(App(), access_log=True, access_log_format="%(r)s %(s)s")
    caplog.set_level(logging.INFO, logger="tapster.access")
    assert httpx.get(running.url + "/error").status_code == 500
    with connect(ws_url(running, "/chat")) as ws:
        ws.send("hi")
        assert ws.recv() == "hi"
    with httpx.Client(http1=False, http2=True) as client:
        assert client.get(running.url + "/status?201").status_code == 201
    assert access_lines(caplog, running) == [
        "GET /error HTTP/1.1 500",
        "GET /chat HTTP/1.1 101",
        "GET /status?201 HTTP/2 201",
    ]


def test_access_log_takes_the_client_from_the_scope_the_app_saw(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # What a proxy-headers middleware does: it replaces scope["client"] before the app runs.
    app = App()

    async def behind_proxy(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["client"] = ("203.0.113.7", 4711)
        await app(scope, receive, send)

    running = serve(behind_proxy, access_log=True, access_log_format="%(h)s %(c)s")
    caplog.set_level(logging.INFO, logger="tapster.access")
    httpx.get(running.url + "/status")
    assert access_lines(caplog, running) == ["203.0.113.7 203.0.113.7:4711"]


def test_a_client_that_leaves_before_the_response_is_logged_499(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    running = serve(app, access_log=True, access_log_format="%(r)s %(s)s")
    caplog.set_level(logging.INFO, logger="tapster.access")
    with running.connect() as sock:
        sock.sendall(b"GET /wait-disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
        assert app.recorder.started.wait(5)
    assert app.recorder.disconnected.wait(5)
    # The line is written when the app's task ends: a request after it is logged after it.
    httpx.get(running.url + "/status")
    assert access_lines(caplog, running) == ["GET /wait-disconnect HTTP/1.1 499", "GET /status HTTP/1.1 200"]


# ----------------------------------------------------------------- Prometheus


def scrape(running: RunningServer) -> dict[str, float]:
    address = running.server.metrics_address
    assert address is not None
    response = httpx.get(address + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: dict[str, float] = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_metrics_endpoint_counts_real_traffic(serve: ServeFactory) -> None:
    app = App()
    running = serve(app, metrics_bind="127.0.0.1:0")
    with httpx.Client() as client:
        for _ in range(3):
            assert client.get(running.url + "/status").status_code == 200
        assert client.post(running.url + "/missing", content=b"x").status_code == 404
        assert client.request("BREW", running.url + "/status").status_code == 200  # an unknown method
    with httpx.Client(http1=False, http2=True) as client:
        assert client.get(running.url + "/status?503").status_code == 503

    h2 = H2Client(running.host, running.port)
    try:
        blocked = h2.request("/block")  # an HTTP/2 stream held open while we scrape
        app.gate.wait_entered(1)
        with connect(ws_url(running, "/chat")) as ws:
            ws.send("hi")
            assert ws.recv() == "hi"
            samples = scrape(running)
            assert samples["tapster_active_websockets"] == 1
            assert samples["tapster_active_http2_streams"] == 1
            assert samples["tapster_open_connections"] == 2  # the h2 client and the websocket
            assert samples["tapster_requests_in_flight"] == 2  # /block and the websocket
        app.gate.release_all()
        assert h2.wait(blocked).status == 200
    finally:
        h2.close()

    assert samples['tapster_requests_total{method="GET",status="2xx"}'] == 3
    assert samples['tapster_requests_total{method="GET",status="1xx"}'] == 1  # the WebSocket's 101
    assert samples['tapster_requests_total{method="POST",status="4xx"}'] == 1
    assert samples['tapster_requests_total{method="other",status="2xx"}'] == 1
    assert samples['tapster_requests_total{method="GET",status="5xx"}'] == 1
    assert samples["tapster_request_duration_seconds_count"] == 7
    assert samples['tapster_request_duration_seconds_bucket{le="+Inf"}'] == 7
    assert 0 < samples["tapster_request_duration_seconds_sum"] < 7 * 5
    assert samples["tapster_worker_restarts_total"] == 0

    later = scrape(running)  # /block finished since: counted, and its gauges are back to 0
    assert later['tapster_requests_total{method="GET",status="2xx"}'] == 4
    assert later["tapster_active_websockets"] == 0
    assert later["tapster_active_http2_streams"] == 0
    assert later["tapster_requests_in_flight"] == 0
    assert "process_cpu_seconds_total" in later  # the default registry follows tapster's


def test_metrics_endpoint_paths_and_openmetrics(serve: ServeFactory) -> None:
    running = serve(App(), metrics_bind="127.0.0.1:0")
    address = running.server.metrics_address
    assert address is not None
    assert address != running.url
    assert httpx.get(address + "/").status_code == 404
    assert httpx.post(address + "/metrics").status_code == 405
    response = httpx.get(address + "/metrics", headers={"accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.count("# EOF") == 1
    assert response.text.endswith("# EOF\n")
    # Scrapes are not requests of the app: they are not counted.
    assert scrape(running).get('tapster_requests_total{method="GET",status="2xx"}') is None


def test_metrics_off_by_default(serve: ServeFactory) -> None:
    running = serve(App())
    assert running.server.metrics_address is None
    assert running.server.metrics is None


# ----------------------------------------------------------------- StatsD


@pytest.fixture
def udp_receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def receive_lines(sock: socket.socket, count: int) -> tuple[list[str], list[bytes]]:
    lines: list[str] = []
    packets: list[bytes] = []
    while len(lines) < count:
        packet = sock.recv(65536)
        packets.append(packet)
        lines += packet.decode().split("\n")
    return lines, packets


def test_statsd_datagrams(serve: ServeFactory, udp_receiver: socket.socket) -> None:
    port = udp_receiver.getsockname()[1]
    running = serve(App(), statsd_host=f"127.0.0.1:{port}", statsd_prefix="web")
    httpx.get(running.url + "/status?201")
    lines, _ = receive_lines(udp_receiver, 3)
    assert lines[:2] == ["web.requests:1|c", "web.requests.status.201:1|c"]
    assert re.fullmatch(r"web\.request\.duration:\d+\.\d{3}\|ms", lines[2])
    assert running.server.statsd is not None
    assert running.server.statsd.dropped == 0


def test_dogstatsd_tags_and_packet_bound(serve: ServeFactory, udp_receiver: socket.socket) -> None:
    port = udp_receiver.getsockname()[1]
    running = serve(
        App(), statsd_host=f"127.0.0.1:{port}", dogstatsd_tags=("env:test", "team:web"), statsd_max_packet=512
    )
    client = H2Client(running.host, running.port)
    try:
        # 20 responses in one write of streams: their 40 lines are batched, 512 bytes at most each.
        sids = [client.request("/status") for _ in range(20)]
        for sid in sids:
            client.wait(sid)
    finally:
        client.close()
    lines, packets = receive_lines(udp_receiver, 40)
    assert len(packets) < 40  # batched
    assert all(len(packet) <= 512 for packet in packets)
    assert lines.count("tapster.requests:1|c|#method:GET,status:200,env:test,team:web") == 20
    durations = [line for line in lines if line.startswith("tapster.request.duration:")]
    assert len(durations) == 20
    assert all(line.endswith("|ms|#method:GET,status:200,env:test,team:web") for line in durations)


def test_statsd_never_blocks_and_drops_when_the_socket_is_full(serve: ServeFactory, tmp_path: Path) -> None:
    # A Unix datagram socket nobody reads: its queue fills, and then the sender would block.
    path = str(tmp_path / "dsd.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    try:
        running = serve(App(), statsd_host=f"unix:{path}")
        statsd = running.server.statsd
        assert statsd is not None
        with httpx.Client() as client:
            for _ in range(400):  # one datagram per request: more than the queue holds
                assert client.get(running.url + "/status").status_code == 200
            # (the last datagram leaves at the end of the loop's turn: one more round trip)
            assert client.get(running.url + "/status").status_code == 200
        assert statsd.dropped > 0
        assert statsd.sent + statsd.dropped >= 400
        receiver.setblocking(False)
        received = 0
        while True:
            try:
                packet = receiver.recv(65536)
            except BlockingIOError:
                break
            assert packet.startswith(b"tapster.requests:1|c\n")  # whole datagrams, never torn
            received += 1
        assert received == statsd.sent
    finally:
        receiver.close()


def test_statsd_target_down_is_not_an_error(serve: ServeFactory, udp_receiver: socket.socket) -> None:
    port = udp_receiver.getsockname()[1]
    udp_receiver.close()  # nobody listens: ICMP port unreachable, then ECONNREFUSED on a send
    running = serve(App(), statsd_host=f"127.0.0.1:{port}")
    with httpx.Client() as client:
        for _ in range(5):
            assert client.get(running.url + "/status").status_code == 200
    statsd = running.server.statsd
    assert statsd is not None
    assert statsd.sent + statsd.dropped >= 4
    assert statsd.dropped >= 1
