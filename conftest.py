"""Shared fixtures: a real tapster server on a real socket, on each backend (asyncio, uvloop, trio);
the real clients the end-to-end tests drive (Debian's tools, headless Chromium)."""

from __future__ import annotations

import contextlib
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import tapster
from tapster import Config, Server
from tapster.backends.asyncio import uvloop_available

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

LOOPS = ["asyncio", "trio"] + (["uvloop"] if uvloop_available() else [])


def require_tool(name: str, package: str) -> str:
    """The path of a program a test drives. A missing one fails the test, saying what to install:
    `./dev test` installs them all, so a skip would only hide a broken install step."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `apt-get install {package}` (./dev test does)", pytrace=False)
    return path


def headless_chromium(profile: Path, *flags: str) -> WebDriver:
    """Debian's Chromium, headless, through Selenium and chromedriver, with a fresh profile and none
    of its background traffic (this machine's network is closed); `flags` are the test's own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = require_tool("chromium", "chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *flags,
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(require_tool("chromedriver", "chromium-driver")))


@contextlib.contextmanager
def chromium_windows(profile: Path, page_load_timeout: float) -> Iterator[WebDriver]:
    """headless_chromium for a test that drives several windows or tabs at once: each keeps running
    its scripts while another is in front (no background throttling); quit at the end."""
    driver = headless_chromium(
        profile,
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
    )
    driver.set_page_load_timeout(page_load_timeout)
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class RunningServer:
    server: Server
    thread: threading.Thread
    errors: list[BaseException] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.addresses[0]

    @property
    def host(self) -> str:
        return self.url.rsplit(":", 1)[0].split("//", 1)[1].strip("[]")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def connect(self, timeout: float = 5.0) -> socket.socket:
        """A raw client socket to the server (for malformed input and timing tests)."""
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        return sock

    def stop(self, timeout: float = 15.0) -> None:
        self.server.shutdown()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "server did not shut down"
        if self.errors:
            raise self.errors[0]


ServeFactory = Callable[..., RunningServer]


@pytest.fixture(params=LOOPS)
def loop_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def start_server(app: Any, loop: str, **overrides: Any) -> RunningServer:
    overrides.setdefault("binds", ("127.0.0.1:0",))
    config = Config(loop=loop, **overrides)
    server = Server(app, config)
    running = RunningServer(server, threading.Thread())

    def target() -> None:
        try:
            tapster.run(app, server=server, install_signals=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the test that started it
            running.errors.append(exc)
            server.started.set()

    running.thread = threading.Thread(target=target, name=f"tapster-{loop}", daemon=True)
    running.thread.start()
    assert server.started.wait(15), "server did not start"
    if running.errors:
        raise running.errors[0]
    return running


@pytest.fixture
def serve(loop_name: str) -> Iterator[ServeFactory]:
    """`serve(app, **config)` starts tapster in a thread on the parametrized loop; stopped at teardown."""
    running: list[RunningServer] = []

    def start(app: Any, **overrides: Any) -> RunningServer:
        server = start_server(app, loop_name, **overrides)
        running.append(server)
        return server

    yield start
    stop_all(running)


def stop_all(running: list[RunningServer]) -> None:
    """Stop the servers still running, then raise the first error any server thread died of (a
    server that crashed in the middle of a test fails that test, even if the test did not look)."""
    for server in running:
        if server.thread.is_alive():
            server.server.shutdown()
            server.thread.join(15)
            assert not server.thread.is_alive(), "server did not shut down"
    errors = [error for server in running for error in server.errors]
    if errors:
        raise errors[0]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Async tests marked `pytest.mark.anyio` (firkin's) run on asyncio and on trio."""
    return str(request.param)


# ----------------------------------------------------------------- child processes

ROOT = Path(__file__).resolve().parent
START_TIMEOUT = 15  # seconds for a child process to say it is ready


class Process:
    """A child process whose output (stdout and stderr) is read line by line by a thread, so that a
    test can wait for a line, and see the whole output when something goes wrong."""

    def __init__(self, args: list[str], ready: str, env: dict[str, str] | None = None, **popen: Any) -> None:
        """Start `args` (in the repository's root, unless `popen` says otherwise: its keywords go to
        subprocess.Popen) and wait for a line matching the regular expression `ready`."""
        self.args = args
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        self.popen = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            **{"cwd": ROOT, **popen},
        )
        self._reader = threading.Thread(target=self._read, name=f"output of {args[0]}", daemon=True)
        self._reader.start()
        self.ready = self.wait_for(ready)

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line)
            self._new.put(line)
        self._new.put(None)  # the output ended: the process is exiting

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                pytest.fail(f"{self.args[0]} did not print {pattern!r}:\n{self.output()}", pytrace=False)
            match = re.search(pattern, line)
            if match is not None:
                return match

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        """SIGTERM (a graceful shutdown), then SIGKILL after 10 s; the exit status, once all the
        output is read."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        status = self.popen.wait(5)
        self._reader.join(5)
        assert self.popen.stdout is not None
        self.popen.stdout.close()
        return status


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(port: int) -> Process:
    """A redis-server (Debian's package; `./dev test` installs it) on `port`, keeping nothing on disk."""
    executable = require_tool("redis-server", "redis-server")
    args = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return Process(args, ready="Ready to accept connections")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A redis-server of this test's own, on a free port: its URL."""
    port = free_port()
    server = start_redis(port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.stop()
