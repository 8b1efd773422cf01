"""Workers: tapster with 1 and 2 worker processes against Uvicorn --workers and Gunicorn with Uvicorn
workers, the same raw ASGI app, driven by wrk, in one run.

    python bench/workers.py [--rounds N] [--duration S] [--server-cpus 0] [--client-cpus 1] [--quick]

Every server gets the same CPUs (``--server-cpus``, default CPU 0) whatever its number of workers, and
wrk the others (``--client-cpus``, default CPU 1). On a 2-core machine both workers share one CPU, so
the 2-worker rows measure what a second worker costs (accepting spread over two processes, a
supervisor beside them), not how far it scales; on a bigger machine give the servers two CPUs
(``--server-cpus 0,1 --client-cpus 2,3``) and the same table shows the scaling. Rows: plaintext
``GET /`` and ``GET /json`` (``bench.apps:app``), 64 keep-alive connections.

Servers (``--servers`` takes these names):

    tapster-1w / tapster-2w     python -m tapster --workers N --loop uvloop --no-access-log
    uvicorn-1w / uvicorn-2w     python -m uvicorn --workers N --loop uvloop --http httptools --no-access-log
    gunicorn-1w / gunicorn-2w   gunicorn -w N -k uvicorn_worker.UvicornWorker (Uvicorn's own worker class
                                for Gunicorn, from the uvicorn-worker package)

Requests per server CPU-second count every process of the server (supervisor and workers). After the
usual tables (ratios to uvicorn-1w), the scaling ratio of each server, 2 workers over 1, requests per
second and per CPU-second.
"""

from __future__ import annotations

import http.client
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/workers.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import HOST, Benchmark, Row, ServerSpec, kill_all
from bench._common import main as run_benchmark

APP = "bench.apps:app"
ROWS = (Row("plaintext", "/", None), Row("json", "/json", None))
FAMILIES = ("tapster", "uvicorn", "gunicorn")


def _tapster(workers: int) -> ServerSpec:
    return ServerSpec(
        f"tapster-{workers}w",
        lambda port: [
            *(sys.executable, "-m", "tapster", APP, "--bind", f"{HOST}:{port}", "--workers", str(workers)),
            *("--loop", "uvloop", "--no-access-log", "--log-level", "warning"),
        ],
        f"tapster --workers {workers} --loop uvloop",
    )


def _uvicorn(workers: int) -> ServerSpec:
    return ServerSpec(
        f"uvicorn-{workers}w",
        lambda port: [
            *(sys.executable, "-m", "uvicorn", APP, "--host", HOST, "--port", str(port)),
            *("--workers", str(workers), "--loop", "uvloop", "--http", "httptools"),
            *("--no-access-log", "--log-level", "warning"),
        ],
        f"uvicorn --workers {workers} --loop uvloop --http httptools",
    )


def _gunicorn(workers: int) -> ServerSpec:
    return ServerSpec(
        f"gunicorn-{workers}w",
        lambda port: [
            *(sys.executable, "-m", "gunicorn", APP, "--bind", f"{HOST}:{port}", "-w", str(workers)),
            *("-k", "uvicorn_worker.UvicornWorker", "--log-level", "warning"),
        ],
        f"gunicorn -w {workers} -k uvicorn_worker.UvicornWorker",
    )


def server_specs() -> list[ServerSpec]:
    return [make(n) for make in (_tapster, _uvicorn, _gunicorn) for n in (1, 2)]


def check_routes(port: int) -> None:
    expected = {"/": b"Hello, world!", "/json": {"message": "Hello, world!", "id": 1, "ok": True}}
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        for path, want in expected.items():
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            got: object = json.loads(body) if path == "/json" else body
            if response.status != 200 or got != want:
                raise RuntimeError(f"GET {path}: status {response.status}, body {body[:80]!r}")
    finally:
        conn.close()


def scaling(rows: dict[str, object]) -> dict[str, object]:
    """2 workers over 1, per server family and row: requests/s and requests per CPU-second."""
    print("\nscaling, 2 workers / 1 worker (req/s, req/cpu-s)")
    out: dict[str, object] = {}
    for row in ROWS:
        cells = rows.get(row.name)
        if not isinstance(cells, dict):
            continue
        ratios: dict[str, object] = {}
        for family in FAMILIES:
            one, two = cells.get(f"{family}-1w"), cells.get(f"{family}-2w")
            if not isinstance(one, dict) or not isinstance(two, dict):
                continue
            pair = []
            for key in ("req_per_s", "req_per_cpu_s"):
                a, b = one.get(key), two.get(key)
                pair.append(b / a if isinstance(a, float) and isinstance(b, float) and a else None)
            ratios[family] = {"req_per_s": pair[0], "req_per_cpu_s": pair[1]}
            shown = "  ".join("-" if v is None else f"{v:.2f}" for v in pair)
            print(f"  {row.name:<10} {family:<9} {shown}")
        out[row.name] = ratios
    return out


BENCHMARK = Benchmark(
    name="workers",
    description=__doc__ or "",
    dev_command="./dev bench-workers",
    rows=ROWS,
    specs=server_specs,
    default_servers=",".join(s.name for s in server_specs()),
    baselines=("uvicorn-1w",),
    versions=("tapster", "uvicorn", "uvicorn-worker", "gunicorn", "httptools", "uvloop"),
    check_routes=check_routes,
    describe_row=lambda row: f"GET {row.path}",
    extra_report=scaling,
)


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(BENCHMARK, argv)


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        kill_all()
