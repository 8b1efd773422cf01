"""HTTP/2 end to end: real sockets, real clients (curl, nghttp, httpx, a raw `h2` client), on every
backend, over h2c (prior knowledge) and TLS (ALPN)."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from pathlib import Path

import h2.events
import httpx
import pytest
import trustme
from tapster.asgi._types import Receive, Scope, Send
from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode

from conftest import RunningServer, ServeFactory, require_tool

from .apps import Recorder, read_body, respond
from .h2client import H2Client, Response


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


TLSFiles = tuple[trustme.CA, Path, Path]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.private_key_pem.write_to_path(keyfile)
    cert.cert_chain_pems[0].write_to_path(certfile)
    with open(certfile, "ab") as chain:
        for pem in cert.cert_chain_pems[1:]:
            chain.write(pem.bytes())
    return ca, certfile, keyfile


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def connect_h2(running: RunningServer, **kwargs: object) -> H2Client:
    return H2Client(running.host, running.port, **kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- clients


def test_curl_prior_knowledge(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    out = subprocess.run(
        [require_tool("curl", "curl"), "-sS", "--http2-prior-knowledge", f"{running.url}/scope"],
        capture_output=True,
        check=True,
        timeout=10,
    ).stdout
    scope = json.loads(out)
    assert scope["http_version"] == "2"
    assert scope["scheme"] == "http"
    assert ["host", f"127.0.0.1:{running.port}"] in scope["headers"]


def test_http11_still_served_on_the_same_port(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    with httpx.Client() as client:
        assert client.get(f"{running.url}/scope").json()["http_version"] == "1.1"


def test_httpx_prior_knowledge_get_and_upload(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    body = bytes(range(256)) * 1000  # 256 KB: more than the stream window, so windows must reopen
    with httpx.Client(http1=False, http2=True) as client:
        response = client.get(f"{running.url}/scope")
        assert response.http_version == "HTTP/2"
        assert response.json()["http_version"] == "2"
        echoed = client.post(f"{running.url}/echo", content=body)
        assert echoed.http_version == "HTTP/2"
        assert echoed.content == body


def test_tls_alpn_chooses_h2_and_http11(serve: ServeFactory, recorder: Recorder, tls_files: TLSFiles) -> None:
    ca, certfile, keyfile = tls_files
    running = serve(recorder, certfile=str(certfile), keyfile=str(keyfile))
    with httpx.Client(http2=True, verify=client_context(ca)) as client:
        response = client.get(f"{running.url}/scope")
        assert response.http_version == "HTTP/2"
        assert response.json()["scheme"] == "https"
        assert client.post(f"{running.url}/echo", content=b"y" * 70_000).content == b"y" * 70_000
    with httpx.Client(verify=client_context(ca)) as client:  # ALPN offers only http/1.1
        response = client.get(f"{running.url}/scope")
        assert response.http_version == "HTTP/1.1"


def test_tls_without_http2_offers_only_http11(
    serve: ServeFactory, recorder: Recorder, tls_files: TLSFiles
) -> None:
    ca, certfile, keyfile = tls_files
    running = serve(recorder, certfile=str(certfile), keyfile=str(keyfile), http2=False)
    with httpx.Client(http2=True, verify=client_context(ca)) as client:
        assert client.get(f"{running.url}/scope").http_version == "HTTP/1.1"


def test_nghttp(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    result = subprocess.run(
        [require_tool("nghttp", "nghttp2-client"), "-v", f"{running.url}/stream"],
        capture_output=True,
        check=True,
        timeout=10,
        text=True,
    )
    assert "chunk 4" in result.stdout
    assert ":status: 200" in result.stdout
    assert "END_STREAM" in result.stdout


# ----------------------------------------------------------------------------- streams


def test_many_streams_on_one_connection(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    client = connect_h2(running)
    sids = [client.request("/echo", "POST", body=b"%d" % i) for i in range(60)]
    for i, sid in enumerate(sids):
        response = client.wait(sid)
        assert response.status == 200
        assert bytes(response.body) == b"%d" % i
    client.close()


async def big(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    size = int(scope["query_string"] or b"1048576")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    chunk = b"z" * 65536
    sent = 0
    while sent < size:
        piece = chunk[: size - sent]
        sent += len(piece)
        await send({"type": "http.response.body", "body": piece, "more_body": sent < size})


def test_a_large_response_ends_its_stream(serve: ServeFactory) -> None:
    running = serve(big)
    client = connect_h2(running)
    response = client.get("/big")
    assert len(response.body) == 1 << 20
    assert response.ended  # END_STREAM on the last DATA frame (Hypercorn #226)
    client.close()


def test_a_stream_without_window_does_not_block_the_others(serve: ServeFactory) -> None:
    running = serve(big)
    client = connect_h2(running, window=0, auto_ack=False)  # no stream may receive a byte until we say
    client.read_some()
    stuck = client.request("/big?100000")
    small = client.request("/big?10")
    client.conn.increment_flow_control_window(10, small)
    client.flush()
    response = client.wait(small)
    assert bytes(response.body) == b"z" * 10
    assert not client.responses[stuck].body  # still held by its window
    client.conn.increment_flow_control_window(100_000, stuck)
    client.conn.increment_flow_control_window(100_000)
    client.flush()
    assert len(client.wait(stuck).body) == 100_000
    client.close()


def test_a_client_reset_disconnects_the_app(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    client = connect_h2(running)
    sid = client.request("/wait-disconnect", "POST", end=False)
    assert recorder.started.wait(5)
    client.reset(sid)
    assert recorder.disconnected.wait(5)
    assert client.get("/echo", method="POST", body=b"after").body == b"after"  # the connection lives on
    client.close()


def test_app_errors_are_confined_to_their_stream(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    client = connect_h2(running)
    failed = client.request("/error")
    cut = client.request("/error-after-start")
    fine = client.request("/echo", "POST", body=b"ok")
    assert client.wait(failed).status == 500
    assert client.wait(cut).reset == 2  # INTERNAL_ERROR: a cut response never looks complete
    assert bytes(client.wait(fine).body) == b"ok"
    client.close()


def test_a_malformed_request_is_a_stream_error(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    client = connect_h2(running, raw_headers=True)
    bad = [
        client.request("/echo", headers=[("Upper", "x")]),
        client.request("/echo", headers=[("connection", "close")]),
        client.request("/echo", headers=[("x-bad", "a\x01b")]),
        client.request("/echo", headers=[("te", "gzip")]),
    ]
    good = client.request("/echo", "POST", body=b"still here")
    for sid in bad:
        assert client.wait(sid).reset == 1  # PROTOCOL_ERROR, for this stream only (Hypercorn #348)
    assert bytes(client.wait(good).body) == b"still here"
    assert client.goaway is None
    client.close()


def test_content_length_mismatch_resets_the_stream(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    client = connect_h2(running, raw_headers=True)
    sid = client.request("/echo", "POST", body=b"12345", headers=[("content-length", "3")])
    assert client.wait(sid).reset == 1
    assert client.get("/scope").status == 200
    client.close()


def test_streams_past_the_limit_are_refused(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder, h2_max_concurrent_streams=2)
    client = connect_h2(running, ignore_stream_limit=True)
    client.read_some()
    assert client.remote_settings[3] == 2  # SETTINGS_MAX_CONCURRENT_STREAMS
    a = client.request("/wait-disconnect", "POST", end=False)
    b = client.request("/wait-disconnect", "POST", end=False)
    c = client.request("/scope")
    assert client.wait(c).reset == 7  # REFUSED_STREAM: a stream error, not the connection's end
    client.reset(a)
    client.reset(b)
    assert client.get("/scope").status == 200
    client.close()


def test_graceful_shutdown_sends_goaway_and_finishes_streams(serve: ServeFactory) -> None:
    release = threading.Event()
    started = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        started.set()
        while not release.is_set():
            from .apps import pause

            await pause()
        await respond(send, 200, b"finished")

    running = serve(app)
    client = connect_h2(running)
    sid = client.request("/slow")
    assert started.wait(5)
    stopper = threading.Thread(target=running.server.shutdown)
    stopper.start()
    while client.goaway is None:
        client.read_some()
    assert client.goaway.error_code == 0
    assert client.goaway.last_stream_id == sid
    release.set()
    response = client.wait(sid)
    assert bytes(response.body) == b"finished"
    client.close()
    stopper.join()
    running.thread.join(10)
    assert not running.thread.is_alive()


# ----------------------------------------------------------------------------- WebSockets over HTTP/2


async def ws_echo(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "subprotocol": "chat"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": f"{scope['http_version']}:{message['text']}"})


def test_websocket_over_extended_connect(serve: ServeFactory) -> None:
    running = serve(ws_echo)
    client = connect_h2(running)
    client.read_some()
    assert client.remote_settings[8] == 1  # SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3)
    sid = client.request(
        "/chat",
        "CONNECT",
        protocol="websocket",
        end=False,
        headers=[("sec-websocket-version", "13"), ("sec-websocket-protocol", "chat")],
    )
    response = client.responses[sid]
    while not response.headers:
        client.read_some()
    assert response.status == 200
    assert (b"sec-websocket-protocol", b"chat") in response.headers
    frames = FrameProtocol(client=True, extensions=[])
    client.send(sid, frames.send_data("hello", fin=True))
    while not response.body:
        client.read_some()
    frames.receive_bytes(bytes(response.body))
    frame = next(iter(frames.received_frames()))
    assert frame.opcode is Opcode.TEXT
    assert frame.payload == "2:hello"
    client.send(sid, frames.close(CloseReason.NORMAL_CLOSURE, ""), end=True)
    assert client.wait(sid).ended
    client.close()


def test_a_websocket_stream_that_ends_without_close_is_its_own_problem(serve: ServeFactory) -> None:
    running = serve(ws_echo)
    client = connect_h2(running)
    headers = [("sec-websocket-version", "13"), ("sec-websocket-protocol", "chat")]
    sid = client.request("/chat", "CONNECT", protocol="websocket", end=False, headers=headers)
    while not client.responses[sid].headers:
        client.read_some()
    assert client.responses[sid].status == 200
    client.send(sid, b"", end=True)  # END_STREAM, no close frame (Hypercorn #327)
    client.wait(sid)
    assert client.get("/anything", method="GET").status in (200, 404, 500)
    other = H2Client(running.host, running.port)
    assert other.get("/x").done
    other.close()
    client.close()


def test_connect_without_protocol_is_refused_cleanly(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    client = connect_h2(running, raw_headers=True)
    sid = client.conn.get_next_available_stream_id()
    client.conn.send_headers(sid, [(":method", "CONNECT"), (":authority", "example.com:443")])
    client.responses[sid] = Response(sid)
    client.flush()
    assert client.wait(sid).status == 501
    client.close()


# ----------------------------------------------------------------------------- h2c upgrade


def test_h2c_upgrade_with_curl(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    result = subprocess.run(
        [require_tool("curl", "curl"), "-sS", "-v", "--http2", f"{running.url}/scope"],
        capture_output=True,
        check=True,
        timeout=10,
        text=True,
    )
    assert "101 Switching Protocols" in result.stderr
    scope = json.loads(result.stdout)
    assert scope["http_version"] == "2"
    names = [name for name, _ in scope["headers"]]
    assert "http2-settings" not in names
    assert "upgrade" not in names


def test_h2c_upgrade_with_a_body_stays_on_http11(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    with running.connect() as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 3\r\n\r\nabc"
        )
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"abc")


def test_h2c_upgrade_with_bad_settings_is_a_400(serve: ServeFactory, recorder: Recorder) -> None:
    running = serve(recorder)
    with running.connect() as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAA\r\n\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 400 Bad Request\r\n")


# ----------------------------------------------------------------------------- ASGI extensions


async def extensions_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/extensions":
        await respond(send, 200, json.dumps(sorted(scope["extensions"])).encode())
    elif path == "/trailers":
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"data", "more_body": True})
        await send({"type": "http.response.body", "body": b"!"})
        await send(
            {"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")], "more_trailers": True}
        )
        await send({"type": "http.response.trailers", "headers": [(b"Server-Timing", b"db;dur=5")]})
    elif path == "/hints":
        await send({"type": "http.response.early_hint", "links": [b"</style.css>; rel=preload; as=style"]})
        await respond(send, 200, b"page")
    elif path == "/push":
        await send(
            {"type": "http.response.push", "path": "/pushed.css?v=1", "headers": [(b"accept", b"text/css")]}
        )
        await respond(send, 200, b"page")
    elif path == "/pushed.css":
        await respond(send, 200, b"css " + scope["query_string"] + b" " + scope["method"].encode())
    else:
        await respond(send, 404, b"")


def test_extensions_offered_over_http2(serve: ServeFactory) -> None:
    running = serve(extensions_app)
    client = connect_h2(running)
    plain = json.loads(client.get("/extensions").body)
    assert plain == ["http.response.early_hint", "http.response.push"]
    with_te = json.loads(client.get("/extensions", headers=[("te", "trailers")]).body)
    assert with_te == ["http.response.early_hint", "http.response.push", "http.response.trailers"]
    client.close()
    no_push = connect_h2(running, settings={2: 0})  # SETTINGS_ENABLE_PUSH = 0
    assert "http.response.push" not in json.loads(no_push.get("/extensions").body)
    no_push.close()


def test_trailers_end_the_stream(serve: ServeFactory) -> None:
    running = serve(extensions_app)
    client = connect_h2(running)
    response = client.get("/trailers", headers=[("te", "trailers")])
    assert bytes(response.body) == b"data!"
    assert response.trailers == [(b"x-checksum", b"abc"), (b"server-timing", b"db;dur=5")]
    assert response.ended
    client.close()


def test_trailers_without_te_are_refused_to_the_app(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    running = serve(extensions_app)
    client = connect_h2(running)
    assert client.get("/trailers").status == 500  # the app asked for what the request did not offer
    client.close()


def test_early_hints_over_http2_only(serve: ServeFactory) -> None:
    running = serve(extensions_app)
    client = connect_h2(running)
    response = client.get("/hints")
    assert response.informational == [
        [(b":status", b"103"), (b"link", b"</style.css>; rel=preload; as=style")]
    ]
    assert bytes(response.body) == b"page"
    client.close()
    with running.connect() as sock:  # HTTP/1.1: not offered, so the hint is dropped
        sock.sendall(b"GET /hints HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"page"):
            data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")


def test_server_push(serve: ServeFactory) -> None:
    running = serve(extensions_app)
    client = connect_h2(running)
    sid = client.request("/push")
    assert bytes(client.wait(sid).body) == b"page"
    pushed = [e for e in client.events if isinstance(e, h2.events.PushedStreamReceived)]
    assert len(pushed) == 1
    promised = pushed[0].pushed_stream_id
    assert promised is not None
    assert (b":path", b"/pushed.css?v=1") in (pushed[0].headers or [])
    assert bytes(client.wait(promised).body) == b"css v=1 GET"
    client.close()


def test_push_is_a_no_op_when_the_client_refuses_it(serve: ServeFactory) -> None:
    running = serve(extensions_app)
    client = connect_h2(running, settings={2: 0})
    assert bytes(client.get("/push").body) == b"page"
    assert not [e for e in client.events if isinstance(e, h2.events.PushedStreamReceived)]
    client.close()


def test_a_response_head_larger_than_a_frame_goes_out_in_continuation_frames(serve: ServeFactory) -> None:
    big = b"v" * 40_000  # more than two 16 KiB frames

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await respond(send, 200, b"ok", [(b"x-big", big), (b"x-after", b"1")])

    running = serve(app)
    client = connect_h2(running)
    response = client.get("/")
    assert (b"x-big", big) in response.headers
    assert (b"x-after", b"1") in response.headers
    assert bytes(response.body) == b"ok"
    assert client.get("/").status == 200  # HPACK state still in step on both sides
    client.close()


def test_without_http2_the_preface_is_a_505_and_upgrades_are_ignored(
    serve: ServeFactory, recorder: Recorder
) -> None:
    running = serve(recorder, http2=False)
    with running.connect() as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        assert sock.recv(65536).startswith(b"HTTP/1.1 505 ")
    with running.connect() as sock:
        sock.sendall(
            b"GET /scope HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
        )
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")  # served as HTTP/1.1, no 101
    assert b'"http_version": "1.1"' in data


def test_websocket_frames_sent_before_the_accept_are_kept(serve: ServeFactory) -> None:
    release = threading.Event()

    async def slow_accept(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        while not release.is_set():
            from .apps import pause

            await pause()
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": "got " + message["text"]})
        await receive()

    running = serve(slow_accept)
    client = connect_h2(running)
    sid = client.request(
        "/ws", "CONNECT", protocol="websocket", end=False, headers=[("sec-websocket-version", "13")]
    )
    frames = FrameProtocol(client=True, extensions=[])
    client.send(sid, frames.send_data("early", fin=True))  # before the 200: legal to send, not to lose
    release.set()
    response = client.responses[sid]
    while not response.body:
        client.read_some()
    assert response.status == 200
    frames.receive_bytes(bytes(response.body))
    assert next(iter(frames.received_frames())).payload == "got early"
    client.close()


def test_a_websocket_the_app_ends_gets_its_close_handshake(serve: ServeFactory) -> None:
    async def bye(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "bye"})
        # returns: the server closes with 1000 and waits for the client's answer

    running = serve(bye)
    client = connect_h2(running)
    sid = client.request(
        "/ws", "CONNECT", protocol="websocket", end=False, headers=[("sec-websocket-version", "13")]
    )
    frames = FrameProtocol(client=True, extensions=[])
    response = client.responses[sid]
    received: list[object] = []
    while len(received) < 2:
        assert client.read_some() or not client.closed
        assert response.reset is None, "the stream was reset instead of closed"
        frames.receive_bytes(bytes(response.body))
        response.body.clear()
        received += list(frames.received_frames())
    assert [f.opcode for f in received] == [Opcode.TEXT, Opcode.CLOSE]  # type: ignore[attr-defined]
    client.send(sid, frames.close(CloseReason.NORMAL_CLOSURE, ""), end=True)
    assert client.wait(sid).ended
    assert response.reset is None
    client.close()


def test_a_reset_read_with_a_window_update_does_not_break_the_connection(serve: ServeFactory) -> None:
    # h2 reads a whole batch of frames before tapster sees its events: a WINDOW_UPDATE followed,
    # in the same read, by the RST_STREAM of a stream whose data waits for window used to push that
    # data on the stream h2 had already closed: the connection failed, and on trio the whole server.
    running = serve(big)
    # A large stream window and no credit given back: the connection's 65535 bytes run out first.
    client = connect_h2(running, window=1 << 20, auto_ack=False)
    stuck = client.request("/big?200000")
    while len(client.responses[stuck].body) < 65535:
        client.read_some()
    client.conn.increment_flow_control_window(1 << 20, None)
    client.conn.reset_stream(stuck, 8)
    client.flush()  # WINDOW_UPDATE then RST_STREAM, in one write
    assert bytes(client.get("/big?10").body) == b"z" * 10
    client.close()
    running.stop()  # the server is still up, and stops cleanly
