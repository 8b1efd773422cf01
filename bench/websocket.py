"""WebSocket peer comparison (issue 10): tapster against Uvicorn, Granian and Hypercorn on a raw ASGI
app, and firkin against Starlette and Quart, driven by our own load generator, in one run.

    python bench/websocket.py [--rounds N] [--duration S] [--warmup S] [--quick]
                              [--only raw|frameworks] [--servers NAME,...] [--rows NAME,...] [--json FILE]

Rows (every message is text; "in flight" is per connection):

    echo-16b       64 connections x 1 in flight, 16 B     ping-pong: each waits for its echo
    echo-16k       64 connections x 1 in flight, 16 KiB
    pipelined-16b   8 connections x 32 in flight, 16 B    each keeps 32 messages unanswered
    pipelined-16k   8 connections x 32 in flight, 16 KiB
    broadcast      64 connections, 16 B; one of them publishes (8 in flight), the server sends each
                   message to all 64; a message counted is one delivered to one connection
    deflate-1k     64 connections x 1 in flight, 1 KiB of JSON-like text, permessage-deflate
    deflate-64k    64 connections x 1 in flight, 64 KiB of JSON-like text, permessage-deflate

Servers, each a subprocess with one worker, pinned to CPU 0 with ``taskset``, on a free loopback port,
access log off, with its own defaults for websockets (pings every 20 s, permessage-deflate accepted):

    raw ASGI, bench.apps:app (/echo and /broadcast; the same app for every server)
      tapster     python -m tapster --loop uvloop --no-access-log
      uvicorn     python -m uvicorn --loop uvloop --http httptools --no-access-log; its default
                  websocket implementation (--ws auto: websockets-sansio when websockets is installed)
      granian     python -m granian --interface asgi --workers 1 --loop uvloop --no-access-log
      hypercorn   python -m hypercorn --worker-class uvloop --workers 1
    frameworks, each with its idiomatic echo (bench/fw_apps/*_ws.py; no broadcast route)
      firkin      firkin on tapster: @app.websocket, await websocket.receive() / send()
      starlette   Starlette on Uvicorn: a WebSocketRoute with receive_text() / send_text()
      quart       Quart on Hypercorn: as firkin

The load generator (bench/wsload.py, uvloop, raw asyncio protocols, frames built before the load)
runs pinned to CPU 1, one process per row and server start: it connects everything, runs ``--warmup``
seconds unmeasured, then ``--duration`` seconds measured, then checks that every message sent was
answered. Every echo is compared with the message it answers and every broadcast must reach every
connection in order: a wrong byte, a lost message or a close from the server fails the row loudly
(``FAILED`` in the report, exit status 1). It reads its own CPU time and the server's (utime + stime
of the server's process tree, from /proc) at the edges of the measured window, which gives messages
per server CPU-second, ``cpu%`` (the server's CPU seconds per second: under 100, it was waiting or
CPU 0 was shared) and ``load%`` (the same for the load generator: near 100, it may be what limits
messages/s).

Before the load, every server start is checked with an independent client (the `websockets` library):
echoes of 16 B and 16 KiB, a 64 KiB echo with the permessage-deflate it offers, and for the raw app a
broadcast to two clients. A server that does not negotiate permessage-deflate gets "n/a" on the
deflate rows, with the reason.

Each round starts every server in turn (round 1: tapster, uvicorn, granian, hypercorn, firkin,
starlette, quart; round 2: ...), so slow drift of a shared machine spreads over all of them. The
report is the median over rounds per row and server, ratios (tapster against each raw peer, firkin
against Starlette and Quart), the budget of DESIGN.md §4 (messages per server CPU-second: tapster
>= 1.2x Uvicorn, firkin >= 1.0x Starlette on Uvicorn), markdown tables for docs/performance.md, and a
JSON summary. Every subprocess is killed on exit.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/websocket.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    CLIENT_CPU,
    HOST,
    SERVER_CPU,
    STARTUP_TIMEOUT,
    fmt,
    free_port,
    git_revision,
    hypercorn_worker_class,
    install_signal_handlers,
    kill,
    kill_all,
    process_tree,
    rounds,
    run_summary,
    spawn,
    tail,
)
from bench._wsclient import WebSocketError, handshake_request, parse_handshake_response
from bench.wsload import message

DEV_COMMAND = "./dev bench-ws"
# Ratios printed: (ours, theirs), messages/s and messages per server CPU-second.
RAW_PAIRS = (("tapster", "uvicorn"), ("tapster", "granian"), ("tapster", "hypercorn"))
FRAMEWORK_PAIRS = (("firkin", "starlette"), ("firkin", "quart"))
# DESIGN.md §4: messages per server CPU-second, ours over theirs, at least this.
BUDGETS = (("tapster", "uvicorn", 1.2), ("firkin", "starlette", 1.0))
VERSIONS = (
    "tapster",
    "firkin",
    "uvicorn",
    "websockets",
    "granian",
    "hypercorn",
    "wsproto",
    "starlette",
    "quart",
    "uvloop",
    "httptools",
)


# ---------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class WsRow:
    name: str
    size: int  # bytes of a message
    connections: int
    window: int  # messages in flight per connection (broadcast: published, not yet delivered to all)
    broadcast: bool = False
    deflate: bool = False

    def describe(self) -> str:
        size = f"{self.size // 1024} KiB" if self.size >= 1024 else f"{self.size} B"
        if self.broadcast:
            return (
                f"broadcast: {size} text, {self.window} in flight, each sent to all {self.connections}"
                " connections; messages delivered"
            )
        kind = "JSON-like text, permessage-deflate" if self.deflate else "text"
        return f"echo: {size} {kind}, {self.connections} connections x {self.window} in flight"

    def wsload_args(self) -> list[str]:
        args = [f"--connections={self.connections}", f"--window={self.window}", f"--size={self.size}"]
        if self.broadcast:
            args.append("--broadcast")
        if self.deflate:
            args.append("--deflate")
        return args


ROWS = (
    WsRow("echo-16b", 16, connections=64, window=1),
    WsRow("echo-16k", 16 * 1024, connections=64, window=1),
    WsRow("pipelined-16b", 16, connections=8, window=32),
    WsRow("pipelined-16k", 16 * 1024, connections=8, window=32),
    WsRow("broadcast", 16, connections=64, window=8, broadcast=True),
    WsRow("deflate-1k", 1024, connections=64, window=1, deflate=True),
    WsRow("deflate-64k", 64 * 1024, connections=64, window=1, deflate=True),
)


# ---------------------------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class WsServer:
    name: str
    group: str  # "raw" or "frameworks"
    argv: Callable[[int], list[str]]
    description: str
    broadcast: bool  # serves /broadcast (the raw app does; the framework apps only echo)


def uvicorn_ws() -> str:
    """What Uvicorn's --ws auto picks (uvicorn/protocols/websockets/auto.py)."""
    return "websockets-sansio" if importlib.util.find_spec("websockets") is not None else "wsproto"


def server_specs() -> list[WsServer]:
    py = sys.executable
    worker_class = hypercorn_worker_class()

    def tapster(app: str) -> Callable[[int], list[str]]:
        return lambda port: [
            *(py, "-m", "tapster", app, "--bind", f"{HOST}:{port}"),
            *("--loop", "uvloop", "--no-access-log", "--log-level", "warning"),
        ]

    def uvicorn(app: str) -> Callable[[int], list[str]]:
        return lambda port: [
            *(py, "-m", "uvicorn", app, "--host", HOST, "--port", str(port)),
            *("--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"),
        ]

    def hypercorn(app: str) -> Callable[[int], list[str]]:
        return lambda port: [
            *(py, "-m", "hypercorn", app, "--bind", f"{HOST}:{port}"),
            *("--worker-class", worker_class, "--workers", "1", "--log-level", "warning"),
        ]

    def granian(app: str) -> Callable[[int], list[str]]:
        return lambda port: [
            *(py, "-m", "granian", "--interface", "asgi", "--host", HOST, "--port", str(port)),
            *("--workers", "1", "--loop", "uvloop", "--no-access-log", "--log-level", "warning", app),
        ]

    raw, uv = "bench.apps:app", f"--loop uvloop --http httptools --ws auto ({uvicorn_ws()}) --no-access-log"
    hyper = f"--worker-class {worker_class} --workers 1 (no access log: its default)"
    return [
        WsServer("tapster", "raw", tapster(raw), "tapster --loop uvloop --no-access-log", True),
        WsServer("uvicorn", "raw", uvicorn(raw), f"uvicorn {uv}", True),
        WsServer(
            "granian",
            "raw",
            granian(raw),
            "granian --interface asgi --workers 1 --loop uvloop --no-access-log",
            True,
        ),
        WsServer("hypercorn", "raw", hypercorn(raw), f"hypercorn {hyper}", True),
        WsServer(
            "firkin",
            "frameworks",
            tapster("bench.fw_apps.firkin_ws:app"),
            "firkin on tapster --loop uvloop --no-access-log",
            False,
        ),
        WsServer(
            "starlette",
            "frameworks",
            uvicorn("bench.fw_apps.starlette_ws:app"),
            f"Starlette on uvicorn {uv}",
            False,
        ),
        WsServer(
            "quart",
            "frameworks",
            hypercorn("bench.fw_apps.quart_ws:app"),
            f"Quart on hypercorn {hyper}",
            False,
        ),
    ]


# ---------------------------------------------------------------------------------------------- checks


def wait_for_websocket(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    """Until a websocket handshake on /echo gets its 101 (the framework apps have no HTTP route)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    last = "no connection"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before serving:\n{tail(log_path)}")
        try:
            with socket.create_connection((HOST, port), timeout=5.0) as sock:
                sock.sendall(handshake_request(f"{HOST}:{port}", "/echo", key))
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                parse_handshake_response(head.partition(b"\r\n\r\n")[0] + b"\r\n\r\n", key)
                return
        except (OSError, WebSocketError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise RuntimeError(f"no websocket handshake within {STARTUP_TIMEOUT} s ({last}):\n{tail(log_path)}")


def check_server(port: int, spec: WsServer) -> str | None:
    """Echo and broadcast checked with an independent client (`websockets`). Raises RuntimeError for a
    wrong answer; returns why the deflate rows are n/a (None when permessage-deflate was negotiated)."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    uri = f"ws://{HOST}:{port}"
    try:
        with connect(f"{uri}/echo", compression=None, open_timeout=10, close_timeout=5) as ws:
            for size in (16, 16 * 1024):
                text = message(size, 1).decode()
                ws.send(text)
                if ws.recv(timeout=10) != text:
                    raise RuntimeError(f"/echo: the {size}-byte message came back different")
        with connect(f"{uri}/echo", open_timeout=10, close_timeout=5) as ws:  # offering permessage-deflate
            assert ws.response is not None
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
            text = message(64 * 1024, 2).decode()
            ws.send(text)
            if ws.recv(timeout=10) != text:
                raise RuntimeError(f"/echo: a 64 KiB message came back different (extensions: {extensions})")
        if spec.broadcast:
            with (
                connect(f"{uri}/broadcast", compression=None, open_timeout=10, close_timeout=5) as one,
                connect(f"{uri}/broadcast", compression=None, open_timeout=10, close_timeout=5) as two,
            ):
                one.send("hello")
                if one.recv(timeout=10) != "hello" or two.recv(timeout=10) != "hello":
                    raise RuntimeError("/broadcast: a message did not reach both clients")
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise RuntimeError(f"check with the websockets client: {type(exc).__name__}: {exc}") from None
    if extensions and "permessage-deflate" in extensions:
        return None
    return (
        "does not negotiate permessage-deflate: its 101 to the websockets client's offer has no"
        " Sec-WebSocket-Extensions"
    )


# ---------------------------------------------------------------------------------------------- measuring


@dataclass
class WsSample:
    round: int
    msgs_per_s: float
    msgs_per_cpu_s: float
    cpu_s: float
    cpu_busy: float  # server CPU seconds per second of load
    client_busy: float  # load generator CPU seconds per second of load
    messages: int


@dataclass
class WsCell:
    samples: list[WsSample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    na: dict[int, str] = field(default_factory=dict)  # round -> why the row does not apply

    def median(self, attr: str) -> float | None:
        values = [float(getattr(s, attr)) for s in self.samples]
        return statistics.median(values) if values else None


Results = dict[str, dict[str, WsCell]]


def run_wsload(argv: list[str], timeout: float) -> dict[str, object]:
    """Run the load generator; its last line is the JSON `Result`."""
    with tempfile.TemporaryFile("w+b") as out:
        proc = spawn(argv, out.fileno())
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the load generator did not finish in {timeout:g} s") from None
        finally:
            kill(proc, grace=1.0)
        out.seek(0)
        text = out.read().decode(errors="replace")
    lines = text.strip().splitlines()
    try:
        result: dict[str, object] = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"the load generator exited with {proc.returncode}:\n{text}") from None
    if len(lines) > 1:  # anything else it printed (a warning, a traceback) is worth seeing
        print("    load generator: " + "\n    load generator: ".join(lines[:-1]), flush=True)
    return result


def measure_row(
    spec: WsServer,
    server: subprocess.Popen[bytes],
    port: int,
    row: WsRow,
    round_no: int,
    args: argparse.Namespace,
    log_path: Path,
    results: Results,
) -> None:
    cell = results[row.name][spec.name]
    pids = ",".join(str(pid) for pid in process_tree(server.pid))
    argv = ["taskset", "-c", CLIENT_CPU, sys.executable, "-m", "bench.wsload", f"--port={port}"]
    argv += [
        *row.wsload_args(),
        f"--warmup={args.warmup}",
        f"--duration={args.duration}",
        f"--server-pids={pids}",
    ]
    result = run_wsload(argv, args.warmup + args.duration + 120)
    if server.poll() is not None:
        raise RuntimeError(f"server died during {row.name}:\n{tail(log_path)}")
    status, reason = result["status"], str(result["reason"])
    if status == "n/a":
        cell.na[round_no] = reason
        print(f"  round {round_no} {spec.name:<10} {row.name:<14} n/a: {reason}", flush=True)
        return
    if status != "ok":
        cell.failures.append(f"round {round_no}: {reason}")
        print(f"  !! round {round_no} {spec.name} {row.name} FAILED: {reason}", flush=True)
        return
    messages, elapsed = int(str(result["messages"])), float(str(result["elapsed_s"]))
    cpu, client_cpu = float(str(result["server_cpu_s"])), float(str(result["client_cpu_s"]))
    sample = WsSample(
        round=round_no,
        msgs_per_s=messages / elapsed,
        msgs_per_cpu_s=messages / cpu if cpu > 0 else 0.0,
        cpu_s=cpu,
        cpu_busy=cpu / elapsed,
        client_busy=client_cpu / elapsed,
        messages=messages,
    )
    cell.samples.append(sample)
    print(
        f"  round {round_no} {spec.name:<10} {row.name:<14} {sample.msgs_per_s:>9.0f} msgs/s"
        f"  cpu {cpu:5.2f} s ({sample.cpu_busy:4.0%}, load {sample.client_busy:4.0%})"
        f"  {sample.msgs_per_cpu_s:>8.0f} msgs/cpu-s",
        flush=True,
    )


def measure_start(
    spec: WsServer,
    rows: Sequence[WsRow],
    round_no: int,
    args: argparse.Namespace,
    logdir: Path,
    results: Results,
) -> None:
    """Start the server pinned to CPU 0, check it, then run the load generator on every row."""
    port = free_port()
    log_path = logdir / f"{spec.name}-round{round_no}.log"
    with log_path.open("w") as log:
        server = spawn(["taskset", "-c", SERVER_CPU, *spec.argv(port)], log)
        try:
            wait_for_websocket(server, port, log_path)
            no_deflate = check_server(port, spec)
            for row in rows:
                why = None
                if row.broadcast and not spec.broadcast:
                    why = "the framework apps serve the echo only"
                elif row.deflate and no_deflate is not None:
                    why = f"{spec.name} {no_deflate}"
                if why is not None:
                    results[row.name][spec.name].na[round_no] = why
                    continue
                measure_row(spec, server, port, row, round_no, args, log_path, results)
        except RuntimeError as exc:
            failure = f"round {round_no}: {exc}"
            print(f"  !! {spec.name}: {failure}", flush=True)
            for row in rows:
                cell = results[row.name][spec.name]
                done = any(s.round == round_no for s in cell.samples) or round_no in cell.na
                if not done and not any(f.startswith(f"round {round_no}:") for f in cell.failures):
                    cell.failures.append(failure)
        finally:
            kill(server)
    text = log_path.read_text(errors="replace").strip()
    if text:
        print(f"  ({spec.name} logged {len(text.splitlines())} lines: see {log_path})", flush=True)


# ---------------------------------------------------------------------------------------------- report


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours is not None and theirs else None


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _cell_text(cell: WsCell, attr: str) -> str:
    value = cell.median(attr)
    if value is not None:
        return f"{value:,.0f}"
    if cell.failures:
        return "FAILED"
    return "n/a" if cell.na else "-"


def report_row(row: WsRow, specs: Sequence[WsServer], results: Results) -> dict[str, object]:
    cells = results[row.name]
    width = max([len(s.name) for s in specs] + [len("server")])
    print(f"\n{row.name} ({row.describe()})")
    print(f"  {'server':<{width}} {'msgs/s':>9} {'min..max':>15} {'msgs/cpu-s':>10} {'cpu%':>5} {'load%':>6}")
    table: dict[str, object] = {}
    for spec in specs:
        cell = cells[spec.name]
        entry: dict[str, object] = {"failures": cell.failures, "na": sorted(set(cell.na.values()))}
        if cell.samples:
            values = [s.msgs_per_s for s in cell.samples]
            busy, load = cell.median("cpu_busy"), cell.median("client_busy")
            spread = f"{min(values):.0f}..{max(values):.0f}"
            print(
                f"  {spec.name:<{width}} {fmt(cell.median('msgs_per_s'), '9.0f')}"
                f" {spread:>15} {fmt(cell.median('msgs_per_cpu_s'), '10.0f')}"
                f" {fmt(None if busy is None else busy * 100, '5.0f')}"
                f" {fmt(None if load is None else load * 100, '6.0f')}"
            )
            entry.update(
                msgs_per_s=cell.median("msgs_per_s"),
                msgs_per_cpu_s=cell.median("msgs_per_cpu_s"),
                cpu_busy=busy,
                client_busy=load,
                samples=[asdict(s) for s in cell.samples],
            )
        else:
            print(f"  {spec.name:<{width}} {_cell_text(cell, 'msgs_per_s')}")
        for reason in sorted(set(cell.na.values())):
            print(f"    n/a: {reason}")
        for failure in cell.failures:
            print(f"    FAILED {failure.splitlines()[0]}")
        table[spec.name] = entry
    ratios: dict[str, object] = {}
    for ours, theirs in (*RAW_PAIRS, *FRAMEWORK_PAIRS):
        if ours in cells and theirs in cells:
            rps = _ratio(cells[ours].median("msgs_per_s"), cells[theirs].median("msgs_per_s"))
            cpu = _ratio(cells[ours].median("msgs_per_cpu_s"), cells[theirs].median("msgs_per_cpu_s"))
            ratios[f"{ours}/{theirs}"] = {"msgs_per_s": rps, "msgs_per_cpu_s": cpu}
            if rps is None and cpu is None:
                continue  # a side not measured on this row: its n/a or failure is printed above
            line = f"  {ours} / {theirs}: {_times(rps)} msgs/s, {_times(cpu)} per CPU-second"
            for b_ours, b_theirs, floor in BUDGETS:
                if (b_ours, b_theirs) == (ours, theirs):
                    verdict = "not measured" if cpu is None else ("met" if cpu >= floor else "MISSED")
                    line += f"  (budget >= {floor:.1f}x per CPU-second: {verdict})"
            print(line)
    return {"description": row.describe(), "servers": table, "ratios": ratios}


def markdown(rows: Sequence[WsRow], specs: Sequence[WsServer], results: Results, group: str) -> str:
    """Two markdown tables for the group's servers: messages/s and messages per server CPU-second, each
    with the ratios; the load generator's CPU share (the highest of the group's medians) beside the first."""
    names = [s.name for s in specs if s.group == group]
    pairs = [
        (a, b) for a, b in (RAW_PAIRS if group == "raw" else FRAMEWORK_PAIRS) if a in names and b in names
    ]
    # A row n/a for the whole group (the framework apps have no broadcast) is left out.
    shown = [r for r in rows if any(results[r.name][n].samples or results[r.name][n].failures for n in names)]
    if not shown:
        return ""
    out: list[str] = []
    for attr, title in (("msgs_per_s", "messages/s"), ("msgs_per_cpu_s", "messages per server CPU-second")):
        head = ["row", *names, *(f"{a} ÷ {b}" for a, b in pairs)]
        if attr == "msgs_per_s":
            head.append("load gen CPU")
        out += [f"{title}:", "", "| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
        for row in shown:
            cells = results[row.name]
            line = [row.name, *(_cell_text(cells[n], attr) for n in names)]
            line += [_times(_ratio(cells[a].median(attr), cells[b].median(attr))) for a, b in pairs]
            if attr == "msgs_per_s":
                loads = [v for n in names if (v := cells[n].median("client_busy")) is not None]
                line.append(f"≤ {max(loads):.0%}" if loads else "-")
            out.append("| " + " | ".join(line) + " |")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- main


def check_tools() -> int:
    if shutil.which("taskset") is None:
        print(f"bench-ws: taskset is not installed (apt-get install util-linux; {DEV_COMMAND} needs it)")
        return 2
    if (os.cpu_count() or 1) < 2:
        print("bench-ws: needs 2 CPUs (server and load generator are pinned to CPU 0 and CPU 1)")
        return 2
    return 0


def select(args: argparse.Namespace) -> tuple[list[WsServer], list[WsRow]] | str:
    """The servers and rows the options name, or what is wrong with the names."""
    specs = all_specs = server_specs()
    if args.only != "all":
        specs = [s for s in specs if s.group == args.only]
    rows = list(ROWS)
    for option, names in (("servers", [s.name for s in all_specs]), ("rows", [r.name for r in ROWS])):
        wanted = [name for name in getattr(args, option).split(",") if name]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            return f"unknown {option} {', '.join(unknown)}; choose from {', '.join(names)}"
        if wanted and option == "servers":
            specs = [s for s in specs if s.name in wanted]
        elif wanted:
            rows = [r for r in rows if r.name in wanted]
    if not specs:
        return "no server selected (--servers names none of the --only group)"
    return specs, rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="rounds; every server runs once per round")
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured per row")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load before each row")
    p.add_argument("--quick", action="store_true", help="1 round of 2 s (a smoke test)")
    p.add_argument("--only", choices=("raw", "frameworks", "all"), default="all", help="which comparison")
    p.add_argument("--servers", default="", help="comma-separated subset of the servers")
    p.add_argument("--rows", default="", help="comma-separated subset of the rows")
    p.add_argument("--json", type=Path, help="also write the JSON summary to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 2.0, 0.5
    if check_tools():
        return 2
    chosen = select(args)
    if isinstance(chosen, str):
        print(f"bench-ws: {chosen}")
        return 2
    specs, rows = chosen
    # run_summary records args.connections: here it is per row.
    args.connections = {row.name: f"{row.connections} x {row.window}" for row in rows}
    results: Results = {row.name: {spec.name: WsCell() for spec in specs} for row in rows}
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    revision_before = git_revision()
    install_signal_handlers()
    interrupted = False
    logdir = Path(tempfile.mkdtemp(prefix="tapster-bench-ws-logs-"))
    print(
        f"{args.rounds} round(s) x {len(specs)} servers x {len(rows)} rows, {args.warmup:g} s warm-up +"
        f" {args.duration:g} s each; server on CPU {SERVER_CPU}, load generator on CPU {CLIENT_CPU};"
        f" git {revision_before}; logs in {logdir}",
        flush=True,
    )
    for spec in specs:
        print(f"  {spec.name}: {spec.description}", flush=True)
    try:
        for round_no in rounds(args.rounds):
            for spec in specs:
                measure_start(spec, rows, round_no, args, logdir, results)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: reporting what was measured", flush=True)
    finally:
        kill_all()

    table = {row.name: report_row(row, specs, results) for row in rows}
    print(f"\nMedians of {args.rounds} round(s), {args.duration:g} s each:\n")
    for group in ("raw", "frameworks"):
        text = markdown(rows, specs, results, group)
        if text:
            print(f"### {'Raw ASGI' if group == 'raw' else 'Frameworks'}\n\n{text}")
    summary = {
        **run_summary(
            started=started,
            argv=argv,
            args=args,
            interrupted=interrupted,
            revision_before=revision_before,
            load_before=load_before,
            descriptions={s.name: s.description for s in specs},
            versions=VERSIONS,
        ),
        "budgets": [{"ours": a, "theirs": b, "min_ratio_per_cpu_s": r} for a, b, r in BUDGETS],
        "rows": table,
    }
    print("JSON summary:")
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    failed = any(cell.failures for cells in results.values() for cell in cells.values())
    if failed:
        print("\nbench-ws: some rows FAILED (see above): their servers answered wrongly or died")
    return 130 if interrupted else 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        kill_all()
