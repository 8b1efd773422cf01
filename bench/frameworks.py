"""Framework comparison: firkin on tapster against Starlette, Quart and Flask on their usual servers.

    python bench/frameworks.py [--rounds N] [--duration S] [--connections C] [--quick] [--servers ...]

The same app (``bench/fw_apps/``: ``GET /`` plaintext, ``GET /json`` a small JSON object,
``GET /user/<int:id>`` JSON with the id) in four frameworks, each on the server it is usually run with,
single worker, access log off:

- firkin on tapster: ``python -m tapster bench.fw_apps.firkin_app:app --loop uvloop``
- Starlette on Uvicorn: ``--loop uvloop --http httptools --no-access-log``
- Quart on Hypercorn: ``--worker-class uvloop --workers 1`` (when Hypercorn offers it)
- Flask on Gunicorn: ``gunicorn -w 1 --threads 1`` (the sync worker: one connection at a time, and it
  closes the connection after every response, so wrk reconnects for each request)

The method is bench/http11.py's (shared code in bench/_common.py): interleaved rounds, the server
pinned to CPU 0 and ``wrk -t1 -c<C> -d<S>s --latency`` to CPU 1, the server's CPU seconds read around
each measurement. The report is the median over rounds of req/s, p99 and requests per server-CPU-second,
with ratios to Starlette on Uvicorn and to Quart on Hypercorn, then a JSON summary. Every subprocess is
killed on exit.
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

if __package__ in (None, ""):  # run as a script: python bench/frameworks.py
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
)
from bench.fw_apps import HELLO, JSON_BODY, user_body

USER_ID = 123
ROWS = (
    Row("plaintext", "/", None),
    Row("json", "/json", None),
    Row("user", f"/user/{USER_ID}", None),
)
# The ratios: every server against each of these (by name).
BASELINES = ("starlette", "quart")
DEFAULT_SERVERS = "firkin,starlette,quart,flask"
VERSIONS = (
    "firkin",
    "tapster",
    "starlette",
    "uvicorn",
    "quart",
    "hypercorn",
    "flask",
    "gunicorn",
    "werkzeug",
    "httptools",
    "uvloop",
)


def server_specs() -> list[ServerSpec]:
    py = sys.executable
    worker_class = hypercorn_worker_class()
    return [
        ServerSpec(
            "firkin",
            lambda port: [
                *(py, "-m", "tapster", "bench.fw_apps.firkin_app:app", "--bind", f"{HOST}:{port}"),
                *("--loop", "uvloop", "--no-access-log", "--log-level", "warning"),
            ],
            "firkin on tapster --loop uvloop --no-access-log",
        ),
        ServerSpec(
            "starlette",
            lambda port: [
                *(py, "-m", "uvicorn", "bench.fw_apps.starlette_app:app"),
                *("--host", HOST, "--port", str(port)),
                *("--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"),
            ],
            "Starlette on uvicorn --loop uvloop --http httptools --no-access-log",
        ),
        ServerSpec(
            "quart",
            lambda port: [
                *(py, "-m", "hypercorn", "bench.fw_apps.quart_app:app", "--bind", f"{HOST}:{port}"),
                *("--worker-class", worker_class, "--workers", "1", "--log-level", "warning"),
            ],
            f"Quart on hypercorn --worker-class {worker_class} --workers 1 (no access log: its default)",
        ),
        ServerSpec(
            "flask",
            lambda port: [
                *(py, "-m", "gunicorn", "bench.fw_apps.flask_app:app", "--bind", f"{HOST}:{port}"),
                *("--workers", "1", "--threads", "1", "--worker-class", "sync", "--log-level", "warning"),
            ],
            "Flask on gunicorn -w 1 --threads 1 (sync worker; no access log: its default)",
        ),
    ]


def check_routes(port: int) -> None:
    """Each row's response is what the app sends, so no server is timed doing something else."""
    expected: dict[str, Any] = {
        "/": HELLO,
        "/json": JSON_BODY,
        f"/user/{USER_ID}": user_body(USER_ID),
    }
    for path, want in expected.items():
        # A connection per request: Gunicorn's sync worker closes it after each response.
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        got: Any = raw.decode() if isinstance(want, str) else json.loads(raw)
        if response.status != 200 or got != want:
            raise RuntimeError(f"GET {path}: status {response.status}, body {raw[:80]!r}")


def report(results: dict[str, dict[str, Cell]], specs: list[ServerSpec]) -> dict[str, Any]:
    names = {s.name for s in specs}
    baselines = [b for b in BASELINES if b in names]
    summary: dict[str, Any] = {}
    for row in ROWS:
        cells = results[row.name]
        base = {b: cells[b].median("req_per_s") for b in baselines}
        base_cpu = {b: cells[b].median("req_per_cpu_s") for b in baselines}
        print(f"\n{row.name} (GET {row.path})")
        head = f"  {'server':<10} {'req/s':>9} {'min..max':>13} {'p99 ms':>8} {'req/cpu-s':>10}"
        for b in baselines:
            head += f" {'x ' + b:>11} {'cpu x ' + b[:2]:>8}"
        print(f"{head} {'errors':>7}")
        summary[row.name] = {}
        for spec in specs:
            cell = cells[spec.name]
            rps = cell.median("req_per_s")
            per_cpu = cell.median("req_per_cpu_s")
            values = [s.req_per_s for s in cell.samples]
            spread = f"{min(values):.0f}..{max(values):.0f}" if values else "-"
            errors = sum(s.socket_errors + s.non_2xx for s in cell.samples)
            line = (
                f"  {spec.name:<10} {fmt(rps, '9.0f')} {spread:>13} {fmt(cell.median('p99_ms'), '8.2f')}"
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
            summary[row.name][spec.name] = {
                "req_per_s": rps,
                "p99_ms": cell.median("p99_ms"),
                "req_per_cpu_s": per_cpu,
                **{f"ratio_to_{b}": ratios[b] for b in baselines},
                **{f"cpu_ratio_to_{b}": cpu_ratios[b] for b in baselines},
                "errors": errors,
                "failures": cell.failures,
                "samples": [asdict(s) for s in cell.samples],
            }
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="rounds; every server runs once per round")
    p.add_argument("--duration", type=float, default=8.0, help="seconds of wrk per row")
    p.add_argument("--connections", type=int, default=64, help="wrk connections")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load per server start")
    p.add_argument("--quick", action="store_true", help="1 round of 3 s (a smoke test)")
    p.add_argument("--servers", default=DEFAULT_SERVERS, help=f"comma-separated subset of {DEFAULT_SERVERS}")
    p.add_argument("--json", type=Path, help="also write the JSON summary to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 1, 3.0
    if check_tools("frameworks", "./dev bench-frameworks"):
        return 2

    wanted = args.servers.split(",")
    specs = [s for s in server_specs() if s.name in wanted]
    unknown = set(wanted) - {s.name for s in specs}
    if unknown:
        print(f"frameworks: unknown server(s) {', '.join(sorted(unknown))}; choose from {DEFAULT_SERVERS}")
        return 2
    results = {row.name: {spec.name: Cell() for spec in specs} for row in ROWS}
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    revision_before = git_revision()
    install_signal_handlers()
    interrupted = False
    logdir = Path(tempfile.mkdtemp(prefix="tapster-bench-frameworks-logs-"))
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
                measure_server(spec, round_no, args, ROWS, check_routes, {}, logdir, results)
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
            versions=VERSIONS,
        ),
        "baselines": [b for b in BASELINES if b in wanted],
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
