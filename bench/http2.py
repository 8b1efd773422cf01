"""HTTP/2 peer comparison: tapster against Hypercorn, Granian and Uvicorn, driven by h2load, in one run.

    python bench/http2.py [--rounds N] [--duration S] [--warmup S] [--quick] [--only NAME[,NAME]]

The same shape as bench/http11.py, with h2load (Debian's ``nghttp2-client``) in place of wrk. Each round
starts every server in turn, once on cleartext and once with TLS (round 1: tapster h2c, tapster TLS,
hypercorn h2c, ...), so slow drift of a noisy machine spreads over all of them. A server runs as a
subprocess with a single worker, pinned to CPU 0 with ``taskset``, on a free loopback port, access logs
off, serving ``bench.apps:app``; h2load runs pinned to CPU 1 (``-t1 -c<C> -m<M> -D<S>``). Rows:

    small-h2c   GET /       -c4 -m32   cleartext, HTTP/2 by prior knowledge (h2c)
    small-tls   GET /       -c4 -m32   TLS 1.3, HTTP/2 chosen by ALPN
    1mib-h2c    GET /1mib   -c4 -m4    cleartext h2c, 1 MiB responses
    echo16k-h2c POST /echo  -c4 -m32   cleartext h2c, 16 KiB request bodies the app reads and echoes
    latency-h2c GET /       -c1 -m1    cleartext h2c, one client waiting on each answer

Servers (``--only`` takes these names, row names, or both):

    tapster     python -m tapster --loop uvloop --no-access-log [--certfile --keyfile]
    hypercorn   python -m hypercorn --worker-class uvloop --workers 1 [--certfile --keyfile]
                --config <a file with keep_alive_max_requests = 10**9: see below>
    granian     granian --interface asgi --http 2 --workers 1 --loop uvloop --no-access-log
                [--ssl-certificate --ssl-keyfile]; the key must be PKCS#8, which the script writes
    uvicorn     python -m uvicorn --loop uvloop --http zttp --http2 --no-access-log
                [--ssl-certfile --ssl-keyfile]; HTTP/2 is experimental in Uvicorn since 0.53.0 and
                needs the ``zttp`` package (h2c by prior knowledge and ALPN h2; no Upgrade: h2c)

TLS uses a throwaway certificate for 127.0.0.1 from ``trustme``, written to a temporary directory.

A server that does not speak HTTP/2 is reported as "no HTTP/2" for the row and the run goes on. Before
the load, every server start is probed with a socket of our own: over TLS, ALPN (offering h2 and
http/1.1) must select h2; then the HTTP/2 preface must be answered with a SETTINGS frame (an
"HTTP/1.1 ..." answer is "no HTTP/2"). h2load is given ``--npn-list h2``, so it never falls back to
HTTP/1.1, and each of its runs must report the application protocol h2c (cleartext) or h2 (TLS) and at
least one success; a one-connection h2load run per row first checks status 2xx and the exact body size.
Only 2xx responses count: requests/s is h2load's 2xx count over its measured time, and failed requests
(h2load "failed" plus non-2xx) are shown in the ``failed`` column. For every measurement the server's
CPU seconds (utime + stime of its process tree, from /proc) are read before and after, which gives
requests per server-CPU-second, a number less sensitive to other load on the machine, and ``cpu%``,
the server's CPU seconds per second of load (well under 100: the server was waiting, or another
process had CPU 0). ``h2load%`` is the same for h2load (from the rusage of reaped children): near 100,
the client may be what limits requests/s.

h2load (1.52) does not reconnect when a server closes a connection with a GOAWAY: the client is gone
for the rest of the run. The script compares h2load's overall rate with its per-client rates (each over
the client's own lifetime) and flags a sample whose clients were connected for less than 90% of the run:
its requests/s is not the server's throughput. Hypercorn closes an HTTP/2 connection after 1000
requests by default (``keep_alive_max_requests``, no command-line option), so it gets a config file
raising that to 10**9. Uvicorn 0.54 with zttp 0.0.35 ends every HTTP/2 connection after 4096 streams
with GOAWAY ENHANCE_YOUR_CALM (its log: "HTTP/2 flood detected (enhance your calm)"), with no option to
change it: its small-request rows are flagged, their requests per CPU-second still mean something.

The report is the median over rounds per row and server: requests/s, its spread, h2load's max request
latency (median of the rounds' maxima, and the worst round), requests per CPU-second, cpu% and the
ratios to Hypercorn and to Granian, then tapster's budget verdict (at least 4x Hypercorn's requests/s
with a max latency under 50 ms, on medians), then a JSON summary. Every subprocess is killed on exit.
Processes, CPU time and the summary's header are shared with the wrk benchmarks in bench/_common.py.

Measured
--------
2026-12-03, ``./dev bench-http2 --rounds 2 --duration 5`` at 4cf9d50, on a 2-core VM (Intel Xeon,
Linux 6.18, Python 3.11.7; Hypercorn 0.18.0 + h2 4.4.1, Granian 2.8.9, Uvicorn 0.54.0 + zttp 0.0.35,
uvloop 0.23.0, h2load nghttp2/1.52.0). Medians of 2 rounds; other people's test suites shared the
machine (load average 1.4 -> 2.4), which shows in Granian's cpu% of 63-85: its requests/s dropped
while its requests per CPU-second held steady. tapster (HTTP/1.1 only at this commit) was probed in
every round and reported as no HTTP/2: 505 to the h2c preface, ALPN http/1.1 over TLS.

    row        server     req/s   max ms  req/cpu-s  cpu%  x hypercorn  x granian  note
    small-h2c  hypercorn   4227     61.5       4331    98         1.00       0.07
               granian    62476     27.1      76810    81        14.78       1.00
               uvicorn     3262     36.1      34377     9         0.77       0.05  connections die (*)
    small-tls  hypercorn   3483     73.2       3615    96         1.00       0.06
               granian    59526     17.2      76907    77        17.09       1.00
               uvicorn     3264     25.2      29459    11         0.94       0.05  connections die (*)
    1mib-h2c   hypercorn    407     71.4        419    97         1.00       0.22
               granian     1838     35.3       2503    73         4.52       1.00
               uvicorn      571     99.6        669    85         1.41       0.31

(*) Uvicorn sent GOAWAY ENHANCE_YOUR_CALM after 4096 streams on every connection ("HTTP/2 flood
detected" in its log; one request at a time from a plain h2 client gets the same), so h2load's clients
were connected 11-23% of the run and those requests/s are not Uvicorn's throughput. An earlier run of the same
command on a quieter machine (load average 0.9), before the h2load% column existed, gave Hypercorn
4370 / 3685 / 429 req/s and Granian 74692 / 61866 / 2099 req/s on the three rows, with the same
requests per CPU-second (about 4.4k / 3.7k / 0.44k and 79k / 79k / 2.6k). For tapster's budget
that means at least ~17k req/s over h2c and ~14-15k over TLS (4x Hypercorn) with max latency under
50 ms, which Hypercorn's own medians (49-73 ms on the small rows) do not meet.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime
import importlib.util
import json
import os
import re
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/http2.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    CLIENT_CPU,
    HOST,
    SERVER_CPU,
    STARTUP_TIMEOUT,
    cpu_seconds,
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
from bench.apps import LARGE_SIZE

APP = "bench.apps:app"
BASELINES = ("hypercorn", "granian")
BUDGET_BASELINE = "hypercorn"
BUDGET_RATIO = 4.0  # tapster's requests/s at least this many times Hypercorn's ...
BUDGET_MAX_LATENCY_MS = 50.0  # ... with h2load's max request latency under this
PLAIN_SIZE = len(b"Hello, world!")
PROBE_REQUESTS = 2  # per row and server start, on one connection: checks status and body size
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type SETTINGS, no flags, stream 0
SETTINGS_TYPE = 0x4
DEV_COMMAND = "./dev bench-http2"
HYPERCORN_MAX_REQUESTS = 1_000_000_000  # its default, 1000, closes h2load's connections (see server_specs)
ALIVE_THRESHOLD = 0.9  # below this share of the run with h2load's clients connected, a sample is flagged


# ---------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class H2Row:
    name: str
    path: str
    tls: bool
    clients: int  # h2load -c: connections
    streams: int  # h2load -m: concurrent streams per connection
    body_size: int  # bytes of one response body, checked before the load
    upload: int = 0  # bytes of request body each request POSTs (h2load -d), 0: a GET

    def describe(self) -> str:
        transport = "TLS, ALPN h2" if self.tls else "h2c, prior knowledge"
        method = f"POST {self.path} of {self.upload} B" if self.upload else f"GET {self.path}"
        return f"{method}, {self.body_size} B bodies, -c{self.clients} -m{self.streams}, {transport}"


ECHO_SIZE = 16 * 1024
ROWS = (
    H2Row("small-h2c", "/", tls=False, clients=4, streams=32, body_size=PLAIN_SIZE),
    H2Row("small-tls", "/", tls=True, clients=4, streams=32, body_size=PLAIN_SIZE),
    H2Row("1mib-h2c", "/1mib", tls=False, clients=4, streams=4, body_size=LARGE_SIZE),
    # What users also send: request bodies the app reads, and one client waiting on each answer.
    H2Row("echo16k-h2c", "/echo", tls=False, clients=4, streams=32, body_size=ECHO_SIZE, upload=ECHO_SIZE),
    H2Row("latency-h2c", "/", tls=False, clients=1, streams=1, body_size=PLAIN_SIZE),
)


def upload_file(size: int) -> str:
    """A file of `size` bytes for h2load -d, written once per run (removed at exit)."""
    path = Path(tempfile.gettempdir()) / f"tapster-bench-http2-upload-{os.getpid()}-{size}"
    if not path.exists():
        path.write_bytes(b"x" * size)
        atexit.register(path.unlink, missing_ok=True)
    return str(path)


# ---------------------------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class TlsFiles:
    certfile: Path  # the leaf certificate, PEM
    keyfile: Path  # its private key, PEM, PKCS#8 (Granian accepts nothing else)
    ca_pem: str  # the throwaway CA, to verify the server in the probe


@dataclass(frozen=True)
class H2Server:
    name: str
    argv: Callable[[int, TlsFiles | None], list[str]]
    description: str


def _loop() -> str:
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def _tls(tls: TlsFiles | None, cert_option: str, key_option: str) -> list[str]:
    return [] if tls is None else [cert_option, str(tls.certfile), key_option, str(tls.keyfile)]


def server_specs(scratch: Path) -> list[H2Server]:
    """The servers, with what they need written into `scratch` (Hypercorn's config file)."""
    py = sys.executable
    loop = _loop()
    worker_class = hypercorn_worker_class()
    # h2load does not reconnect after a GOAWAY: with Hypercorn's default of 1000 requests per
    # connection its 4 clients would be gone after 4000 requests. Only a config file can raise it.
    hypercorn_config = scratch / "hypercorn.toml"
    hypercorn_config.write_text(f"keep_alive_max_requests = {HYPERCORN_MAX_REQUESTS}\n")
    return [
        H2Server(
            "tapster",
            lambda port, tls: [
                *(py, "-m", "tapster", APP, "--bind", f"{HOST}:{port}"),
                *("--loop", loop, "--no-access-log", "--log-level", "warning"),
                *_tls(tls, "--certfile", "--keyfile"),
            ],
            f"tapster --loop {loop} --no-access-log",
        ),
        H2Server(
            "hypercorn",
            lambda port, tls: [
                *(py, "-m", "hypercorn", APP, "--config", str(hypercorn_config), "--bind", f"{HOST}:{port}"),
                *("--worker-class", worker_class, "--workers", "1", "--log-level", "warning"),
                *_tls(tls, "--certfile", "--keyfile"),
            ],
            f"hypercorn --worker-class {worker_class} --workers 1, keep_alive_max_requests"
            f" {HYPERCORN_MAX_REQUESTS} (no access log: its default)",
        ),
        H2Server(
            "granian",
            lambda port, tls: [
                *(py, "-m", "granian", "--interface", "asgi", "--http", "2"),
                *("--host", HOST, "--port", str(port), "--workers", "1", "--loop", loop),
                *("--no-access-log", "--log-level", "warning"),
                *_tls(tls, "--ssl-certificate", "--ssl-keyfile"),
                APP,
            ],
            f"granian --interface asgi --http 2 --workers 1 --loop {loop} --no-access-log",
        ),
        H2Server(
            "uvicorn",
            lambda port, tls: [
                *(py, "-m", "uvicorn", APP, "--host", HOST, "--port", str(port), "--loop", loop),
                *("--http", "zttp", "--http2", "--no-access-log", "--log-level", "warning"),
                *_tls(tls, "--ssl-certfile", "--ssl-keyfile"),
            ],
            f"uvicorn --loop {loop} --http zttp --http2 --no-access-log",
        ),
    ]


def make_tls_files(directory: Path) -> TlsFiles:
    """A throwaway CA and a certificate for 127.0.0.1, with its key in PKCS#8 (trustme writes the
    traditional OpenSSL form, which Granian refuses)."""
    import trustme
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    leaf = ca.issue_cert(HOST, "localhost")
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return TlsFiles(certfile, keyfile, ca.cert_pem.bytes().decode("ascii"))


# ---------------------------------------------------------------------------------------------- probes


class NoHttp2(Exception):
    """The server answered, but not in HTTP/2: a row to report as "no HTTP/2", not a failure."""


def wait_until_listening(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    """Until the port accepts a connection (an HTTP/1.1 request would not do: Granian --http 2
    answers only HTTP/2; what the server speaks is the probe's business)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before serving:\n{tail(log_path)}")
        try:
            with socket.create_connection((HOST, port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not listen within {STARTUP_TIMEOUT} s:\n{tail(log_path)}")


def probe_http2(port: int, tls: TlsFiles | None) -> None:
    """Raise NoHttp2 unless the server negotiates HTTP/2: ALPN h2 over TLS (offering h2 and http/1.1),
    then a SETTINGS frame in answer to the connection preface. The server must be listening already;
    its worker may still be starting, hence the startup timeout for the answer."""
    with contextlib.ExitStack() as stack:
        sock: socket.socket | ssl.SSLSocket
        sock = stack.enter_context(socket.create_connection((HOST, port), timeout=STARTUP_TIMEOUT))
        if tls is not None:
            context = ssl.create_default_context(cadata=tls.ca_pem)
            context.set_alpn_protocols(["h2", "http/1.1"])
            try:
                tls_sock = stack.enter_context(context.wrap_socket(sock, server_hostname=HOST))
            except OSError as exc:  # ssl.SSLError is an OSError
                raise RuntimeError(f"TLS handshake failed: {exc}") from None
            alpn = tls_sock.selected_alpn_protocol()
            if alpn != "h2":
                raise NoHttp2(f"TLS ALPN chose {alpn or 'no protocol'}, not h2")
            sock = tls_sock
        head = b""
        try:
            sock.sendall(H2_PREFACE + EMPTY_SETTINGS)
            while len(head) < 9:
                chunk = sock.recv(64)
                if not chunk:
                    break
                head += chunk
        except TimeoutError:
            raise NoHttp2(f"no answer to the HTTP/2 preface in {STARTUP_TIMEOUT:g} s") from None
        except OSError as exc:
            raise NoHttp2(f"connection failed after the HTTP/2 preface: {exc}") from None
    if head.startswith(b"HTTP/"):
        first_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        raise NoHttp2(f"answered the HTTP/2 preface with {first_line!r}")
    if len(head) < 9:
        raise NoHttp2(f"closed the connection after the HTTP/2 preface (got {head!r})")
    if head[3] != SETTINGS_TYPE:
        raise NoHttp2(f"first frame after the preface is type {head[3]}, not SETTINGS")


# ---------------------------------------------------------------------------------------------- h2load

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(number: str, unit: str) -> float:
    return float(number) * _UNITS[unit]


@dataclass
class H2loadResult:
    protocol: str | None  # "Application protocol:" (h2c on cleartext, h2 over TLS); None if absent
    elapsed_s: float
    done: int
    succeeded: int
    failed: int
    status_2xx: int
    status_other: int
    data_bytes: int
    latency_max_ms: float
    latency_mean_ms: float
    client_req_per_s_mean: float  # each client's successes over its own lifetime, averaged

    def alive(self, clients: int) -> float:
        """The share of the run h2load's clients were connected: 1.0 unless the server closed
        connections (h2load does not reconnect after a GOAWAY, so a closed client stays gone)."""
        expected = self.client_req_per_s_mean * clients
        return min(1.0, self.succeeded / self.elapsed_s / expected) if expected and self.elapsed_s else 0.0


def _line(pattern: str, output: str) -> re.Match[str]:
    match = re.search(pattern, output, re.M)
    if match is None:
        raise RuntimeError(f"cannot parse h2load output (no {pattern!r}):\n{output}")
    return match


def parse_h2load(output: str) -> H2loadResult:
    protocol = re.search(r"^Application protocol: (\S+)", output, re.M)  # absent if none negotiated
    finished = _line(r"^finished in ([\d.]+)(us|ms|s),", output)
    requests = _line(r"^requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", output)
    status = _line(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", output)
    data = _line(r"^traffic: .*\((\d+)\) data", output)
    time = r"\s+([\d.]+)(us|ms|s)"
    latency = _line(rf"^time for request:{time}{time}{time}", output)  # min, max, mean
    per_client = _line(r"^req/s\s*:\s+[\d.]+\s+[\d.]+\s+([\d.]+)", output)  # min, max, mean
    return H2loadResult(
        protocol=protocol.group(1) if protocol else None,
        elapsed_s=_ms(*finished.groups()) / 1000.0,
        done=int(requests.group(1)),
        succeeded=int(requests.group(2)),
        failed=int(requests.group(3)),
        status_2xx=int(status.group(1)),
        status_other=sum(int(n) for n in status.groups()[1:]),
        data_bytes=int(data.group(1)),
        latency_max_ms=_ms(latency.group(3), latency.group(4)),
        latency_mean_ms=_ms(latency.group(5), latency.group(6)),
        client_req_per_s_mean=float(per_client.group(1)),
    )


def h2load_argv(port: int, row: H2Row, *, duration: float | None, requests: int = 0) -> list[str]:
    """h2load on CPU 1, offering only h2 over TLS (no fallback to HTTP/1.1), for `duration` seconds
    on the row's connections and streams, or else `requests` requests on one connection."""
    argv = ["taskset", "-c", CLIENT_CPU, "h2load", "-t1", "--npn-list", "h2"]
    if duration is not None:
        # h2load reads -D as whole seconds unless given a unit: milliseconds keep fractions.
        argv += [f"-c{row.clients}", f"-m{row.streams}", f"-D{round(duration * 1000)}ms"]
    else:
        argv += ["-c1", "-m1", f"-n{requests}"]
    if row.upload:
        argv += ["-d", upload_file(row.upload)]
    scheme = "https" if row.tls else "http"
    return [*argv, f"{scheme}://{HOST}:{port}{row.path}"]


def run_h2load(argv: list[str], timeout: float) -> str:
    with tempfile.TemporaryFile("w+b") as out:
        proc = spawn(argv, out.fileno())
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"h2load did not finish in {timeout:g} s: {' '.join(argv)}") from None
        finally:
            kill(proc, grace=1.0)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"h2load exited with {proc.returncode}: {' '.join(argv)}\n{text}")
    return text


def check_protocol(result: H2loadResult, row: H2Row, output: str) -> None:
    """NoHttp2 unless h2load spoke HTTP/2 and got answers: HTTP/1.1 results never count."""
    want = "h2" if row.tls else "h2c"
    if result.protocol != want:
        raise NoHttp2(f"h2load's application protocol is {result.protocol or 'none'}, not {want}")
    if result.succeeded == 0:
        last = [line for line in output.splitlines() if line.strip()][-12:]
        raise NoHttp2(f"h2load: no request succeeded over {want}\n" + "\n".join(last))


def check_row(port: int, row: H2Row) -> None:
    """A few requests on one connection: status 2xx and exactly the body size the row expects, so no
    server is timed doing something else."""
    output = run_h2load(h2load_argv(port, row, duration=None, requests=PROBE_REQUESTS), 30.0)
    result = parse_h2load(output)
    check_protocol(result, row, output)
    want = PROBE_REQUESTS * row.body_size
    if result.status_2xx != PROBE_REQUESTS or result.data_bytes != want:
        raise RuntimeError(
            f"GET {row.path}: {result.status_2xx}/{PROBE_REQUESTS} 2xx,"
            f" {result.data_bytes} body bytes (want {want})"
        )


# ---------------------------------------------------------------------------------------------- the run


@dataclass
class H2Sample:
    round: int
    req_per_s: float  # 2xx responses per second of h2load's measured time
    latency_max_ms: float
    latency_mean_ms: float
    req_per_cpu_s: float
    cpu_s: float
    cpu_busy: float  # server CPU seconds per second of load: below 1.0 it was waiting, not working
    client_busy: float  # h2load's CPU seconds per second of load: near 1.0 it may be the bottleneck
    alive: float  # share of the run h2load's clients stayed connected (see H2loadResult.alive)
    responses_2xx: int
    failed: int  # h2load's failed requests plus non-2xx responses


@dataclass
class H2Cell:
    samples: list[H2Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    no_http2: dict[int, str] = field(default_factory=dict)  # round -> why HTTP/2 was not negotiated

    def median(self, attr: str) -> float | None:
        values = [float(getattr(s, attr)) for s in self.samples]
        return statistics.median(values) if values else None

    def worst_latency(self) -> float | None:
        return max((s.latency_max_ms for s in self.samples), default=None)


Results = dict[str, dict[str, H2Cell]]


def measure_start(
    spec: H2Server,
    tls: TlsFiles | None,
    rows: Sequence[H2Row],
    round_no: int,
    args: argparse.Namespace,
    logdir: Path,
    results: Results,
) -> None:
    """Start the server (cleartext, or TLS when `tls` is given) pinned to CPU 0, probe its HTTP/2,
    check the rows' routes, warm it up with the first row, then run h2load on every row, appending an
    H2Sample (or a failure, or "no HTTP/2") to `results[row][server]`."""
    transport = "tls" if tls is not None else "h2c"
    port = free_port()
    log_path = logdir / f"{spec.name}-{transport}-round{round_no}.log"
    argv = ["taskset", "-c", SERVER_CPU, *spec.argv(port, tls)]
    with log_path.open("w") as log:
        server = spawn(argv, log)
        try:
            wait_until_listening(server, port, log_path)
            live: list[H2Row] = []
            try:
                probe_http2(port, tls)
            except NoHttp2 as exc:
                for row in rows:
                    note(spec, row, round_no, results, exc)
            else:
                for row in rows:
                    try:
                        check_row(port, row)
                    except NoHttp2 as exc:
                        note(spec, row, round_no, results, exc)
                    else:
                        live.append(row)
            if live and args.warmup > 0:
                run_h2load(h2load_argv(port, live[0], duration=args.warmup), args.warmup + 30)
            for row in live:
                measure_row(spec, server, port, row, round_no, args, log_path, results)
        except RuntimeError as exc:
            message = f"round {round_no}: {exc}"
            print(f"  !! {spec.name} ({transport}): {message}", flush=True)
            for row in rows:
                cell = results[row.name][spec.name]
                measured = any(s.round == round_no for s in cell.samples)
                if not measured and round_no not in cell.no_http2:
                    cell.failures.append(message)
        finally:
            kill(server)
    # Anything the server wrote at warning level or above is worth a look.
    text = log_path.read_text(errors="replace").strip()
    if text:
        print(
            f"  ({spec.name} {transport} logged {len(text.splitlines())} lines: see {log_path})", flush=True
        )


def note(spec: H2Server, row: H2Row, round_no: int, results: Results, exc: NoHttp2) -> None:
    reason = str(exc).splitlines()[0]
    results[row.name][spec.name].no_http2[round_no] = reason
    print(f"  round {round_no} {spec.name:<10} {row.name:<9}  no HTTP/2: {reason}", flush=True)


def reaped_children_cpu() -> float:
    """CPU seconds of our children that have ended and been waited for: around an h2load run, while
    the server lives on, the difference is h2load's own."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_row(
    spec: H2Server,
    server: subprocess.Popen[bytes],
    port: int,
    row: H2Row,
    round_no: int,
    args: argparse.Namespace,
    log_path: Path,
    results: Results,
) -> None:
    tree = process_tree(server.pid)
    before, client_before = cpu_seconds(tree), reaped_children_cpu()
    output = run_h2load(h2load_argv(port, row, duration=args.duration), args.duration + 30)
    cpu, client_cpu = cpu_seconds(tree) - before, reaped_children_cpu() - client_before
    if server.poll() is not None:
        raise RuntimeError(f"server died during {row.name}:\n{tail(log_path)}")
    result = parse_h2load(output)
    try:
        check_protocol(result, row, output)
    except NoHttp2 as exc:
        note(spec, row, round_no, results, exc)
        return
    sample = H2Sample(
        round=round_no,
        req_per_s=result.status_2xx / result.elapsed_s if result.elapsed_s > 0 else 0.0,
        latency_max_ms=result.latency_max_ms,
        latency_mean_ms=result.latency_mean_ms,
        req_per_cpu_s=result.status_2xx / cpu if cpu > 0 else 0.0,
        cpu_s=cpu,
        cpu_busy=cpu / result.elapsed_s if result.elapsed_s > 0 else 0.0,
        client_busy=client_cpu / result.elapsed_s if result.elapsed_s > 0 else 0.0,
        alive=result.alive(row.clients),
        responses_2xx=result.status_2xx,
        failed=result.failed + result.status_other,
    )
    results[row.name][spec.name].samples.append(sample)
    flag = f"  !! failed {sample.failed}" if sample.failed else ""
    if sample.alive < ALIVE_THRESHOLD:
        flag += f"  !! connections closed: clients alive {sample.alive:.0%} of the run"
    print(
        f"  round {round_no} {spec.name:<10} {row.name:<9} {sample.req_per_s:>9.0f} req/s"
        f"  max {sample.latency_max_ms:>7.2f} ms  cpu {cpu:5.2f} s ({sample.cpu_busy:4.0%},"
        f" h2load {sample.client_busy:4.0%})"
        f"  {sample.req_per_cpu_s:>8.0f} req/cpu-s{flag}",
        flush=True,
    )


# ------------------------------------------------------------------------------------------ report


def budget(results: Results, row: H2Row) -> dict[str, object]:
    """tapster against the budget on this row: at least BUDGET_RATIO x Hypercorn's requests/s with a
    max latency (median over rounds) under BUDGET_MAX_LATENCY_MS."""
    cells = results[row.name]
    if "tapster" not in cells or BUDGET_BASELINE not in cells:
        return {"verdict": "not run"}
    ours, theirs = cells["tapster"], cells[BUDGET_BASELINE]
    if ours.no_http2 and not ours.samples:
        return {"verdict": "no HTTP/2", "why": sorted(set(ours.no_http2.values()))}
    rps, base, latency = ours.median("req_per_s"), theirs.median("req_per_s"), ours.median("latency_max_ms")
    if rps is None or not base or latency is None:
        return {"verdict": "not measured"}
    ratio = rps / base
    met = ratio >= BUDGET_RATIO and latency < BUDGET_MAX_LATENCY_MS
    return {"verdict": "met" if met else "missed", "ratio": ratio, "max_latency_ms": latency}


def _server_line(
    name: str, cell: H2Cell, width: int, base: dict[str, tuple[float | None, float | None]]
) -> tuple[str, list[str], dict[str, object]]:
    """One server's line of a row's table, the notes to print under it, and its JSON entry.
    `base` holds each baseline's median requests/s and requests per CPU-second."""
    no_http2 = sorted(set(cell.no_http2.values()))
    entry: dict[str, object] = {"no_http2": no_http2, "failures": cell.failures}
    notes = [f"failed: {failure.splitlines()[0]}" for failure in cell.failures]
    if not cell.samples:
        if no_http2:
            return f"  {name:<{width}} no HTTP/2 ({'; '.join(no_http2)})", notes, entry
        return f"  {name:<{width}} not measured", notes, entry
    notes += [f"no HTTP/2 in round {n}: {why}" for n, why in sorted(cell.no_http2.items())]
    notes += [
        f"round {s.round}: the server closed h2load's connections, clients alive {s.alive:.0%} of the"
        " run (h2load does not reconnect): req/s is not its throughput"
        for s in cell.samples
        if s.alive < ALIVE_THRESHOLD
    ]
    rps, per_cpu = cell.median("req_per_s"), cell.median("req_per_cpu_s")
    busy, client_busy = cell.median("cpu_busy"), cell.median("client_busy")
    values = [s.req_per_s for s in cell.samples]
    failed = sum(s.failed for s in cell.samples)
    line = (
        f"  {name:<{width}} {fmt(rps, '9.0f')} {f'{min(values):.0f}..{max(values):.0f}':>15}"
        f" {fmt(cell.median('latency_max_ms'), '8.2f')} {fmt(cell.worst_latency(), '8.2f')}"
        f" {fmt(per_cpu, '10.0f')} {fmt(None if busy is None else busy * 100, '5.0f')}"
        f" {fmt(None if client_busy is None else client_busy * 100, '7.0f')}"
    )
    for b, (b_rps, b_cpu) in base.items():
        ratio = rps / b_rps if rps is not None and b_rps else None
        cpu_ratio = per_cpu / b_cpu if per_cpu is not None and b_cpu else None
        line += f" {fmt(ratio, '11.2f')} {fmt(cpu_ratio, '8.2f')}"
        entry[f"ratio_to_{b}"] = ratio
        entry[f"cpu_ratio_to_{b}"] = cpu_ratio
    entry.update(
        req_per_s=rps,
        latency_max_ms=cell.median("latency_max_ms"),
        latency_max_worst_ms=cell.worst_latency(),
        latency_mean_ms=cell.median("latency_mean_ms"),
        req_per_cpu_s=per_cpu,
        cpu_busy=busy,
        client_busy=client_busy,
        alive=cell.median("alive"),
        failed=failed,
        samples=[asdict(s) for s in cell.samples],
    )
    return f"{line} {failed:>7}", notes, entry


def report(rows: Sequence[H2Row], specs: Sequence[H2Server], results: Results) -> dict[str, object]:
    """Print a table per row (medians, spread, ratios to each baseline, the budget) and return it as
    data."""
    baselines = [b for b in BASELINES if b in {s.name for s in specs}]
    width = max([len(s.name) for s in specs] + [len("server")])
    summary: dict[str, object] = {}
    for row in rows:
        cells = results[row.name]
        base = {b: (cells[b].median("req_per_s"), cells[b].median("req_per_cpu_s")) for b in baselines}
        print(f"\n{row.name} ({row.describe()})")
        head = f"  {'server':<{width}} {'req/s':>9} {'min..max':>15} {'max ms':>8} {'worst':>8}"
        head += f" {'req/cpu-s':>10} {'cpu%':>5} {'h2load%':>7}"
        for b in baselines:
            head += f" {'x ' + b:>11} {'cpu x ' + b[:2]:>8}"
        print(f"{head} {'failed':>7}")
        table: dict[str, object] = {}
        for spec in specs:
            line, notes, table[spec.name] = _server_line(spec.name, cells[spec.name], width, base)
            print(line)
            for note_text in notes:
                print(f"    {note_text}")
        verdict = budget(results, row)
        if verdict["verdict"] != "not run":
            detail = ""
            if "ratio" in verdict:
                detail = (
                    f": {verdict['ratio']:.2f}x {BUDGET_BASELINE}, max {verdict['max_latency_ms']:.2f} ms"
                )
            print(
                f"  budget (tapster >= {BUDGET_RATIO:g}x {BUDGET_BASELINE},"
                f" max latency < {BUDGET_MAX_LATENCY_MS:g} ms): {verdict['verdict']}{detail}"
            )
        summary[row.name] = {"description": row.describe(), "budget": verdict, "servers": table}
    return summary


# ------------------------------------------------------------------------------------------ main


def check_tools() -> int:
    """0 when h2load, taskset, trustme and 2 CPUs are there, else 2 after saying what is missing."""
    for tool, package in (("h2load", "nghttp2-client"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            print(f"bench-http2: {tool} is not installed (apt-get install {package}; {DEV_COMMAND} does it)")
            return 2
    if importlib.util.find_spec("trustme") is None:
        print(f"bench-http2: trustme is not installed (pip install trustme; {DEV_COMMAND} does it)")
        return 2
    if (os.cpu_count() or 1) < 2:
        print("bench-http2: needs 2 CPUs (server and client are pinned to CPU 0 and CPU 1)")
        return 2
    return 0


def h2load_version() -> str:
    result = subprocess.run(["h2load", "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def select(names: Sequence[str], specs: list[H2Server]) -> tuple[list[H2Server], list[H2Row]] | str:
    """The servers and rows `--only` names (all of a kind when it names none of that kind), or what
    is wrong with the names."""
    wanted = {name for arg in names for name in arg.split(",") if name}
    server_names = {s.name for s in specs}
    row_names = {r.name for r in ROWS}
    unknown = wanted - server_names - row_names
    if unknown:
        return (
            f"unknown name(s) {', '.join(sorted(unknown))}; servers: {', '.join(s.name for s in specs)};"
            f" rows: {', '.join(r.name for r in ROWS)}"
        )
    chosen_specs = [s for s in specs if s.name in wanted] or specs
    chosen_rows = [r for r in ROWS if r.name in wanted] or list(ROWS)
    return chosen_specs, chosen_rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="rounds; every server runs once per round")
    p.add_argument("--duration", type=float, default=8.0, help="seconds of h2load per row (-D)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load per server start")
    p.add_argument("--quick", action="store_true", help="1 round of 3 s (a smoke test)")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="servers and/or rows to run, comma-separated or repeated (default: all)",
    )
    p.add_argument("--json", type=Path, help="also write the JSON summary to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 1, 3.0
    if check_tools():
        return 2
    with tempfile.TemporaryDirectory(prefix="tapster-bench-http2-") as tmp:
        chosen = select(args.only, server_specs(Path(tmp)))
        if isinstance(chosen, str):
            print(f"bench-http2: {chosen}")
            return 2
        specs, rows = chosen
        return run(args, argv, specs, rows, make_tls_files(Path(tmp)))


def run(
    args: argparse.Namespace,
    argv: list[str] | None,
    specs: Sequence[H2Server],
    rows: Sequence[H2Row],
    tls_files: TlsFiles,
) -> int:
    """The interleaved rounds, the report, the JSON summary; 130 when interrupted."""
    # run_summary records args.connections: here it is per row.
    args.connections = {row.name: f"-c{row.clients} -m{row.streams}" for row in rows}
    results: Results = {row.name: {spec.name: H2Cell() for spec in specs} for row in rows}
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    revision_before = git_revision()
    install_signal_handlers()
    interrupted = False
    logdir = Path(tempfile.mkdtemp(prefix="tapster-bench-http2-logs-"))
    transports = [t for t in (False, True) if any(r.tls == t for r in rows)]
    print(
        f"{args.rounds} round(s) x {len(specs)} servers x {len(rows)} rows, {args.duration:g} s each;"
        f" server on CPU {SERVER_CPU}, h2load on CPU {CLIENT_CPU}; git {revision_before};"
        f" logs in {logdir}",
        flush=True,
    )
    for spec in specs:
        print(f"  {spec.name}: {spec.description}", flush=True)
    try:
        for round_no in rounds(args.rounds):
            for spec in specs:
                for tls in transports:
                    group = [r for r in rows if r.tls == tls]
                    measure_start(spec, tls_files if tls else None, group, round_no, args, logdir, results)
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
            versions=("tapster", "hypercorn", "h2", "granian", "uvicorn", "zttp", "uvloop", "trustme"),
        ),
        "h2load": h2load_version(),
        "baselines": [b for b in BASELINES if b in {s.name for s in specs}],
        "budget": {
            "baseline": BUDGET_BASELINE,
            "ratio": BUDGET_RATIO,
            "max_latency_ms": BUDGET_MAX_LATENCY_MS,
        },
        "rows": report(rows, specs, results),
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
