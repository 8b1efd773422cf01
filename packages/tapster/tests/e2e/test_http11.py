"""HTTP/1.1 end to end: real sockets, real clients (httpx, curl, raw sockets), on every backend."""

from __future__ import annotations

import email.utils
import json
import logging
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from conftest import RunningServer, ServeFactory

from .apps import Recorder


def recv_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Read until the server closes the connection (a hang fails the test via the timeout)."""
    sock.settimeout(timeout)
    chunks: list[bytes] = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def recv_response(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Read one response with a Content-Length body (for keep-alive connections)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-head: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        rest += chunk
    return head + b"\r\n\r\n" + rest


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(serve: ServeFactory, recorder: Recorder) -> RunningServer:
    return serve(recorder)


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def test_get_scope_over_httpx(client: httpx.Client, server: RunningServer) -> None:
    response = client.get("/scope?a=1&b=%20", headers={"X-Custom": "Value"})
    assert response.status_code == 200
    assert response.headers["server"] == "tapster"
    assert "date" in response.headers
    scope = response.json()
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == "/scope"
    assert scope["query_string"] == "a=1&b=%20"
    assert scope["root_path"] == ""
    assert ["x-custom", "Value"] in scope["headers"]
    assert scope["server"] == ["127.0.0.1", server.port]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["state"] == ["greeting"]


def test_date_header_is_an_http_date(client: httpx.Client) -> None:
    # RFC 9110 §5.6.7 IMF-fixdate, in GMT, and current (it is cached for at most a second).
    date = client.get("/status").headers["date"]
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", date)
    sent = email.utils.parsedate_to_datetime(date).timestamp()
    assert abs(sent - time.time()) < 3


def test_percent_decoded_path_keeps_raw_path(client: httpx.Client) -> None:
    scope = client.get("/sc%6Fpe").json()
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == "/sc%6Fpe"


def test_root_path_is_prefixed(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder, root_path="/api")
    with httpx.Client(base_url=running.url) as c:
        scope = c.get("/scope").json()
    # ASGI: `path` is the full path, `root_path` says where the app is mounted.
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/scope"
    assert scope["raw_path"] == "/scope"


def test_post_echo_large_body_is_streamed_with_flow_control(client: httpx.Client) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB: far above max_body_buffer, so reading pauses and resumes
    response = client.post("/echo", content=body)
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["content-length"] == str(len(body))


def test_chunked_upload(client: httpx.Client) -> None:
    def parts() -> Iterator[bytes]:
        for i in range(50):
            yield b"part %d;" % i

    response = client.post("/echo", content=parts())
    assert response.content == b"".join(b"part %d;" % i for i in range(50))


def test_streaming_response_is_chunked(client: httpx.Client) -> None:
    with client.stream("GET", "/stream") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        assert response.read() == b"".join(b"chunk %d\n" % i for i in range(5))


def test_keep_alive_reuses_the_connection(client: httpx.Client) -> None:
    ports = {tuple(client.get("/scope").json()["client"])[1] for _ in range(5)}
    assert len(ports) == 1


def test_pipelined_requests_are_answered_in_order(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"GET /status?201 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /status?202 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = recv_all(sock)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"201", b"200", b"202"]
    assert b"\r\n\r\nhello" in data


def test_http10_closes_unless_keep_alive(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /status HTTP/1.0\r\n\r\n")
        data = recv_all(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close" in data
    assert data.endswith(b"\r\n\r\nok")
    with server.connect() as sock:
        sock.sendall(b"GET /status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        first = recv_response(sock)
        assert b"connection: keep-alive" in first
        sock.sendall(b"GET /status?203 HTTP/1.0\r\n\r\n")
        assert recv_all(sock).startswith(b"HTTP/1.1 203 ")


def test_http10_streaming_response_is_close_delimited(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        data = recv_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head
    assert body == b"".join(b"chunk %d\n" % i for i in range(5))


def test_head_has_no_body(client: httpx.Client, server: RunningServer) -> None:
    response = client.head("/status")
    assert response.status_code == 200
    assert response.headers["content-length"] == "2"
    with server.connect() as sock:
        sock.sendall(b"HEAD /status HTTP/1.1\r\nHost: x\r\n\r\nGET /status?201 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        sock.shutdown(socket.SHUT_WR)
        data = recv_all(sock)
    # The HEAD response ends at its head; the next bytes are the second response.
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ")
    assert rest.startswith(b"HTTP/1.1 201 ")


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(server: RunningServer, status: int) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /status?%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % status)
        data = recv_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert body == b""
    assert b"transfer-encoding" not in head


def test_expect_100_continue(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        sock.settimeout(5)
        interim = sock.recv(1024)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        response = recv_response(sock)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.endswith(b"\r\n\r\ndata")


def test_no_100_continue_when_app_answers_without_reading(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /status?201 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        data = recv_all(sock)
    assert data.startswith(b"HTTP/1.1 201 ")
    assert b"100 Continue" not in data


def test_curl_get_and_post(server: RunningServer) -> None:
    assert shutil.which("curl"), "curl is needed (./dev test installs it with apt-get)"
    out = subprocess.run(
        ["curl", "-sS", "-i", f"{server.url}/status?201"], capture_output=True, check=True, timeout=20
    ).stdout
    assert out.startswith(b"HTTP/1.1 201 Created\r\n")
    posted = subprocess.run(
        ["curl", "-sS", "--data-binary", "@-", f"{server.url}/echo"],
        input=b"x" * 200_000,
        capture_output=True,
        check=True,
        timeout=20,
    ).stdout
    assert posted == b"x" * 200_000


def test_app_exception_before_start_is_500(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="tapster.error"):
        response = client.get("/error")
    assert response.status_code == 500
    assert response.headers["connection"] == "close"
    assert any("Exception in ASGI application" in r.getMessage() for r in caplog.records)
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


def test_app_exception_after_start_closes_connection(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /error-after-start HTTP/1.1\r\nHost: x\r\n\r\n")
        data = recv_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    # The chunked body is cut short: no terminating zero-length chunk, and no second response.
    assert body == b"7\r\npartial\r\n"
    assert data.count(b"HTTP/1.1") == 1


def test_app_without_response_is_500(client: httpx.Client) -> None:
    assert client.get("/no-response").status_code == 500


def test_response_splitting_header_is_rejected(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="tapster.error"):
        response = client.get("/bad-header")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert any("x-evil" in r.getMessage() for r in caplog.records)


def test_disconnect_is_delivered_to_waiting_app(server: RunningServer, recorder: Recorder) -> None:
    sock = server.connect()
    sock.sendall(b"GET /wait-disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
    assert recorder.started.wait(5)
    sock.close()
    assert recorder.disconnected.wait(5)


def test_streaming_app_learns_the_client_left(server: RunningServer, recorder: Recorder) -> None:
    sock = server.connect()
    sock.sendall(b"GET /stream-until-gone HTTP/1.1\r\nHost: x\r\n\r\n")
    assert recorder.started.wait(5)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
    sock.close()
    assert recorder.disconnected.wait(5), "send() never raised after the client left"


def test_half_closed_client_gets_its_response(server: RunningServer) -> None:
    # Like `nc -N`: send the request, shut down the sending side, read the answer (RFC 9112 §9.6).
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        sock.shutdown(socket.SHUT_WR)
        data = recv_all(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\nhello")


def test_absolute_form_target_sets_the_host(server: RunningServer) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"GET http://example.org:81/scope?q=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"
        )
        data = recv_all(sock)
    scope = json.loads(data.partition(b"\r\n\r\n")[2])
    assert scope["path"] == "/scope"
    assert scope["query_string"] == "q=1"
    assert ["host", "example.org:81"] in scope["headers"]
    assert ["host", "other"] not in scope["headers"]


def test_error_response_survives_a_client_still_sending(server: RunningServer) -> None:
    # The server rejects the head while megabytes of body are still on their way. It half-closes
    # and reads on (lingering close): the client reads the 400 and a clean EOF, and its sends are
    # not reset (RFC 9112 §9.6).
    errors: list[OSError] = []
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\nContent-Length: 8\r\n\r\n")

        def flood() -> None:
            try:
                for _ in range(64):
                    sock.sendall(b"x" * 65536)
            except OSError as exc:
                errors.append(exc)

        sender = threading.Thread(target=flood)
        sender.start()
        data = recv_all(sock)
        sender.join(10)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close" in data
    assert errors == []


def test_many_sequential_connections(server: RunningServer) -> None:
    for _ in range(30):
        with server.connect() as sock:
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert recv_all(sock).endswith(b"ok")


def test_json_scope_state_is_a_copy(client: httpx.Client) -> None:
    assert client.get("/scope").json()["state"] == ["greeting"]
    assert json.loads(client.get("/scope").content)["state"] == ["greeting"]
