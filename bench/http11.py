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

import http.client
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/http11.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    HOST,
    Benchmark,
    Row,
    ServerSpec,
    hypercorn_worker_class,
    kill_all,
)
from bench._common import main as run_benchmark

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


BENCHMARK = Benchmark(
    name="bench",
    description=__doc__ or "",
    dev_command="./dev bench",
    rows=ROWS,
    specs=server_specs,
    default_servers="tapster,uvicorn,hypercorn",
    baselines=(BASELINE,),
    versions=("tapster", "uvicorn", "hypercorn", "httptools", "uvloop", "h11"),
    check_routes=check_routes,
    describe_row=lambda row: f"{'POST ' + str(ECHO_SIZE) + ' B' if row.lua else 'GET'} {row.path}",
)


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(BENCHMARK, argv)


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        kill_all()
