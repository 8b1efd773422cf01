"""HTTP/1.1 peer comparison: tapster against Uvicorn and Hypercorn, driven by wrk, in one run.

    python bench/http11.py [--rounds N] [--duration S] [--connections C] [--quick]

Each round starts every server in turn (round 1: tapster, uvicorn, hypercorn; round 2: ...), so slow
drift of a noisy machine spreads over all of them. A server runs as a subprocess with a single worker,
pinned to CPU 0 with ``taskset``, on a free loopback port, access logs off, serving ``bench.apps:app``.
wrk runs pinned to CPU 1 (``-t1 -c<C> -d<S>s --latency``, keep-alive) against three rows: plaintext
``GET /``, ``GET /json`` and a 16 KiB ``POST /echo``. For every measurement the server's CPU seconds
(utime + stime of its process tree, from /proc) are read before and after, which gives requests per
server-CPU-second: a number less sensitive to other load on the machine than requests per second.

The report is the median over rounds per row and server, with the ratio to Uvicorn of requests per
second and of requests per CPU-second, followed by a JSON summary. Every subprocess is killed on exit.
The machinery (processes, CPU time, wrk) is shared with bench/frameworks.py in bench/_common.py.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/http11.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    CLIENT_CPU,
    HOST,
    SERVER_CPU,
    Cell,
    Row,
    ServerSpec,
    check_tools,
    fmt,
    git_revision,
    hypercorn_worker_class,
    install_signal_handlers,
    kill_all,
    measure_server,
    rounds,
    run_summary,
    write_scripts,
)

APP = "bench.apps:app"
BASELINE = "uvicorn"
ECHO_SIZE = 16 * 1024


# ---------------------------------------------------------------------------------------------- rows


ECHO_LUA = f"""\
wrk.method = "POST"
wrk.body = string.rep("x", {ECHO_SIZE})
wrk.headers["Content-Type"] = "application/octet-stream"
"""

ROWS = (
    Row("plaintext", "/", None),
    Row("json", "/json", None),
    Row("echo16k", "/echo", ECHO_LUA),
)


# ---------------------------------------------------------------------------------------------- servers


def server_specs() -> list[ServerSpec]:
    py = sys.executable
    worker_class = hypercorn_worker_class()
    return [
        ServerSpec(
            "tapster",
            lambda port: [
                *(py, "-m", "tapster", APP, "--bind", f"{HOST}:{port}"),
                *("--loop", "uvloop", "--no-access-log", "--log-level", "warning"),
            ],
            "tapster --loop uvloop",
        ),
        ServerSpec(
            "uvicorn",
            lambda port: [
                *(py, "-m", "uvicorn", APP, "--host", HOST, "--port", str(port)),
                *("--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"),
            ],
            "uvicorn --loop uvloop --http httptools --no-access-log",
        ),
        ServerSpec(
            "hypercorn",
            lambda port: [
                *(py, "-m", "hypercorn", APP, "--bind", f"{HOST}:{port}"),
                *("--worker-class", worker_class, "--workers", "1", "--log-level", "warning"),
            ],
            f"hypercorn --worker-class {worker_class} --workers 1 (no access log: its default)",
        ),
        # On trio (not in the default set): --servers tapster-trio,hypercorn-trio
        ServerSpec(
            "tapster-trio",
            lambda port: [
                *(py, "-m", "tapster", APP, "--bind", f"{HOST}:{port}"),
                *("--loop", "trio", "--no-access-log", "--log-level", "warning"),
            ],
            "tapster --loop trio",
        ),
        ServerSpec(
            "hypercorn-trio",
            lambda port: [
                *(py, "-m", "hypercorn", APP, "--bind", f"{HOST}:{port}"),
                *("--worker-class", "trio", "--workers", "1", "--log-level", "warning"),
            ],
            "hypercorn --worker-class trio --workers 1",
        ),
    ]


def check_routes(port: int) -> None:
    """Each row's response is what the app sends, so no server is timed doing something else."""
    body = bytes(range(256)) * (ECHO_SIZE // 256)
    expected = {
        ("GET", "/"): b"Hello, world!",
        ("GET", "/json"): json.dumps({"message": "Hello, world!", "id": 1, "ok": True}).encode(),
        ("POST", "/echo"): body,
    }
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        for (method, path), want in expected.items():
            conn.request(method, path, body=body if method == "POST" else None)
            response = conn.getresponse()
            got = response.read()
            if method == "GET" and path == "/json":
                got = json.dumps(json.loads(got)).encode()
            if response.status != 200 or got != want:
                raise RuntimeError(f"{method} {path}: status {response.status}, body {got[:80]!r}")
    finally:
        conn.close()


def report(results: dict[str, dict[str, Cell]], specs: list[ServerSpec]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for row in ROWS:
        cells = results[row.name]
        base = cells[BASELINE].median("req_per_s") if BASELINE in cells else None
        base_cpu = cells[BASELINE].median("req_per_cpu_s") if BASELINE in cells else None
        print(f"\n{row.name} ({'POST ' + str(ECHO_SIZE) + ' B' if row.lua else 'GET'} {row.path})")
        print(
            f"  {'server':<14} {'req/s':>10} {'min..max':>17} {'p99 ms':>8} {'req/cpu-s':>10}"
            f" {'x uvicorn':>10} {'cpu x uv':>9} {'errors':>7}"
        )
        summary[row.name] = {}
        for spec in specs:
            cell = cells[spec.name]
            rps = cell.median("req_per_s")
            per_cpu = cell.median("req_per_cpu_s")
            ratio = rps / base if rps is not None and base else None
            cpu_ratio = per_cpu / base_cpu if per_cpu is not None and base_cpu else None
            values = [s.req_per_s for s in cell.samples]
            spread = f"{min(values):.0f}..{max(values):.0f}" if values else "-"
            errors = sum(s.socket_errors + s.non_2xx for s in cell.samples)
            print(
                f"  {spec.name:<14} {fmt(rps, '10.0f')} {spread:>17} {fmt(cell.median('p99_ms'), '8.2f')}"
                f" {fmt(per_cpu, '10.0f')} {fmt(ratio, '10.2f')} {fmt(cpu_ratio, '9.2f')} {errors:>7}"
            )
            for failure in cell.failures:
                print(f"    failed: {failure.splitlines()[0]}")
            summary[row.name][spec.name] = {
                "req_per_s": rps,
                "p99_ms": cell.median("p99_ms"),
                "req_per_cpu_s": per_cpu,
                "ratio_to_uvicorn": ratio,
                "cpu_ratio_to_uvicorn": cpu_ratio,
                "errors": errors,
                "failures": cell.failures,
                "samples": [asdict(s) for s in cell.samples],
            }
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="rounds; every server runs once per round")
    p.add_argument("--duration", type=float, default=8.0, help="seconds of wrk per row")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (keep-alive)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load per server start")
    p.add_argument("--quick", action="store_true", help="1 round of 3 s (a smoke test)")
    p.add_argument("--servers", default="tapster,uvicorn,hypercorn", help="comma-separated subset")
    p.add_argument("--json", type=Path, help="also write the JSON summary to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 1, 3.0
    if check_tools("bench", "./dev bench"):
        return 2

    wanted = args.servers.split(",")
    specs = [s for s in server_specs() if s.name in wanted]
    results = {row.name: {spec.name: Cell() for spec in specs} for row in ROWS}
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    revision_before = git_revision()
    install_signal_handlers()
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="tapster-bench-") as tmp:
        scripts = write_scripts(ROWS, Path(tmp))
        logdir = Path(tempfile.mkdtemp(prefix="tapster-bench-logs-"))
        print(
            f"{args.rounds} round(s) x {len(specs)} servers x {len(ROWS)} rows, {args.duration:g} s each,"
            f" {args.connections} connections; server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU};"
            f" git {revision_before}; logs in {logdir}",
            flush=True,
        )
        for spec in specs:
            print(f"  {spec.name}: {spec.description}", flush=True)
        try:
            for round_no in rounds(args.rounds):
                for spec in specs:
                    measure_server(spec, round_no, args, ROWS, check_routes, scripts, logdir, results)
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
            versions=("tapster", "uvicorn", "hypercorn", "httptools", "uvloop", "h11"),
        ),
        "rows": report(results, specs),
    }
    print("\nJSON summary:")
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 130 if interrupted else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        kill_all()
