"""Memory per idle keep-alive connection: RSS growth of a tapster process holding N idle connections.

    python bench/memory.py [--connections N] [--loop uvloop|asyncio|trio ...]
                           [--http2 | --websocket | --websocket-deflate]

Starts `tapster bench.apps:app` per loop, opens 50 warm-up connections, then N more; each connection
makes one request and then stays open and idle (keep-alive timeout raised to 120 s). Prints the
server's VmRSS growth divided by N. DESIGN.md §4 budget: <= 20 KiB per idle connection or websocket.
With ``--http2`` every connection speaks HTTP/2 (h2c by prior knowledge, one GET on stream 1, the
client side on the `h2` library): the cost of an idle HTTP/2 connection, its HPACK tables and settings.
With ``--websocket`` every connection is a websocket on ``/echo`` that sends one 512-byte text message,
reads its echo and then idles (the app's handler waits in ``receive()``); ``--websocket-deflate`` offers
permessage-deflate as browsers do (``permessage-deflate; client_max_window_bits``), requires it, and
sends the message compressed, so the server holds the compressor and decompressor of each connection.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/memory.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._wsclient import (
    DEFLATE_OFFER,
    TEXT,
    Reader,
    client_frame,
    compress,
    handshake_request,
    parse_handshake_response,
)
from bench.wsload import message

HOST = "127.0.0.1"
KINDS = {
    "http1": "keep-alive connection",
    "http2": "HTTP/2 connection",
    "websocket": "websocket",
    "websocket-deflate": "websocket with permessage-deflate",
}
WS_MESSAGE_SIZE = 512  # bytes of JSON-like text each websocket sends once


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS line")


def open_idle_h2(port: int, count: int, into: list[socket.socket]) -> None:
    import h2.config
    import h2.connection
    import h2.events

    for _ in range(count):
        sock = socket.create_connection((HOST, port), timeout=10)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.send_headers(
            1,
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "bench")],
            end_stream=True,
        )
        sock.sendall(conn.data_to_send())
        ended = False
        while not ended:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("server closed a connection during setup")
            events = conn.receive_data(chunk)
            ended = any(isinstance(e, h2.events.StreamEnded) for e in events)
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
        into.append(sock)


def open_idle_ws(port: int, count: int, into: list[socket.socket], deflate: bool) -> None:
    for n in range(count):
        sock = socket.create_connection((HOST, port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        sock.sendall(handshake_request(f"{HOST}:{port}", "/echo", key, DEFLATE_OFFER if deflate else None))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError("server closed a connection during the websocket handshake")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        negotiated, extensions = parse_handshake_response(head + b"\r\n\r\n", key)
        if deflate and negotiated is None:
            raise RuntimeError(
                f"permessage-deflate was not negotiated (Sec-WebSocket-Extensions: {extensions})"
            )
        text = message(WS_MESSAGE_SIZE, n)
        if negotiated is None:
            sock.sendall(client_frame(TEXT, text))
        else:
            sock.sendall(client_frame(TEXT, compress(text, negotiated), rsv1=True))
        reader = Reader(negotiated)
        events = reader.receive_data(rest)
        while not events:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("server closed a websocket before echoing its message")
            events = reader.receive_data(chunk)
        if events != [(TEXT, text)]:
            raise RuntimeError(f"the echo is not the message sent: {events!r:.200}")
        into.append(sock)


def open_idle(port: int, count: int, into: list[socket.socket], kind: str = "http1") -> None:
    if kind == "http2":
        open_idle_h2(port, count, into)
        return
    if kind.startswith("websocket"):
        open_idle_ws(port, count, into, deflate=kind == "websocket-deflate")
        return
    for _ in range(count):
        sock = socket.create_connection((HOST, port), timeout=10)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        data = b""
        while not data.endswith(b"Hello, world!"):
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError("server closed a connection during setup")
            data += chunk
        into.append(sock)


def measure(loop: str, connections: int, kind: str = "http1", settle: float = 0.5) -> float:
    port = free_port()
    cmd = [sys.executable, "-m", "tapster", "bench.apps:app", "--bind", f"{HOST}:{port}", "--loop", loop]
    cmd += ["--keep-alive-timeout", "120", "--log-level", "warning", "--backlog", "4096"]
    if kind == "websocket-deflate":
        # Idle is quiet for ws_deflate_idle_timeout (10 s by default; 1 s here, to keep the run short).
        cmd += ["--ws-deflate-idle-timeout", "1"]
    proc = subprocess.Popen(cmd)
    socks: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                open_idle(port, 50, socks, kind)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        time.sleep(0.5)
        before = rss_kib(proc.pid)
        open_idle(port, connections, socks, kind)
        time.sleep(settle)
        after = rss_kib(proc.pid)
        return (after - before) / connections
    finally:
        for sock in socks:
            sock.close()
        proc.terminate()
        proc.wait(10)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--loop", action="append", choices=("uvloop", "asyncio", "trio"))
    kinds = p.add_mutually_exclusive_group()
    kinds.set_defaults(kind="http1")
    for kind, help_text in (
        ("http2", "idle HTTP/2 (h2c) connections instead of HTTP/1.1"),
        ("websocket", "idle websockets (after one message each)"),
        ("websocket-deflate", "idle websockets with permessage-deflate negotiated"),
    ):
        kinds.add_argument(f"--{kind}", dest="kind", action="store_const", const=kind, help=help_text)
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.connections * 2 + 200))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    for loop in args.loop or ["uvloop", "asyncio", "trio"]:
        if args.kind == "websocket-deflate":
            busy = measure(loop, args.connections, args.kind)
            idle = measure(loop, args.connections, args.kind, settle=3.0)
            print(
                f"{loop:<8} {idle:6.1f} KiB per idle {KINDS[args.kind]}"
                f" ({busy:.1f} KiB right after its message, before ws_deflate_idle_timeout)"
            )
            continue
        print(f"{loop:<8} {measure(loop, args.connections, args.kind):6.1f} KiB per idle {KINDS[args.kind]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
