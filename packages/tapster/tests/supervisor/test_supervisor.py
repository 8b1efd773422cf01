"""The supervisor end to end: real `tapster --workers N` processes, real signals, real sockets and
httpx (or raw sockets) as the client. Every wait is for a log line, a response or a process exit."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .procs import APP, Tapster, gone, wait_gone, worker_pids

LOOPS = ["asyncio", "trio"]
Start = Callable[..., Tapster]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "main.py").write_text(APP)
    return tmp_path


@pytest.fixture
def start(project: Path) -> Iterator[Start]:
    """`start(*args)`: `tapster main:app --bind 127.0.0.1:0 ARGS` in the project; killed at teardown."""
    started: list[Tapster] = []

    def run(*args: str, app: str = "main:app") -> Tapster:
        started.append(Tapster(project, app, "--bind", "127.0.0.1:0", *args))
        return started[-1]

    yield run
    for proc in started:
        proc.close()


def pid_of(url: str, client: httpx.Client | None = None) -> int:
    response = client.get(url + "/") if client is not None else httpx.get(url + "/", timeout=10)
    assert response.status_code == 200
    return int(response.text)


@pytest.mark.parametrize("loop", LOOPS)
def test_workers_share_the_listening_socket(start: Start, loop: str) -> None:
    proc = start("--workers", "2", "--loop", loop)
    url = proc.wait_serving()
    workers = set(worker_pids(proc.stderr.text()))
    assert len(workers) == 2
    assert proc.pid not in workers
    seen: set[int] = set()
    for _ in range(300):  # new connections: the kernel hands each to whichever worker accepts first
        seen.add(pid_of(url))
        if seen == workers:
            break
    assert seen == workers
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    assert all(gone(pid) for pid in workers)


def hold_request(url: str) -> tuple[socket.socket, bytes]:
    """A request in flight: /hold answers its head, then waits for the 5-byte body we hold back.
    The socket, and what it received so far."""
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=20)
    sock.sendall(b"POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
    head = b""
    while b"held " not in head:
        data = sock.recv(4096)
        assert data, head
        head += data
    return sock, head


def refused(url: str) -> bool:
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False  # queued as the last copy of the socket closed: reset, try again
    return False


def recv_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("workers", ["0", "2"])
def test_sigterm_finishes_the_request_in_flight(start: Start, loop: str, workers: str) -> None:
    proc = start("--workers", workers, "--loop", loop)
    url = proc.wait_serving("worker(s) serving on" if workers != "0" else "Tapster serving on")
    sock, head = hold_request(url)
    with sock:
        proc.signal(signal.SIGTERM)
        proc.stderr.wait_for("Shutting down", count=max(int(workers), 1))
        # New connections are refused once every process has closed its copy of the socket.
        attempts = 0
        while not refused(url):
            attempts += 1
            assert attempts < 500, "new connections were still accepted"
        sock.sendall(b"12345")
        response = head + recv_all(sock)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.endswith(b"5\r\nheld \r\n5\r\n12345\r\n0\r\n\r\n")
    assert proc.wait() == 0


class Load:
    """Client threads making requests until stopped: `keep_alive` threads each on one httpx.Client
    (its connection reused), `fresh` threads each opening a new connection per request. Every
    failure is kept; so is the PID that answered each request."""

    def __init__(self, url: str, keep_alive: int, fresh: int) -> None:
        self.url = url
        self.failures: list[str] = []
        self.pids: list[list[int]] = [[] for _ in range(keep_alive + fresh)]
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(i, i < keep_alive), daemon=True)
            for i in range(keep_alive + fresh)
        ]
        self._progress = threading.Condition()

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _run(self, index: int, keep_alive: bool) -> None:
        client = httpx.Client(timeout=20) if keep_alive else None
        try:
            for _ in range(20_000):  # bounded, whatever happens
                if self.stop.is_set():
                    return
                try:
                    if client is not None:
                        pid = pid_of(self.url, client)
                    else:
                        with httpx.Client(timeout=20) as once:
                            pid = pid_of(self.url, once)
                except Exception as exc:  # every failure is the test's result
                    kind = "keep-alive" if client is not None else "new connection"
                    self.failures.append(f"{kind}: {type(exc).__name__}: {exc}")
                    continue
                with self._progress:
                    self.pids[index].append(pid)
                    self._progress.notify_all()
        finally:
            if client is not None:
                client.close()

    def wait_each(self, more: int, timeout: float = 60.0) -> None:
        """Until every thread has made `more` requests beyond what it had made at the call."""
        with self._progress:
            goal = [len(p) + more for p in self.pids]
            ok = self._progress.wait_for(
                lambda: all(len(p) >= g for p, g in zip(self.pids, goal, strict=True)), timeout
            )
        assert ok, f"the load stalled: {[len(p) for p in self.pids]}, failures {self.failures}"


@pytest.mark.slow
@pytest.mark.parametrize("loop", LOOPS)
def test_sighup_restarts_workers_one_at_a_time_without_a_failed_request(start: Start, loop: str) -> None:
    proc = start("--workers", "2", "--loop", loop)
    url = proc.wait_serving()
    old = set(worker_pids(proc.stderr.text()))
    with Load(url, keep_alive=3, fresh=2) as load:
        load.wait_each(5)
        proc.signal(signal.SIGHUP)
        proc.stderr.wait_for("SIGHUP: restarting")
        for pid in old:
            proc.stderr.wait_for(f"Worker {pid} stopped")
        load.wait_each(5)
    new = set(worker_pids(proc.stderr.text())) - old
    assert len(new) == 2
    assert load.failures == []
    assert all(gone(pid) for pid in old)
    # Every client, keep-alive ones included, ended up on the new workers.
    assert all(set(pids[-3:]) <= new for pids in load.pids)
    log = proc.stderr.text()
    # One at a time: each old worker retired only after a replacement was ready.
    first_new, second_new = (
        log.index(f"Worker {pid} ready") for pid in sorted(new, key=lambda p: log.index(f"Worker {p} ready"))
    )
    retirements = sorted(log.index(f"Retiring worker {pid}") for pid in old)
    assert first_new < retirements[0] < second_new < retirements[1]
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


@pytest.mark.parametrize("loop", LOOPS)
def test_a_worker_that_dies_is_replaced_with_back_off(start: Start, loop: str) -> None:
    proc = start("--workers", "1", "--loop", loop)
    url = proc.wait_serving()
    first = pid_of(url)
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/die", timeout=10)
    line = proc.stderr.wait_for(f"Worker {first} died")
    assert "exit code 7" in line
    assert "replacing it" in line
    assert " in " not in line.split("replacing it", 1)[1]  # the first replacement is at once
    proc.stderr.wait_for("ready", count=2)
    second = pid_of(url)
    assert second != first
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/die", timeout=10)
    line = proc.stderr.wait_for(f"Worker {second} died")
    assert line.rstrip().endswith("replacing it in 0.1 s")  # died again soon after: back-off
    proc.stderr.wait_for("ready", count=3)
    assert pid_of(url) not in (first, second)
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


@pytest.mark.parametrize("loop", LOOPS)
def test_max_requests_replaces_the_worker_without_a_gap(start: Start, loop: str) -> None:
    proc = start("--workers", "1", "--max-requests", "3", "--loop", loop)
    url = proc.wait_serving()
    with httpx.Client(timeout=10) as client:
        first = [pid_of(url, client) for _ in range(3)]
        assert len(set(first)) == 1
        line = proc.stderr.wait_for("served 3 requests (max_requests): replacing it")
        assert f"Worker {first[0]} " in line
        proc.stderr.wait_for(f"Retiring worker {first[0]}")
        proc.stderr.wait_for("Shutting down")  # the old worker no longer accepts
        # The keep-alive connection's next request is the old worker's last ("connection: close"),
        # or goes to the new one: either way it is answered.
        answers = [pid_of(url, client) for _ in range(3)]
    assert answers[-1] != first[0]
    proc.stderr.wait_for(f"Worker {first[0]} stopped")
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


def test_max_requests_jitter_draws_each_workers_budget(start: Start) -> None:
    proc = start("--workers", "1", "--max-requests", "2", "--max-requests-jitter", "3")
    url = proc.wait_serving()
    for _ in range(6):
        pid_of(url)
    line = proc.stderr.wait_for("requests (max_requests): replacing it")
    served = int(line.split("served ", 1)[1].split()[0])
    assert 2 <= served <= 5
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


def test_worker_max_rss_replaces_a_worker_that_grew(start: Start) -> None:
    proc = start("--workers", "1", "--worker-max-rss", "150", "--worker-rss-check-interval", "0.1")
    url = proc.wait_serving()
    first = pid_of(url)
    assert httpx.get(url + "/grow", timeout=20).status_code == 200  # 200 MiB more
    line = proc.stderr.wait_for("over worker_max_rss (150 MiB): replacing it")
    assert f"Worker {first} uses " in line
    proc.stderr.wait_for(f"Worker {first} stopped")
    assert pid_of(url) != first
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


def test_sigttin_and_sigttou_add_and_remove_a_worker(start: Start) -> None:
    proc = start("--workers", "1")
    proc.wait_serving()
    (first,) = worker_pids(proc.stderr.text())
    proc.signal(signal.SIGTTIN)
    proc.stderr.wait_for("SIGTTIN: 2 workers wanted")
    proc.stderr.wait_for("ready", count=2)
    second = worker_pids(proc.stderr.text())[1]
    assert not gone(first)
    assert not gone(second)
    proc.signal(signal.SIGTTOU)
    proc.stderr.wait_for("SIGTTOU: 1 workers wanted")
    proc.stderr.wait_for(f"Retiring worker {first}")  # the oldest goes
    proc.stderr.wait_for(f"Worker {first} stopped")
    proc.signal(signal.SIGTTOU)
    proc.stderr.wait_for("SIGTTOU ignored: one worker is the least there can be")
    assert not gone(second)
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


def test_an_app_that_fails_to_import_stops_the_supervisor(start: Start, project: Path) -> None:
    (project / "broken.py").write_text("raise RuntimeError('no database configured')\n")
    proc = start("--workers", "2", app="broken:app")
    assert proc.wait() == 3
    log = proc.stderr.text()
    assert "RuntimeError: no database configured" in log  # the traceback
    assert "failed to start" in log
    assert log.count("Started worker") == 2  # no respawning a broken app


def test_a_missing_app_is_a_configuration_error(start: Start) -> None:
    proc = start("--workers", "2", app="nosuchmodule:app")
    assert proc.wait() == 2
    assert "cannot import 'nosuchmodule': no such module" in proc.stderr.text()


def test_a_failed_lifespan_startup_stops_the_supervisor(start: Start, project: Path) -> None:
    (project / "nodb.py").write_text(
        "async def app(scope, receive, send):\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'database unreachable'})\n"
    )
    proc = start("--workers", "2", app="nodb:app")
    assert proc.wait() == 3
    assert "database unreachable" in proc.stderr.text()


def test_a_worker_that_hangs_at_import_is_killed_at_the_start_timeout(start: Start, project: Path) -> None:
    (project / "hangs.py").write_text("import threading\nthreading.Event().wait()\n")
    proc = start("--workers", "1", "--worker-start-timeout", "1", app="hangs:app")
    assert proc.wait() == 3
    assert "not ready within worker_start_timeout (1 s)" in proc.stderr.text()


def test_a_bind_error_is_a_configuration_error(start: Start) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start("--workers", "2", "--bind", f"127.0.0.1:{port}")
        assert proc.wait() == 2
    assert "cannot bind" in proc.stderr.text()


def test_workers_stop_when_their_supervisor_is_killed(start: Start) -> None:
    proc = start("--workers", "2")
    proc.wait_serving()
    workers = worker_pids(proc.stderr.text())
    proc.signal(signal.SIGKILL)
    proc.wait()
    # EOF on their channel: each shuts down gracefully on its own.
    proc.stderr.wait_for("Shutting down", count=len(workers))
    for pid in workers:
        assert wait_gone(pid, 30), f"worker {pid} outlived its supervisor"


def test_a_second_sigterm_cancels_what_is_left(start: Start) -> None:
    proc = start("--workers", "1", "--shutdown-timeout", "60")
    url = proc.wait_serving()
    sock, _ = hold_request(url)
    with sock:
        proc.signal(signal.SIGTERM)
        proc.stderr.wait_for("Shutting down")
        proc.signal(signal.SIGTERM)
        proc.stderr.wait_for("cancelling what the workers still run")
        data = recv_all(sock)  # dropped, well before the 60 s deadline
    assert not data.endswith(b"0\r\n\r\n")
    assert proc.wait() == 0


def touch(path: Path, source: str) -> None:
    """Write `source`, with an mtime that moves forward even on a coarse clock."""
    path.write_text(source)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


@pytest.mark.slow
def test_reload_restarts_on_a_change_and_survives_a_broken_app(start: Start, project: Path) -> None:
    (project / "notes.txt").write_text("not code\n")
    proc = start("--reload")
    url = proc.wait_serving()
    first = pid_of(url)
    assert first != proc.pid  # served by a worker
    # A file the patterns exclude does not restart; the .py file changed after it does, and the
    # change reported is that one.
    touch(project / "notes.txt", "still not code\n")
    touch(project / "main.py", APP.replace('b"%d" % os.getpid()', 'b"v2 %d" % os.getpid()'))
    line = proc.stderr.wait_for("Detected a change in")
    assert "main.py" in line
    proc.stderr.wait_for(f"Worker {first} stopped")
    proc.stderr.wait_for("ready", count=2)
    text = httpx.get(url + "/", timeout=10).text
    assert text.startswith("v2 ")
    second = int(text.split()[1])
    assert gone(first)
    # A broken app: the error is shown, the reloader keeps watching, the socket stays open.
    touch(project / "main.py", "def broken(:\n")
    proc.stderr.wait_for("Detected a change in", count=2)
    proc.stderr.wait_for("SyntaxError")
    proc.stderr.wait_for("failed to start")
    assert gone(second) or wait_gone(second, 30)
    touch(project / "main.py", APP)
    proc.stderr.wait_for("Detected a change in", count=3)
    proc.stderr.wait_for("ready", count=3)
    assert pid_of(url) not in (first, second)
    proc.signal(signal.SIGINT)
    assert proc.wait() == 0


@pytest.mark.slow
def test_reload_include_and_exclude_patterns(start: Start, project: Path) -> None:
    (project / "templates").mkdir()
    (project / "templates" / "page.html").write_text("<p>1</p>\n")
    (project / "generated.py").write_text("x = 1\n")
    proc = start("--reload", "--reload-include", "*.html", "--reload-exclude", "generated.py")
    proc.wait_serving()
    touch(project / "generated.py", "x = 2\n")  # excluded
    touch(project / "templates" / "page.html", "<p>2</p>\n")  # included
    line = proc.stderr.wait_for("Detected a change in")
    assert "page.html" in line
    proc.stderr.wait_for("ready", count=2)
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    assert "generated.py" not in proc.stderr.text()


def test_workers_serve_a_unix_socket_and_the_supervisor_removes_it(start: Start, tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    proc = start("--workers", "2", "--bind", f"unix:{path}")
    proc.wait_serving()
    workers = set(worker_pids(proc.stderr.text()))
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=10) as client:
        assert int(client.get("http://localhost/").text) in workers
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    assert not path.exists(), "the socket file is removed when the supervisor stops"


def _scrape(address: str) -> dict[str, float]:
    """The samples of the supervisor's /metrics page, by their name and labels."""
    response = httpx.get(f"http://{address}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@pytest.mark.parametrize("loop", LOOPS)
def test_metrics_are_the_workers_summed(start: Start, loop: str) -> None:
    with socket.socket() as probe:  # a free port for the metrics listener
        probe.bind(("127.0.0.1", 0))
        metrics = f"127.0.0.1:{probe.getsockname()[1]}"
    proc = start("--workers", "2", "--loop", loop, "--metrics-bind", metrics)
    url = proc.wait_serving()
    proc.stderr.wait_for("Metrics on")
    workers = set(worker_pids(proc.stderr.text()))
    seen: set[int] = set()
    requests = 0
    while seen != workers and requests < 300:  # until both workers answered some
        seen.add(pid_of(url))
        requests += 1
    assert seen == workers
    samples = _scrape(metrics)
    assert samples['tapster_requests_total{method="GET",status="2xx"}'] == requests
    assert samples["tapster_request_duration_seconds_count"] == requests
    assert samples["tapster_workers"] == 2
    assert samples["tapster_worker_restarts_total"] == 0
    assert httpx.get(f"http://{metrics}/other", timeout=10).status_code == 404

    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "/die", timeout=10)
    proc.stderr.wait_for("died")
    proc.stderr.wait_for("Worker", count=1)  # (its replacement's lines follow)
    samples = _scrape(metrics)
    assert samples["tapster_worker_restarts_total"] == 1
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


def test_workers_keep_each_binds_options(start: Start, project: Path) -> None:
    # A worker serves the parent's sockets with their bind options (fd://N?tls=..&proxy_protocol=..):
    # TLS on one bind and not on the other, as the bind strings said.
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(project / "cert.pem"))
    proc = start("--workers", "1", "--certfile", "cert.pem", "--bind", "127.0.0.1:0?tls=0")
    proc.wait_serving()
    addresses = proc.stderr.text().split("worker(s) serving on", 1)[1].splitlines()[0].split(", ")
    secure = next(a.strip() for a in addresses if a.strip().startswith("https://"))
    plain = next(a.strip() for a in addresses if a.strip().startswith("http://"))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    assert httpx.get(secure + "/", verify=context, timeout=10).status_code == 200
    assert httpx.get(plain + "/", timeout=10).status_code == 200
    with pytest.raises(httpx.HTTPError):  # no TLS on the plain one
        httpx.get(plain.replace("http://", "https://") + "/", verify=context, timeout=5)
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
