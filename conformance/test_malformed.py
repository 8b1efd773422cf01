"""Every malformed request in `malformed.CASES`: rejected by the sans-I/O core with the expected status
(fed whole and byte by byte), and answered with that status and a closed connection by a real server
on every backend."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from tapster.errors import RemoteProtocolError
from tapster.protocol import NEED_DATA, PAUSED, Data, EndOfMessage, H11Connection, Request, State

from conftest import ServeFactory

from .malformed import CASES, MalformedCase

_IDS = [case.id for case in CASES]


def test_table_is_well_formed() -> None:
    assert len(CASES) >= 50
    assert len(set(_IDS)) == len(_IDS), "case ids must be unique"
    for case in CASES:
        assert case.status in (400, 414, 417, 431, 501, 505), case.id
        assert case.reason, case.id


def _drive(conn: H11Connection) -> None:
    """Pull events until the connection wants more input; a request may start, never finish."""
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return
        assert event is not PAUSED, "malformed request accepted"
        assert not isinstance(event, EndOfMessage), "malformed request accepted"
        assert isinstance(event, Request | Data), event


def _feed(conn: H11Connection, pieces: list[bytes]) -> None:
    for piece in pieces:
        conn.receive_data(piece)
        _drive(conn)
    pytest.fail("every byte was read without an error: the connection waits for more data")


def _reject_whole(raw: bytes) -> RemoteProtocolError:
    conn = H11Connection()
    with pytest.raises(RemoteProtocolError) as info:
        _feed(conn, [raw])
    assert conn.client_state is State.ERROR
    return info.value


def _reject_bytewise(raw: bytes) -> RemoteProtocolError:
    conn = H11Connection()
    with pytest.raises(RemoteProtocolError) as info:
        _feed(conn, [raw[i : i + 1] for i in range(len(raw))])
    assert conn.client_state is State.ERROR
    with pytest.raises(RemoteProtocolError):
        conn.next_event()  # an errored connection stays errored
    return info.value


@pytest.mark.parametrize("case", CASES, ids=_IDS)
def test_protocol_rejects(case: MalformedCase) -> None:
    whole = _reject_whole(case.raw)
    assert whole.status_hint == case.status, f"{case.reason}: {whole}"
    # Byte-by-byte the error may be found earlier, never with a different answer.
    bytewise = _reject_bytewise(case.raw)
    assert bytewise.status_hint == case.status, f"{case.reason}: {bytewise}"


async def _ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, then answers 200: a malformed request that gets through shows as 200."""
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _exchange(sock: socket.socket, raw: bytes, deadline: float) -> tuple[bytes, bool]:
    """Send `raw`, read until the server closes. Returns what was read and whether it closed."""
    try:
        sock.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may reject and close before reading everything; its answer is still there
    received = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return received, False
        except ConnectionResetError:
            # The server closed with our unread bytes in its buffer, so its kernel sent RST
            # (RFC 9112 §9.6 explains the race). The connection is closed all the same.
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False


@pytest.mark.parametrize("case", CASES, ids=_IDS)
def test_server_rejects(serve: ServeFactory, case: MalformedCase) -> None:
    server = serve(_ok_app, lifespan="off")
    with server.connect(timeout=5.0) as sock:
        received, closed = _exchange(sock, case.raw, time.monotonic() + 10.0)
    status_line = received.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 %d " % case.status), f"{case.reason}: got {received[:200]!r}"
    assert b"\r\n\r\n" in received, f"incomplete response: {received!r}"
    assert b"\r\nconnection: close\r\n" in received.lower()
    assert closed, f"server did not close the connection after {status_line!r}"
    assert not server.errors
