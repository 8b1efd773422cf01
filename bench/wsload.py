"""The load generator of bench/websocket.py: many WebSocket connections in one uvloop process.

    python -m bench.wsload --port P [--path /echo] [--connections 64] [--window 1] [--size 16]
                           [--deflate] [--broadcast] [--warmup 1] [--duration 5] [--server-pids 12,13]

Prints one JSON object (`Result`): the messages validated in the measured window, its length, the
CPU seconds this process and the server's processes (``--server-pids``, read from /proc) spent in it,
and a status: "ok", "failed" (with the reason: the run stops at the first wrong byte) or "n/a" (the
server did not negotiate permessage-deflate when ``--deflate`` asked for it). Exit status 1 when
failed.

Why not the `websockets` client: it spends more CPU per message than some of the servers measured.
This one speaks the protocol through bench/_wsclient.py: frames are built (masked, compressed) once
before the load and written as they are; a server's frames are parsed with a few byte reads.

Echo (``--path /echo``): every connection sends text messages of ``--size`` bytes from a pool of 16
distinct ones (JSON-like text, each connection starting at its own place in the pool) and keeps
``--window`` of them in flight: 1 is ping-pong, each connection waits for the echo before sending
again. Every echo must equal, byte for byte and in order, the message it answers.

Broadcast (``--broadcast``, ``--path /broadcast``): every connection subscribes; the first one also
publishes, keeping ``--window`` messages in flight; each carries a sequence number, every connection
must receive every message in order, and a message is done when all connections have it. A message
counted is one delivered to one connection.

A run: connect everything and check the handshakes; ``--warmup`` seconds of unmeasured load; the
measured ``--duration``; then stop sending, wait until every message sent has been answered (none
lost), and close every connection with a close frame.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import base64
import dataclasses
import gc
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

if __package__ in (None, ""):  # run as a script: python bench/wsload.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import cpu_seconds
from bench._wsclient import (
    CLOSE,
    DEFLATE_OFFER,
    PING,
    PONG,
    TEXT,
    Deflate,
    HandshakeFailed,
    Reader,
    WebSocketError,
    client_frame,
    close_frame,
    compress,
    handshake_request,
    parse_handshake_response,
)

__all__ = ["Load", "Result", "main", "messages", "run_load"]

POOL = 16  # distinct messages per echo run
CONNECT_TIMEOUT = 30.0  # seconds for all connections and handshakes
DRAIN_TIMEOUT = 30.0  # seconds for the answers to what was in flight when sending stopped
CLOSE_TIMEOUT = 5.0  # seconds for the servers' close frames
_SEQ_DIGITS = 16  # a broadcast message starts with its sequence number, zero-padded

# fmt: off
_WORDS = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
    "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform",
    "victor", "whiskey", "xray", "yankee", "zulu", "order", "invoice", "customer", "status", "shipped",
    "pending", "amount", "currency", "region", "latency", "request", "session", "token", "refresh",
)
# fmt: on


@dataclass(frozen=True)
class Load:
    port: int
    host: str = "127.0.0.1"
    path: str = "/echo"
    broadcast: bool = False
    connections: int = 64
    window: int = 1  # messages in flight per connection (broadcast: published, not yet delivered)
    size: int = 16  # bytes of a message
    deflate: bool = False  # offer permessage-deflate and require it
    warmup: float = 1.0  # seconds
    duration: float = 5.0  # seconds
    server_pids: tuple[int, ...] = ()


@dataclass
class Result:
    status: str  # "ok", "failed" or "n/a"
    reason: str = ""
    messages: int = 0  # validated in the measured window (broadcast: deliveries)
    elapsed_s: float = 0.0  # the measured window
    client_cpu_s: float = 0.0  # this process, in the measured window
    server_cpu_s: float = 0.0  # the --server-pids, in the measured window
    total_messages: int = 0  # validated over the whole run, warm-up and drain included
    extensions: str | None = None  # Sec-WebSocket-Extensions of the first connection's 101


# ---------------------------------------------------------------------------------------------- messages


def _record(rng: random.Random, seed: int, n: int) -> dict[str, object]:
    return {
        "id": seed * 1000 + n,
        "user": f"user{rng.randrange(10_000)}",
        "email": f"{rng.choice(_WORDS)}.{rng.choice(_WORDS)}@example.com",
        "score": round(rng.random() * 100, 2),
        "active": rng.random() < 0.5,
        "tags": rng.sample(_WORDS, 3),
        "text": " ".join(rng.choices(_WORDS, k=8)),
    }


def message(size: int, seed: int) -> bytes:
    """`size` bytes of ASCII text, different for each seed: below 64 bytes, the seed zero-padded and
    filler; from 64 bytes, a JSON document of records like an API's (compressible as such text is)."""
    if size < 64:
        return (b"%016d" % seed + b"-" * size)[:size] if size >= 16 else (b"%d" % seed * size)[:size]
    rng = random.Random(seed)
    head, tail = f'{{"seq":{seed},"items":[', '],"pad":""}'
    items: list[str] = []
    length = len(head) + len(tail) - 1  # the comma before the first item is not there
    while True:
        item = json.dumps(_record(rng, seed, len(items)), separators=(",", ":"))
        if length + 1 + len(item) > size:
            break
        items.append(item)
        length += 1 + len(item)
    doc = head + ",".join(items) + '],"pad":"'
    room = size - len(doc) - 2
    pad = " ".join(rng.choices(_WORDS, k=room // 3 + 1))[:room]
    text = f'{doc}{pad}"}}'
    assert len(text) == size
    return text.encode("ascii")


def messages(size: int, count: int = POOL) -> list[bytes]:
    return [message(size, seed) for seed in range(count)]


# ---------------------------------------------------------------------------------------------- connections


class Run:
    """What all connections of a run share: the counters, the state, the first failure."""

    def __init__(self, load: Load, loop: asyncio.AbstractEventLoop) -> None:
        self.load = load
        self.sending = False
        self.stopping = False  # the close handshake has started: a close frame is expected
        self.received = 0  # validated messages (broadcast: deliveries), what is measured
        self.in_flight = 0  # messages sent and not yet answered (broadcast: not yet delivered to all)
        self.error: str | None = None
        self.failed: asyncio.Future[None] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()

    def fail(self, reason: str) -> None:
        if self.error is None:
            self.error = reason
            self.sending = False
            self.failed.set_result(None)

    def check_drained(self) -> None:
        if not self.sending and self.in_flight == 0 and not self.drained.done():
            self.drained.set_result(None)


class Client(asyncio.Protocol, abc.ABC):
    """One connection: the handshake, then frames through a `Reader` into `on_messages()`."""

    def __init__(self, run: Run, index: int, loop: asyncio.AbstractEventLoop) -> None:
        self.run = run
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.key = base64.b64encode(os.urandom(16)).decode("ascii")
        self.head = b""  # the handshake response so far
        self.reader: Reader | None = None
        self.deflate: Deflate | None = None
        self.extensions: str | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.closing = False  # we sent a close frame (or gave up on the connection)

    # ----------------------------------------------------------------- asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports implement asyncio.Transport without subclassing it)
        self.transport = transport = cast(asyncio.Transport, transport)
        load = self.run.load
        offer = DEFLATE_OFFER if load.deflate else None
        transport.write(handshake_request(f"{load.host}:{load.port}", load.path, self.key, offer))

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        if reader is None:
            self._handshake(data)
            return
        try:
            events = reader.receive_data(data)
        except WebSocketError as exc:
            self.run.fail(f"connection {self.index}: {exc}")
            return
        if events:
            self.on_messages(events)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake ({exc})"))
        if not self.closing:
            self.run.fail(f"connection {self.index}: the server closed the connection ({exc or 'EOF'})")
        if not self.closed.done():
            self.closed.set_result(None)

    # ----------------------------------------------------------------- protocol

    def _handshake(self, data: bytes) -> None:
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > 65536:
                self.opened.set_exception(HandshakeFailed("no end to the response head in 64 KiB"))
            return
        head, rest = self.head[: end + 4], self.head[end + 4 :]
        self.head = b""
        try:
            self.deflate, self.extensions = parse_handshake_response(head, self.key)
        except WebSocketError as exc:
            self.opened.set_exception(exc)
            return
        if self.deflate is not None and not self.run.load.deflate:
            self.opened.set_exception(HandshakeFailed(f"permessage-deflate not offered: {self.extensions}"))
            return
        self.reader = Reader(self.deflate)
        self.opened.set_result(None)
        if rest:
            self.data_received(rest)

    def control(self, opcode: int, payload: bytes) -> None:
        """A frame other than the text message expected: pings are answered, pongs ignored, a close
        ends the connection (a failure unless we were closing), binary messages are a failure."""
        assert self.transport is not None
        if opcode == PING:
            self.transport.write(client_frame(PONG, payload))
        elif opcode == CLOSE:
            if self.closing:
                self.transport.close()
                return
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            reason = payload[2:].decode(errors="replace")
            self.run.fail(f"connection {self.index}: the server sent close {code} {reason!r}")
        elif opcode != PONG:
            self.run.fail(f"connection {self.index}: a message of opcode {opcode}, not text")

    def close(self) -> None:
        """Start the closing handshake (RFC 6455 §7.1.2); the server's close frame ends it."""
        if self.transport is not None and not self.closing:
            self.closing = True
            self.transport.write(close_frame(1000))

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    # ----------------------------------------------------------------- the load

    @abc.abstractmethod
    def start(self) -> None:
        """Put the first messages in flight."""

    @abc.abstractmethod
    def on_messages(self, events: list[tuple[int, bytes]]) -> None:
        """Check what arrived (control frames go to `control()`) and send what is due."""


class EchoClient(Client):
    """Sends from `frames` and checks every echo against `expected` (same index), `window` in flight."""

    frames: Sequence[bytes] = ()
    expected: Sequence[bytes] = ()
    offset = 0  # where in the pool this connection starts
    sent = 0
    got = 0

    def start(self) -> None:
        assert self.transport is not None
        run, frames, n = self.run, self.frames, len(self.frames)
        window = run.load.window
        self.transport.write(b"".join(frames[(self.offset + k) % n] for k in range(window)))
        self.sent = window
        run.in_flight += window

    def on_messages(self, events: list[tuple[int, bytes]]) -> None:
        run = self.run
        expected, frames = self.expected, self.frames
        n, offset = len(expected), self.offset
        got, sent = self.got, self.sent
        out: list[bytes] = []
        for opcode, payload in events:
            if opcode != TEXT:
                self.control(opcode, payload)
                continue
            if got >= sent:
                run.fail(f"connection {self.index}: an answer to no message (after {got} echoes)")
                return
            want = expected[(offset + got) % n]
            if payload != want:
                run.fail(
                    f"connection {self.index}: echo {got} is not the message sent: got {len(payload)} bytes"
                    f" {payload[:40]!r}..., want {len(want)} bytes {want[:40]!r}..."
                )
                return
            got += 1
            if run.sending:
                out.append(frames[(offset + sent) % n])
                sent += 1
        run.received += got - self.got
        run.in_flight += (sent - self.sent) - (got - self.got)
        self.got, self.sent = got, sent
        if out:
            assert self.transport is not None
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        elif not run.sending:
            run.check_drained()


class Broadcast:
    """The publisher's side of a broadcast run: what is in flight and how many deliveries each lacks."""

    def __init__(self, run: Run, publisher: Client, subscribers: int, size: int) -> None:
        self.run = run
        self.publisher = publisher
        self.subscribers = subscribers
        self.filler = b"." * max(0, size - _SEQ_DIGITS)
        self.next_seq = 0
        self.payloads: dict[int, bytes] = {}  # seq -> payload, while in flight
        self.missing: dict[int, int] = {}  # seq -> deliveries still to come

    def publish(self, count: int) -> None:
        frames = []
        for _ in range(count):
            seq = self.next_seq
            self.next_seq += 1
            payload = b"%016d" % seq + self.filler
            self.payloads[seq] = payload
            self.missing[seq] = self.subscribers
            frames.append(client_frame(TEXT, payload))
        self.run.in_flight += count
        assert self.publisher.transport is not None
        self.publisher.transport.write(b"".join(frames))

    def delivered(self, seq: int) -> None:
        """One more subscriber has message `seq`; when all have it, the next one goes out."""
        left = self.missing[seq] - 1
        if left:
            self.missing[seq] = left
            return
        del self.missing[seq], self.payloads[seq]
        run = self.run
        run.in_flight -= 1
        if run.sending:
            self.publish(1)
        else:
            run.check_drained()


class BroadcastClient(Client):
    """A subscriber: every published message must arrive, in order."""

    hub: Broadcast | None = None
    next_seq = 0

    def start(self) -> None:
        if self.index == 0:
            assert self.hub is not None
            self.hub.publish(self.run.load.window)

    def on_messages(self, events: list[tuple[int, bytes]]) -> None:
        hub = self.hub
        assert hub is not None
        run = self.run
        for opcode, payload in events:
            if opcode != TEXT:
                self.control(opcode, payload)
                continue
            seq = self.next_seq
            want = hub.payloads.get(seq)
            if payload != want:
                run.fail(
                    f"connection {self.index}: broadcast {seq} is {payload[:40]!r}, want {want!r}"
                    " (None: not published yet)"
                )
                return
            self.next_seq = seq + 1
            run.received += 1
            hub.delivered(seq)


# ---------------------------------------------------------------------------------------------- the run


@dataclass
class _Snapshot:
    at: float
    received: int
    client_cpu: float
    server_cpu: float


def _snapshot(run: Run) -> _Snapshot:
    pids = list(run.load.server_pids)
    return _Snapshot(time.perf_counter(), run.received, time.process_time(), cpu_seconds(pids))


async def _connect(clients: list[Client], load: Load) -> None:
    loop = asyncio.get_running_loop()

    async def one(client: Client) -> None:
        await loop.create_connection(lambda: client, load.host, load.port)
        await client.opened

    await asyncio.wait_for(asyncio.gather(*(one(c) for c in clients)), CONNECT_TIMEOUT)


def _prepare_echo(clients: list[Client], size: int) -> None:
    """The pool's frames for every connection: compressed for the window each server allowed."""
    pool = messages(size)
    plain = [client_frame(TEXT, m) for m in pool]
    compressed: dict[Deflate, list[bytes]] = {}
    for client in clients:
        assert isinstance(client, EchoClient)
        client.expected = pool
        client.offset = client.index % len(pool)
        if client.deflate is None:
            client.frames = plain
        else:
            if client.deflate not in compressed:
                compressed[client.deflate] = [
                    client_frame(TEXT, compress(m, client.deflate), rsv1=True) for m in pool
                ]
            client.frames = compressed[client.deflate]


async def _phase(run: Run, seconds: float) -> None:
    """Wait `seconds` (the load runs in callbacks meanwhile), less if the run fails."""
    await asyncio.wait([run.failed], timeout=seconds)


async def run_load(load: Load) -> Result:
    """One run against a server that is up. Never raises for what the server does: that is a Result."""
    if load.broadcast and load.deflate:
        raise ValueError("broadcast runs send uncompressed messages: no --deflate")
    loop = asyncio.get_running_loop()
    run = Run(load, loop)
    cls: type[Client] = BroadcastClient if load.broadcast else EchoClient
    clients = [cls(run, i, loop) for i in range(load.connections)]
    try:
        try:
            await _connect(clients, load)
        except (OSError, WebSocketError, TimeoutError) as exc:
            return Result("failed", f"connecting: {type(exc).__name__}: {exc}")
        extensions = clients[0].extensions
        if load.deflate:
            refused = [c for c in clients if c.deflate is None]
            if refused:
                return Result(
                    "n/a",
                    f"no permessage-deflate in the 101 to {DEFLATE_OFFER!r}"
                    f" (Sec-WebSocket-Extensions: {refused[0].extensions})",
                    extensions=extensions,
                )
        if load.broadcast:
            hub = Broadcast(run, clients[0], len(clients), load.size)
            for client in clients:
                assert isinstance(client, BroadcastClient)
                client.hub = hub
        else:
            _prepare_echo(clients, load.size)
        gc.collect()
        gc.freeze()  # what the setup made is never garbage: keep the collector off it
        run.sending = True
        for client in clients:
            client.start()
        await _phase(run, load.warmup)
        first = _snapshot(run)
        await _phase(run, load.duration)
        last = _snapshot(run)
        run.sending = False
        run.check_drained()
        await asyncio.wait(
            [run.failed, run.drained], timeout=DRAIN_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if run.error is None and not run.drained.done():
            run.fail(f"{run.in_flight} messages unanswered {DRAIN_TIMEOUT:g} s after sending stopped")
        result = Result(
            "failed" if run.error else "ok",
            run.error or "",
            messages=last.received - first.received,
            elapsed_s=last.at - first.at,
            client_cpu_s=last.client_cpu - first.client_cpu,
            server_cpu_s=last.server_cpu - first.server_cpu,
            total_messages=run.received,
            extensions=extensions,
        )
        if run.error is None:
            for client in clients:
                client.close()
            await asyncio.wait([c.closed for c in clients], timeout=CLOSE_TIMEOUT)
        return result
    finally:
        for client in clients:
            client.abort()
        gc.unfreeze()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--path", default=None, help="default: /echo, or /broadcast with --broadcast")
    p.add_argument("--broadcast", action="store_true")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--window", type=int, default=1)
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--deflate", action="store_true")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--server-pids", default="", help="comma-separated: whose CPU time to read")
    args = p.parse_args(argv)
    load = Load(
        port=args.port,
        host=args.host,
        path=args.path or ("/broadcast" if args.broadcast else "/echo"),
        broadcast=args.broadcast,
        connections=args.connections,
        window=args.window,
        size=args.size,
        deflate=args.deflate,
        warmup=args.warmup,
        duration=args.duration,
        server_pids=tuple(int(pid) for pid in args.server_pids.split(",") if pid),
    )
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(run_load(load))
    print(json.dumps(dataclasses.asdict(result)), flush=True)
    return 1 if result.status == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
