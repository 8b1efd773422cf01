"""WebSocket frame-core cost: tapster's own codec against wsproto and the sans-I/O protocol of `websockets`.

    python bench/wsframes.py [--repeat N] [--min-time S]

What a server's frame layer does for one echoed message, in process, no sockets: take the bytes of
one masked client frame, give the message (a `str` for text: decoded and checked UTF-8), and build
the frame that sends it back. The figure is µs per message, the median of `--repeat` timeit repeats
(each long enough to last `--min-time` seconds). Inputs: 16-byte and 16 KiB text and binary messages,
and 1 KiB and 64 KiB JSON-like text with permessage-deflate negotiated (compressed by a wsproto
client once, outside the timing; each variant's own deflate inflates it and compresses the answer).

Variants (one pass = one message in, one frame out):
  tapster      `tapster.protocol.websocket.WebSocketConnection`: `receive_data`, `next_event`,
               `send_message` (masking in C by `websockets.speedups`, UTF-8 by `bytes.decode`)
  wsproto      `wsproto.Connection(SERVER)`: `receive_data`, `events()`, `send(TextMessage | BytesMessage)`
               (what tapster used before; pure-Python masking)
  websockets   `websockets.protocol.Protocol(SERVER)`: `receive_data`, `events_received()`,
               `send_text`/`send_binary`, `data_to_send()`, plus the UTF-8 decode its frames leave
               to the caller (the asyncio layer above it does that)

The compressed rows need a client compressor whose output every variant can read: a permessage-deflate
stream with context takeover is only readable in order, so each timed call feeds a frame compressed
without context takeover (a fresh compressor per message), and each server variant is set up to
expect exactly that (`client_no_context_takeover`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/wsframes.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zlib

from tapster.protocol import NEED_DATA
from tapster.protocol._wsdeflate import negotiate_deflate
from tapster.protocol.websocket import Message, WebSocketConnection

from bench._common import time_us

Echo = Callable[[bytes], Any]

OFFER = "permessage-deflate; client_no_context_takeover; client_max_window_bits"


def client_frame(payload: bytes, text: bool, compressed: bool = False) -> bytes:
    """One masked client frame carrying `payload` (compressed with a fresh deflater when asked)."""
    first = 0x81 if text else 0x82
    if compressed:
        deflater = zlib.compressobj(6, zlib.DEFLATED, -12, 8)
        payload = (deflater.compress(payload) + deflater.flush(zlib.Z_SYNC_FLUSH))[:-4]
        first |= 0x40
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 0x10000:
        head = bytes((first, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, 0x80 | 127)) + size.to_bytes(8, "big")
    masked = (
        int.from_bytes(payload, "big") ^ int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    ).to_bytes(size, "big")
    return head + mask + masked


def json_text(size: int) -> bytes:
    """Compressible JSON-like text of about `size` bytes."""
    items: list[str] = []
    i = 0
    while sum(len(item) for item in items) < size:
        items.append(f'{{"id": {i}, "user": "user{i % 37}", "text": "message number {i}", "ok": true}}')
        i += 1
    return ("[" + ", ".join(items) + "]").encode()[:size]


def tapster(compressed: bool) -> Echo:
    deflate = negotiate_deflate([OFFER], 12, 6)[0] if compressed else None  # type: ignore[index]
    conn = WebSocketConnection(1 << 24, deflate)

    def echo(frame: bytes) -> Any:
        conn.receive_data(frame)
        event = conn.next_event()
        assert isinstance(event, Message)
        out = conn.send_message(event.data)
        assert conn.next_event() is NEED_DATA
        return event.data, out

    return echo


def wsproto(compressed: bool) -> Echo:
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import BytesMessage, TextMessage
    from wsproto.extensions import Extension, PerMessageDeflate

    extensions: list[Extension] = []
    if compressed:
        extension = PerMessageDeflate()
        extension.accept(OFFER)
        extensions.append(extension)
    conn = Connection(ConnectionType.SERVER, extensions)

    def echo(frame: bytes) -> Any:
        conn.receive_data(frame)
        [event] = list(conn.events())
        if isinstance(event, TextMessage):
            return event.data, conn.send(TextMessage(data=event.data))
        assert isinstance(event, BytesMessage)
        return event.data, conn.send(BytesMessage(data=event.data))

    return echo


def websockets_protocol(compressed: bool) -> Echo:
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    from websockets.frames import Frame, Opcode
    from websockets.protocol import Protocol, Side

    proto = Protocol(Side.SERVER, max_size=1 << 24)
    if compressed:
        factory = ServerPerMessageDeflateFactory(client_max_window_bits=12, compress_settings={"memLevel": 5})
        params = [("client_no_context_takeover", None), ("client_max_window_bits", None)]
        _, extension = factory.process_request_params(params, [])
        proto.extensions = [extension]

    def echo(frame: bytes) -> Any:
        proto.receive_data(frame)
        [event] = proto.events_received()
        assert isinstance(event, Frame)
        if event.opcode is Opcode.TEXT:
            data: Any = bytes(event.data).decode()
            proto.send_text(event.data)
        else:
            data = event.data
            proto.send_binary(event.data)
        return data, proto.data_to_send()

    return echo


VARIANTS: dict[str, Callable[[bool], Echo]] = {
    "tapster": tapster,
    "wsproto": wsproto,
    "websockets": websockets_protocol,
}
REFERENCE = "tapster"

# label -> (payload, text, compressed)
INPUTS: dict[str, tuple[bytes, bool, bool]] = {
    "16 B text": (b"x" * 16, True, False),
    "16 B binary": (b"\x01" * 16, False, False),
    "16 KiB text": (b"y" * 16384, True, False),
    "16 KiB binary": (os.urandom(16384), False, False),
    "1 KiB json, deflate": (json_text(1024), True, True),
    "64 KiB json, deflate": (json_text(65536), True, True),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=7, help="timeit repeats; the median is reported")
    p.add_argument("--min-time", type=float, default=0.3, help="seconds per repeat")
    args = p.parse_args(argv)

    versions = ", ".join(
        f"{dist} {importlib.metadata.version(dist)}" for dist in ("tapster", "wsproto", "websockets")
    )
    print(f"Python {platform.python_version()} ({platform.machine()}); {versions}")
    print(
        f"median of {args.repeat} repeats of >= {args.min_time:g} s; µs per echoed message (lower: faster)\n"
    )

    results: dict[str, dict[str, float]] = {}
    for label, (payload, text, compressed) in INPUTS.items():
        frame = client_frame(payload, text, compressed)
        expected: Any = payload.decode() if text else payload
        results[label] = {}
        for name, make in VARIANTS.items():
            echo = make(compressed)
            for _ in range(3):  # the self-check, which also warms each variant up
                got, out = echo(frame)
                if got != expected or not out:
                    print(f"{name} did not echo the {label} message")
                    return 1
            results[label][name] = time_us(partial(echo, frame), args.repeat, args.min_time)

    print(f"{'message':<22}" + "".join(f"{name:>26}" for name in VARIANTS))
    for label in INPUTS:
        cells = ""
        for name in VARIANTS:
            us = results[label][name]
            cells += f"{us:>11.2f} µs ({us / results[label][REFERENCE]:5.2f}x)"
        print(f"{label:<22}{cells}")
    print("\n(ratio = time / tapster's time, so > 1 is slower than tapster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
