"""What the wrk-driven benchmarks share: servers as pinned subprocesses, CPU time from /proc, wrk.

Used by ``bench/http11.py`` (tapster against Uvicorn and Hypercorn on a raw ASGI app) and
``bench/frameworks.py`` (firkin on tapster against Starlette, Quart and Flask on their usual servers).
A server runs pinned to CPU 0 with ``taskset``, wrk pinned to CPU 1; the server's CPU seconds (utime +
stime of its process tree) are read around every measurement; every subprocess is killed on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SERVER_CPU = "0"
CLIENT_CPU = "1"
STARTUP_TIMEOUT = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    name: str
    path: str
    lua: str | None  # a wrk script, for requests other than a plain GET
    connections: int | None = None  # wrk connections for this row (None: --connections)
    error_status: bool = False  # the row's answer is a 4xx: counted as responses, not as errors


# ---------------------------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class ServerSpec:
    name: str
    argv: Callable[[int], list[str]]
    description: str


def hypercorn_worker_class() -> str:
    """uvloop when Hypercorn's CLI offers it and uvloop is importable, else its default (asyncio)."""
    if importlib.util.find_spec("uvloop") is None:
        return "asyncio"
    result = subprocess.run(
        [sys.executable, "-m", "hypercorn", "--help"], capture_output=True, text=True, check=False
    )
    return "uvloop" if "--worker-class" in result.stdout and "uvloop" in result.stdout else "asyncio"


def git_revision() -> str:
    """The commit measured, with "-dirty" when the working tree has changes (tapster is editable)."""
    result = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "unknown"


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def check_tools(name: str, how: str) -> int:
    """0 when wrk, taskset and 2 CPUs are there, else 2 after saying what is missing."""
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"{name}: {tool} is not installed (apt-get install {tool}; {how} does it)")
            return 2
    if (os.cpu_count() or 1) < 2:
        print(f"{name}: needs 2 CPUs (server and client are pinned to CPU 0 and CPU 1)")
        return 2
    return 0


# ---------------------------------------------------------------------------------------------- processes

_children: list[subprocess.Popen[bytes]] = []


def spawn(argv: list[str], log: TextIO | int) -> subprocess.Popen[bytes]:
    # A session of its own: the child (and a server's worker processes) can be killed as a group,
    # and a Ctrl-C at the terminal reaches only us, so we decide how everything ends.
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    _children.append(proc)
    return proc


def kill(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left after `grace` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    # The group may outlive its leader (a supervisor's workers): always finish it off.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)
    if proc in _children:
        _children.remove(proc)


def kill_all() -> None:
    while _children:  # kill() removes each from the list
        kill(_children[-1], grace=2.0)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers() -> None:
    """Ctrl-C, SIGTERM and SIGHUP all become KeyboardInterrupt: report what was measured, kill all."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_serving(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    request = f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before serving:\n{tail(log_path)}")
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as sock:
                sock.sendall(request)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer within {STARTUP_TIMEOUT} s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


# ---------------------------------------------------------------------------------------------- CPU time


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ")".
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, ()))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return ticks / CLK_TCK


# ---------------------------------------------------------------------------------------------- wrk

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"cannot parse wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class WrkResult:
    requests: int
    req_per_s: float
    p99_ms: float
    socket_errors: int
    non_2xx: int


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if rps is None or total is None or p99 is None:
        raise ValueError(f"cannot parse wrk output:\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(total.group(1)),
        req_per_s=float(rps.group(1)),
        p99_ms=_ms(p99.group(1)),
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def wrk_argv(port: int, row: Row, duration: float, connections: int, scripts: dict[str, Path]) -> list[str]:
    connections = row.connections or connections
    argv = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    if row.name in scripts:
        argv += ["-s", str(scripts[row.name])]
    return [*argv, f"http://{HOST}:{port}{row.path}"]


def run_wrk(argv: list[str], duration: float) -> str:
    with tempfile.TemporaryFile("w+b") as out:
        proc = spawn(argv, out.fileno())
        try:
            proc.wait(duration + 30)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"wrk did not finish: {' '.join(argv)}") from None
        finally:
            kill(proc, grace=1.0)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}: {' '.join(argv)}\n{text}")
    return text


def write_scripts(rows: Sequence[Row], directory: Path) -> dict[str, Path]:
    """The wrk Lua scripts of the rows that have one, written into `directory`, by row name."""
    scripts: dict[str, Path] = {}
    for row in rows:
        if row.lua is not None:
            scripts[row.name] = directory / f"{row.name}.lua"
            scripts[row.name].write_text(row.lua)
    return scripts


# ---------------------------------------------------------------------------------------------- the run


@dataclass
class Sample:
    round: int
    req_per_s: float
    p99_ms: float
    req_per_cpu_s: float
    cpu_s: float
    requests: int
    socket_errors: int
    non_2xx: int


@dataclass
class Cell:
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.samples]
        return statistics.median(values) if values else None


def measure_server(
    spec: ServerSpec,
    round_no: int,
    args: argparse.Namespace,
    rows: Sequence[Row],
    check: Callable[[int], None],
    scripts: dict[str, Path],
    logdir: Path,
    results: dict[str, dict[str, Cell]],
) -> None:
    """Start the server pinned to CPU 0, wait for it, `check(port)` its routes, warm it up with the
    first row, then run wrk on every row, appending a Sample (or a failure) to `results[row][server]`.
    `args` needs `duration`, `connections` and `warmup`."""
    port = free_port()
    log_path = logdir / f"{spec.name}-round{round_no}.log"
    argv = ["taskset", "-c", SERVER_CPU, *spec.argv(port)]
    with log_path.open("w") as log:
        server = spawn(argv, log)
        try:
            wait_until_serving(server, port, log_path)
            check(port)
            if args.warmup > 0:
                run_wrk(wrk_argv(port, rows[0], args.warmup, args.connections, scripts), args.warmup)
            for row in rows:
                cell = results[row.name][spec.name]
                tree = process_tree(server.pid)
                before = cpu_seconds(tree)
                text = run_wrk(wrk_argv(port, row, args.duration, args.connections, scripts), args.duration)
                cpu = cpu_seconds(tree) - before
                if server.poll() is not None:
                    raise RuntimeError(f"server died during {row.name}:\n{tail(log_path)}")
                wrk = parse_wrk(text)
                sample = Sample(
                    round=round_no,
                    req_per_s=wrk.req_per_s,
                    p99_ms=wrk.p99_ms,
                    req_per_cpu_s=wrk.requests / cpu if cpu > 0 else 0.0,
                    cpu_s=cpu,
                    requests=wrk.requests,
                    socket_errors=wrk.socket_errors,
                    non_2xx=wrk.non_2xx,
                )
                cell.samples.append(sample)
                flag = ""
                if wrk.socket_errors or (wrk.non_2xx and not row.error_status):
                    flag = f"  !! socket errors {wrk.socket_errors}, non-2xx {wrk.non_2xx}"
                print(
                    f"  round {round_no} {spec.name:<14} {row.name:<9} {wrk.req_per_s:>10.0f} req/s"
                    f"  p99 {wrk.p99_ms:>7.2f} ms  cpu {cpu:5.2f} s"
                    f"  {sample.req_per_cpu_s:>8.0f} req/cpu-s{flag}",
                    flush=True,
                )
        except RuntimeError as exc:
            message = f"round {round_no}: {exc}"
            print(f"  !! {spec.name}: {message}", flush=True)
            for row in rows:
                if len(results[row.name][spec.name].samples) < round_no:
                    results[row.name][spec.name].failures.append(message)
        finally:
            kill(server)
    # Anything the server wrote at warning level or above is worth a look.
    text = log_path.read_text(errors="replace").strip()
    if text:
        print(f"  ({spec.name} logged {len(text.splitlines())} lines: see {log_path})", flush=True)


def fmt(value: float | None, spec: str) -> str:
    width = spec.partition(".")[0]
    return format("-", f">{width}") if value is None else format(value, spec)


def rounds(n: int) -> Iterator[int]:
    for round_no in range(1, n + 1):
        print(f"round {round_no}/{n}", flush=True)
        yield round_no


def run_summary(
    *,
    started: datetime.datetime,
    argv: Sequence[str] | None,
    args: argparse.Namespace,
    interrupted: bool,
    revision_before: str,
    load_before: tuple[float, float, float],
    descriptions: dict[str, str],
    versions: Sequence[str],
) -> dict[str, object]:
    """What every benchmark's JSON summary records about the run itself (rows are added by it)."""
    return {
        "date": started.date().isoformat(),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "rounds": args.rounds,
        "duration_s": args.duration,
        "connections": args.connections,
        "warmup_s": args.warmup,
        "interrupted": interrupted,
        # Servers are restarted every round from the working tree: differing revisions mean the
        # code changed during the run.
        "git": {"before": revision_before, "after": git_revision()},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "servers": descriptions,
        "versions": {dist: version_of(dist) for dist in versions},
    }


# ------------------------------------------------------------------------------------------ report and main


@dataclass(frozen=True)
class Benchmark:
    """What one benchmark script compares: its servers, rows, baselines and how it checks a server."""

    name: str  # for messages and log folders
    description: str  # the script's docstring, for --help
    dev_command: str  # how to install what it needs
    rows: Sequence[Row]
    specs: Callable[[], list[ServerSpec]]
    default_servers: str
    baselines: Sequence[str]  # ratios are printed against each of these that runs
    versions: Sequence[str]  # distributions whose versions the summary records
    check_routes: Callable[[int], None]
    describe_row: Callable[[Row], str]
    # More lines after the tables, from the rows' summary (bench/workers.py: the scaling ratios).
    extra_report: Callable[[dict[str, object]], dict[str, object]] | None = None


def report(
    bench: Benchmark, results: dict[str, dict[str, Cell]], specs: list[ServerSpec]
) -> dict[str, object]:
    """Print a table per row (medians, spread, ratios to each baseline) and return it as data."""
    baselines = [b for b in bench.baselines if b in {s.name for s in specs}]
    width = max([len(s.name) for s in specs] + [len("server")])
    summary: dict[str, object] = {}
    for row in bench.rows:
        cells = results[row.name]
        base = {b: cells[b].median("req_per_s") for b in baselines}
        base_cpu = {b: cells[b].median("req_per_cpu_s") for b in baselines}
        print(f"\n{row.name} ({bench.describe_row(row)})")
        head = f"  {'server':<{width}} {'req/s':>9} {'min..max':>13} {'p99 ms':>8} {'req/cpu-s':>10}"
        for b in baselines:
            head += f" {'x ' + b:>11} {'cpu x ' + b[:2]:>8}"
        print(f"{head} {'errors':>7}")
        rows: dict[str, object] = {}
        for spec in specs:
            cell = cells[spec.name]
            rps = cell.median("req_per_s")
            per_cpu = cell.median("req_per_cpu_s")
            values = [s.req_per_s for s in cell.samples]
            spread = f"{min(values):.0f}..{max(values):.0f}" if values else "-"
            errors = sum(s.socket_errors + (0 if row.error_status else s.non_2xx) for s in cell.samples)
            line = (
                f"  {spec.name:<{width}} {fmt(rps, '9.0f')} {spread:>13} {fmt(cell.median('p99_ms'), '8.2f')}"
                f" {fmt(per_cpu, '10.0f')}"
            )
            ratios: dict[str, float | None] = {}
            cpu_ratios: dict[str, float | None] = {}
            for b in baselines:
                b_rps, b_cpu = base[b], base_cpu[b]
                ratios[b] = rps / b_rps if rps is not None and b_rps else None
                cpu_ratios[b] = per_cpu / b_cpu if per_cpu is not None and b_cpu else None
                line += f" {fmt(ratios[b], '11.2f')} {fmt(cpu_ratios[b], '8.2f')}"
            print(f"{line} {errors:>7}")
            for failure in cell.failures:
                print(f"    failed: {failure.splitlines()[0]}")
            rows[spec.name] = {
                "req_per_s": rps,
                "p99_ms": cell.median("p99_ms"),
                "req_per_cpu_s": per_cpu,
                **{f"ratio_to_{b}": ratios[b] for b in baselines},
                **{f"cpu_ratio_to_{b}": cpu_ratios[b] for b in baselines},
                "errors": errors,
                "failures": cell.failures,
                "samples": [dataclasses.asdict(s) for s in cell.samples],
            }
        summary[row.name] = rows
    return summary


def main(bench: Benchmark, argv: list[str] | None = None) -> int:
    """The whole run: options, interleaved rounds, the report, the JSON summary."""
    p = argparse.ArgumentParser(
        description=bench.description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=5, help="rounds; every server runs once per round")
    p.add_argument("--duration", type=float, default=8.0, help="seconds of wrk per row")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (keep-alive)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load per server start")
    p.add_argument("--quick", action="store_true", help="1 round of 3 s (a smoke test)")
    p.add_argument("--servers", default=bench.default_servers, help="comma-separated subset")
    p.add_argument("--rows", help="comma-separated subset of the rows (default: all)")
    p.add_argument("--json", type=Path, help="also write the JSON summary to this file")
    p.add_argument("--server-cpus", default=SERVER_CPU, help="CPUs the server is pinned to (taskset -c)")
    p.add_argument("--client-cpus", default=CLIENT_CPU, help="CPUs wrk is pinned to (taskset -c)")
    args = p.parse_args(argv)
    _pin(args.server_cpus, args.client_cpus)
    if args.quick:
        args.rounds, args.duration = 1, 3.0
    if check_tools(bench.name, bench.dev_command):
        return 2

    if args.rows:
        names = args.rows.split(",")
        unknown_rows = set(names) - {row.name for row in bench.rows}
        if unknown_rows:
            choices = ", ".join(row.name for row in bench.rows)
            print(f"{bench.name}: unknown row(s) {', '.join(sorted(unknown_rows))}; choose from {choices}")
            return 2
        bench = dataclasses.replace(bench, rows=[row for row in bench.rows if row.name in names])
    wanted = args.servers.split(",")
    specs = [s for s in bench.specs() if s.name in wanted]
    unknown = set(wanted) - {s.name for s in specs}
    if unknown:
        choices = ", ".join(s.name for s in bench.specs())
        print(f"{bench.name}: unknown server(s) {', '.join(sorted(unknown))}; choose from {choices}")
        return 2
    results = {row.name: {spec.name: Cell() for spec in specs} for row in bench.rows}
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    revision_before = git_revision()
    install_signal_handlers()
    interrupted = False
    with tempfile.TemporaryDirectory(prefix=f"tapster-{bench.name}-") as tmp:
        scripts = write_scripts(bench.rows, Path(tmp))
        logdir = Path(tempfile.mkdtemp(prefix=f"tapster-{bench.name}-logs-"))
        print(
            f"{args.rounds} round(s) x {len(specs)} servers x {len(bench.rows)} rows,"
            f" {args.duration:g} s each,"
            f" {args.connections} connections; server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU};"
            f" git {revision_before}; logs in {logdir}",
            flush=True,
        )
        for spec in specs:
            print(f"  {spec.name}: {spec.description}", flush=True)
        try:
            for round_no in rounds(args.rounds):
                for spec in specs:
                    measure_server(
                        spec, round_no, args, bench.rows, bench.check_routes, scripts, logdir, results
                    )
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted: reporting what was measured", flush=True)
        finally:
            kill_all()

    summary = {
        **run_summary(
            started=started,
            argv=argv,
            args=args,
            interrupted=interrupted,
            revision_before=revision_before,
            load_before=load_before,
            descriptions={s.name: s.description for s in specs},
            versions=bench.versions,
        ),
        "baselines": [b for b in bench.baselines if b in wanted],
        "rows": report(bench, results, specs),
    }
    if bench.extra_report is not None:
        rows = summary["rows"]
        assert isinstance(rows, dict)
        summary["extra"] = bench.extra_report(rows)
    print("\nJSON summary:")
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 130 if interrupted else 0


def _pin(server_cpus: str, client_cpus: str) -> None:
    """Where servers and wrk run (the defaults: one CPU each); read when each process starts."""
    global SERVER_CPU, CLIENT_CPU
    SERVER_CPU, CLIENT_CPU = server_cpus, client_cpus


def time_us(call: Callable[[], object], repeat: int, min_time: float) -> float:
    """Median µs per `call()` over `repeat` runs of a loop long enough to last about `min_time` s
    (the in-process microbenchmarks: bench/parser.py, bench/wsframes.py)."""
    timer = timeit.Timer(call)
    number, elapsed = timer.autorange()
    number = max(1, int(number * min_time / max(elapsed, 1e-9)))
    runs = timer.repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number * 1e6
