"""Behind a proxy, end to end on every backend: PROXY protocol headers written by a raw client before
HTTP or TLS, proxy headers sent with httpx, websockets and h2 through trusted and untrusted peers, and
the access log showing the real client."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import struct
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from tapster.asgi._types import Receive, Scope, Send
from tapster.protocol.proxy import V2_SIGNATURE
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import ServeFactory

from .apps import Recorder
from .h2client import H2Client
from .test_http11 import recv_all

REQUEST = b"GET /scope HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n"


def v1(src: str, sport: int, dst: str = "10.0.0.1", dport: int = 8000) -> bytes:
    family = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {family} {src} {dst} {sport} {dport}\r\n".encode()


def v2(command: int, family: int, body: bytes) -> bytes:
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def inet(src: str, dst: str, sport: int, dport: int) -> bytes:
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def exchange(port: int, data: bytes, *, nodelay_split: int | None = None) -> bytes:
    """Write `data` (in two segments split at `nodelay_split`) and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if nodelay_split is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(data[:nodelay_split])
            sock.sendall(data[nodelay_split:])
        else:
            sock.sendall(data)
        return recv_all(sock)


def refused(port: int, data: bytes) -> bool:
    """The server closed the connection (EOF or reset: it had unread input) without answering."""
    try:
        return exchange(port, data) == b""
    except ConnectionResetError:
        return True


def scope_of(response: bytes) -> dict[str, Any]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), response[:200]
    return dict(json.loads(body))


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tapster.access"]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.private_key_pem.write_to_path(keyfile)
    cert.cert_chain_pems[0].write_to_path(certfile)
    return ca, str(certfile), str(keyfile)


# ----------------------------------------------------------------------------- PROXY protocol


def test_proxy_v1_then_http_sets_client_server_and_access_log(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    running = serve(Recorder(), proxy_protocol=True, access_log=True)
    with caplog.at_level(logging.INFO, logger="tapster.access"):
        scope = scope_of(exchange(running.port, v1("203.0.113.7", 4711) + REQUEST))
        running.stop()
    assert scope["client"] == ["203.0.113.7", 4711]
    assert scope["server"] == ["10.0.0.1", 8000]
    assert access_lines(caplog) == [f'203.0.113.7:4711 - "GET /scope HTTP/1.1" 200 {len(json.dumps(scope))}']


def test_proxy_v2_with_tlvs_split_across_segments(serve: ServeFactory) -> None:
    running = serve(Recorder(), proxy_protocol=True)
    header = v2(
        1, 0x11, inet("198.51.100.9", "10.0.0.2", 40000, 443) + tlv(0x01, b"h2") + tlv(0xEA, b"v" * 200)
    )
    # The header arrives in two segments, the second carrying the request too.
    scope = scope_of(exchange(running.port, header + REQUEST, nodelay_split=20))
    assert scope["client"] == ["198.51.100.9", 40000]
    assert scope["server"] == ["10.0.0.2", 443]
    # IPv6 in v1, and LOCAL (the proxy's own health check): the connection's own addresses stand.
    scope = scope_of(exchange(running.port, v1("2001:db8::7", 1, "2001:db8::1", 2) + REQUEST))
    assert scope["client"] == ["2001:db8::7", 1]
    scope = scope_of(exchange(running.port, v2(0, 0x00, b"") + REQUEST))
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ["127.0.0.1", running.port]


def test_proxy_header_before_tls(serve: ServeFactory, tls_files: tuple[trustme.CA, str, str]) -> None:
    ca, certfile, keyfile = tls_files
    running = serve(Recorder(), binds=("127.0.0.1:0?proxy_protocol=1",), certfile=certfile, keyfile=keyfile)
    assert running.url.startswith("https://")
    context = ssl.create_default_context()
    ca.configure_trust(context)
    for alpn in ("http/1.1", "h2"):
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as raw:
            # The header goes out before the ClientHello, in its own segment or with it.
            raw.sendall(v1("203.0.113.7", 4711))
            context.set_alpn_protocols([alpn])
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.selected_alpn_protocol() == alpn
                if alpn == "h2":
                    continue
                tls.sendall(REQUEST)
                scope = scope_of(recv_all(tls))
        assert scope["client"] == ["203.0.113.7", 4711]
        assert scope["scheme"] == "https"


def test_proxy_header_before_tls_then_h2(serve: ServeFactory, tls_files: tuple[trustme.CA, str, str]) -> None:
    ca, certfile, keyfile = tls_files
    running = serve(Recorder(), binds=("127.0.0.1:0?proxy_protocol=1",), certfile=certfile, keyfile=keyfile)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    header = v2(1, 0x21, bytes(15) + b"\x07" + bytes(15) + b"\x01" + b"\x12\x67\x01\xbb")
    client = H2Client("127.0.0.1", running.port, tls=context, before=header)
    try:
        assert client.alpn == "h2"
        scope = json.loads(client.get("/scope").body)
    finally:
        client.close()
    assert scope["client"] == ["::7", 4711]
    assert scope["server"] == ["::1", 443]
    assert scope["http_version"] == "2"


@pytest.mark.parametrize(
    "data",
    [
        REQUEST,  # no header at all
        b"PROXY TCP4 203.0.113.7 10.0.0.1 99999 80\r\n" + REQUEST,
        b"PROXY UNKNOWN " + b"x" * 200,  # no CRLF within 107 bytes
        v2(1, 0x11, inet("10.1.2.3", "10.0.0.1", 1, 2) + b"\x01\x00\x09ab") + REQUEST,  # TLV past the end
    ],
)
def test_malformed_proxy_header_closes_the_connection(serve: ServeFactory, data: bytes) -> None:
    recorder = Recorder()
    running = serve(recorder, proxy_protocol=True)
    assert refused(running.port, data)  # closed, nothing answered: the app never ran
    # The listener goes on serving well-formed connections.
    assert scope_of(exchange(running.port, v1("203.0.113.7", 1) + REQUEST))["client"] == ["203.0.113.7", 1]


def test_proxy_v2_over_max_size_closes_the_connection(serve: ServeFactory) -> None:
    running = serve(Recorder(), proxy_protocol=True, max_proxy_header_size=64)
    small = v2(1, 0x11, inet("10.1.2.3", "10.0.0.1", 1, 2) + tlv(0xEA, b"x" * 33))  # 64 bytes: taken
    assert scope_of(exchange(running.port, small + REQUEST))["client"] == ["10.1.2.3", 1]
    big = v2(1, 0x11, inet("10.1.2.3", "10.0.0.1", 1, 2) + tlv(0xEA, b"x" * 34))  # 65 bytes
    assert refused(running.port, big + REQUEST)


def test_proxy_header_deadline(serve: ServeFactory) -> None:
    running = serve(Recorder(), proxy_protocol=True, proxy_protocol_timeout=0.3)
    for partial in (b"", b"PROXY TCP4 203.0.113.7"):
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
            sock.sendall(partial)
            started = time.monotonic()
            assert recv_all(sock) == b""  # closed by the server at its deadline
            assert time.monotonic() - started < 3


def test_untrusted_proxy_header_is_read_and_ignored(serve: ServeFactory) -> None:
    running = serve(Recorder(), proxy_protocol=True, forwarded_allow_ips="192.0.2.1")
    scope = scope_of(exchange(running.port, v1("203.0.113.7", 4711) + REQUEST))
    assert scope["client"][0] == "127.0.0.1", "loopback is not trusted here: its header is ignored"


def test_proxy_protocol_on_one_bind_only(serve: ServeFactory) -> None:
    running = serve(Recorder(), binds=("127.0.0.1:0", "127.0.0.1:0?proxy_protocol=1"))
    plain, proxied = (port_of(url) for url in running.server.addresses)
    assert httpx.get(f"http://127.0.0.1:{plain}/status").text == "ok"
    assert scope_of(exchange(proxied, v1("203.0.113.7", 1) + REQUEST))["client"] == ["203.0.113.7", 1]
    assert refused(proxied, REQUEST)
    # And the other way round: --proxy-protocol for every bind but one.
    running = serve(Recorder(), proxy_protocol=True, binds=("127.0.0.1:0?proxy_protocol=0",))
    assert httpx.get(f"{running.url}/status").text == "ok"


def test_proxy_protocol_on_a_unix_socket(serve: ServeFactory, tmp_path: Path) -> None:
    path = tmp_path / "lb.sock"
    running = serve(Recorder(), binds=(f"unix:{path}?proxy_protocol=1",))
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(v1("203.0.113.7", 4711) + REQUEST)
        scope = scope_of(recv_all(sock))
    assert scope["client"] == ["203.0.113.7", 4711], "unix peers are trusted by default"
    assert running.server.addresses == [f"unix:{path}"]


# ----------------------------------------------------------------------------- proxy headers


def test_x_forwarded_for_from_a_trusted_and_an_untrusted_peer(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7", "X-Forwarded-Proto": "https"}
    trusted = serve(Recorder(), proxy_headers=True, access_log=True)
    untrusted = serve(Recorder(), proxy_headers=True, access_log=True, forwarded_allow_ips="192.0.2.0/24")
    with caplog.at_level(logging.INFO, logger="tapster.access"):
        seen = httpx.get(f"{trusted.url}/scope", headers=headers).json()
        ignored = httpx.get(f"{untrusted.url}/scope", headers=headers).json()
        trusted.stop()
        untrusted.stop()
    assert seen["client"] == ["203.0.113.7", 0]
    assert seen["scheme"] == "https"
    assert ignored["client"][0] == "127.0.0.1"
    assert ignored["scheme"] == "http"
    lines = access_lines(caplog)
    assert any(line.startswith('203.0.113.7:0 - "GET /scope HTTP/1.1" 200') for line in lines), lines
    assert any(line.startswith("127.0.0.1:") for line in lines), lines


def test_proxy_headers_off_by_default(serve: ServeFactory) -> None:
    running = serve(Recorder())
    scope = httpx.get(f"{running.url}/scope", headers={"X-Forwarded-For": "203.0.113.7"}).json()
    assert scope["client"][0] == "127.0.0.1"


def test_malformed_proxy_header_is_a_400(serve: ServeFactory, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    running = serve(recorder, proxy_headers=True, access_log=True)
    with caplog.at_level(logging.INFO, logger="tapster.access"):
        response = httpx.get(f"{running.url}/scope", headers={"X-Forwarded-For": "203.0.113.7:http"})
        running.stop()
    assert response.status_code == 400
    assert response.text.startswith("malformed proxy header")
    assert access_lines(caplog)[0].startswith("127.0.0.1:")
    assert access_lines(caplog)[0].endswith(f" 400 {len(response.content)}")


def test_forwarded_header_and_x_forwarded_host(serve: ServeFactory) -> None:
    running = serve(Recorder(), proxy_headers=True, forwarded_header="forwarded")
    value = 'for="[2001:db8::7]:4711";proto=https;host=shop.example'
    scope = httpx.get(f"{running.url}/scope", headers={"Forwarded": value}).json()
    assert scope["client"] == ["2001:db8::7", 4711]
    assert scope["scheme"] == "https"
    assert ["host", "shop.example"] in scope["headers"]
    running = serve(Recorder(), proxy_headers=True)
    scope = httpx.get(f"{running.url}/scope", headers={"X-Forwarded-Host": "shop.example:8443"}).json()
    assert [v for k, v in scope["headers"] if k == "host"] == ["shop.example:8443"]


def test_proxy_headers_from_a_unix_socket_peer(serve: ServeFactory, tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    running = serve(Recorder(), binds=(f"unix:{path}",), proxy_headers=True)
    transport = httpx.HTTPTransport(uds=str(path))
    with httpx.Client(transport=transport) as client:
        scope = client.get("http://localhost/scope", headers={"X-Forwarded-For": "203.0.113.7"}).json()
    assert scope["client"] == ["203.0.113.7", 0]
    running.stop()
    running = serve(Recorder(), binds=(f"unix:{path}",), proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path))) as client:
        scope = client.get("http://localhost/scope", headers={"X-Forwarded-For": "203.0.113.7"}).json()
    assert scope["client"] is None, "unix peers are trusted only when the list says 'unix'"


async def websocket_scope_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps([scope["client"], scope["scheme"]])})
    await send({"type": "websocket.close"})


def test_proxy_headers_on_a_websocket(serve: ServeFactory, caplog: pytest.LogCaptureFixture) -> None:
    running = serve(websocket_scope_app, proxy_headers=True, access_log=True)
    url = running.url.replace("http://", "ws://")
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    with caplog.at_level(logging.INFO, logger="tapster.access"):
        with connect(url + "/", additional_headers=headers) as ws:
            assert json.loads(ws.recv()) == [["203.0.113.7", 0], "wss"]
        with pytest.raises(InvalidStatus, match="400"):
            connect(url + "/", additional_headers={"X-Forwarded-For": "nonsense"}).close()
        running.stop()
    lines = access_lines(caplog)
    assert lines[0] == '203.0.113.7:0 - "GET / HTTP/1.1" 101 0'
    assert lines[1].startswith("127.0.0.1:")
    assert ' - "GET / HTTP/1.1" 400 ' in lines[1]


def test_proxy_headers_on_http2_streams(serve: ServeFactory) -> None:
    running = serve(Recorder(), proxy_headers=True)
    client = H2Client("127.0.0.1", running.port)
    try:
        sid = client.request(
            "/scope", headers=[("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https")]
        )
        scope = json.loads(client.wait(sid).body)
        bad = client.request("/scope", headers=[("x-forwarded-for", "bad")])
        assert client.wait(bad).status == 400
    finally:
        client.close()
    assert scope["client"] == ["203.0.113.7", 0]
    assert scope["scheme"] == "https"
    assert scope["http_version"] == "2"


def test_proxy_protocol_and_proxy_headers_together(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # The PROXY header names the load balancer's client (a trusted proxy, 10.0.0.5), whose
    # X-Forwarded-For names the real one.
    running = serve(
        Recorder(),
        proxy_protocol=True,
        proxy_headers=True,
        access_log=True,
        forwarded_allow_ips="127.0.0.1,10.0.0.0/8",
    )
    request = REQUEST.replace(b"\r\n\r\n", b"\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n")
    with caplog.at_level(logging.INFO, logger="tapster.access"):
        scope = scope_of(exchange(running.port, v1("10.0.0.5", 3000) + request))
        running.stop()
    assert scope["client"] == ["203.0.113.7", 0]
    assert access_lines(caplog)[0].startswith('203.0.113.7:0 - "GET /scope')
