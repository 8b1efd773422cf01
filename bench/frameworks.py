"""Framework comparison: firkin on tapster against Starlette, Quart and Flask on their usual servers.

    python bench/frameworks.py [--rounds N] [--duration S] [--connections C] [--quick] [--servers ...]

The same app (``bench/fw_apps/``: ``GET /`` plaintext, ``GET /json`` a small JSON object,
``GET /user/<int:id>`` JSON with the id, and the idioms rows: a returned tuple with a status and
headers, a ``Response`` object, ``jsonify``, a rendered template, ``redirect``, ``abort(404)``, an
urlencoded form, a 16 KiB POST echo, a blueprint ``before_request`` hook reading the session, a
multipart upload, and plaintext over one connection; ``bench/fw_apps/__init__.py`` says what each app
does for each) in four frameworks, each on the server it is usually run with, single worker, access
log off:

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

import http.client
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/frameworks.py
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
from bench.fw_apps import REQUESTS, Expected


def _lua_string(text: str) -> str:
    """`text` as a Lua string literal, byte for byte (a long bracket string would turn CRLF into LF)."""
    escaped = "".join(c if c.isalnum() or c in " -_.,:;=/@%<>&+" else f"\\{ord(c):03d}" for c in text)
    return f'"{escaped}"'


def _post(body: str, content_type: str) -> str:
    """A wrk script that POSTs `body`."""
    return (
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = {_lua_string(content_type)}\n'
        f"wrk.body = {_lua_string(body)}\n"
    )


def _row(name: str, request: Expected) -> Row:
    lua = _post(request.body, request.content_type or "") if request.body is not None else None
    return Row(name, request.path, lua, error_status=request.status >= 400)


# The rows: bench/fw_apps/__init__.py's REQUESTS (it says what each app does for each), then the
# plaintext route again over one connection.
ROWS = (*(_row(name, r) for name, r in REQUESTS.items()), Row("latency", "/", None, connections=1))
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
    for method, path, body, content_type, status, want in REQUESTS.values():
        # A connection per request: Gunicorn's sync worker closes it after each response.
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        try:
            headers = {"Content-Type": content_type} if content_type else {}
            conn.request(method, path, body=body.encode() if body is not None else None, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            location = response.getheader("Location") or ""
        finally:
            conn.close()
        if want is None:
            got: Any = None
        else:
            got = raw.decode() if isinstance(want, str) else json.loads(raw)
        if response.status != status or got != want:
            raise RuntimeError(f"{method} {path}: status {response.status}, body {raw[:80]!r}")
        if status == 302 and location not in ("/", f"http://{HOST}:{port}/"):
            raise RuntimeError(f"{method} {path}: Location {location!r}")


BENCHMARK = Benchmark(
    name="frameworks",
    description=__doc__ or "",
    dev_command="./dev bench-frameworks",
    rows=ROWS,
    specs=server_specs,
    default_servers=DEFAULT_SERVERS,
    baselines=BASELINES,
    versions=VERSIONS,
    check_routes=check_routes,
    describe_row=lambda row: (
        f"{'POST' if row.lua else 'GET'} {row.path}"
        + (f", {row.connections} connection" if row.connections else "")
    ),
)


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(BENCHMARK, argv)


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        kill_all()
