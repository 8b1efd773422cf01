"""The supervisor: binds the sockets once, keeps `workers` worker processes serving them, and acts on
signals, on the workers' reports and on file changes (private; `tapster.supervisor.run` is the API).

One loop, no threads of its own but the file watcher's: it waits (selectors) on the workers'
channels and on a wake-up pipe that signals and the watcher write to, and after every wake-up brings
the set of workers closer to what is wanted (`_reconcile`). A rolling restart, a worker past its
request budget or its memory bound, SIGTTIN/SIGTTOU and a dead worker are all the same few rules:
too few workers: start some; a worker that should be replaced and nobody starting: start its
replacement; more ready workers than wanted: retire the ones to be replaced first.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tapster._bind import close_listeners, describe, inherited_bind, open_listeners
from tapster._prometheus import require_prometheus_client
from tapster.asgi._seam import Listener
from tapster.config import Config
from tapster.errors import ConfigError
from tapster.supervisor._metrics import MetricsEndpoint

from ._channel import Channel, ChannelError
from ._codes import EXIT_APP, EXIT_OK
from ._reload import Watcher

if TYPE_CHECKING:
    from types import FrameType

__all__ = ["AppSpec", "Supervisor"]

log = logging.getLogger("tapster.error")  # (its lines are the server's own: the standard logger)

_FIRST_BACKOFF = 0.1  # seconds before the second replacement in a row of workers that die
_STOP_GRACE = 5.0  # seconds past shutdown + lifespan shutdown before a stopping worker is killed
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD)


@dataclass(frozen=True, slots=True)
class AppSpec:
    """What each worker imports: `module:attribute` (a factory to call when `factory`), from `app_dir`.
    `configure_logging`: the worker sets up tapster's console logging (as the `tapster` command does)."""

    app: str
    factory: bool = False
    app_dir: str = "."
    configure_logging: bool = True


@dataclass(eq=False)
class _Worker:
    proc: subprocess.Popen[bytes]
    channel: Channel
    generation: int
    state: str = "starting"  # starting | ready | retiring | stopping
    since: float = 0.0  # when it entered its state (monotonic seconds)
    deadline: float | None = None  # starting: ready by then; retiring/stopping: gone by then, or killed
    replace: str | None = None  # why it is to be replaced (by a rolling restart)
    failure: str | None = None  # the error it reported before exiting
    killed: str | None = None  # why we killed it

    @property
    def pid(self) -> int:
        return self.proc.pid


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB, from /proc (Linux); None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


class Supervisor:
    """Run with `run()`, which returns the exit code (docs/running.md#exit-codes)."""

    def __init__(self, spec: AppSpec, config: Config) -> None:
        self.spec = spec
        self.config = config
        self.target = max(config.workers, 1)
        self.workers: list[_Worker] = []
        self.generation = 0
        self.addresses: list[str] = []
        self._selector = selectors.DefaultSelector()
        self._signals: list[int] = []
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self._stop_requests = 0
        self._exit_code = EXIT_OK
        self._failures = 0  # workers that died in a row, for the back-off
        self._spawn_not_before = 0.0
        self._announced = False
        self._paused = False  # reload: the app failed to start; wait for a change
        self._reload_pending: str | None = None
        self._next_rss_check = 0.0
        self._watcher: Watcher | None = None
        self._listeners: list[Listener] = []
        self._metrics: MetricsEndpoint | None = None

    # ------------------------------------------------------------------ the loop

    def run(self) -> int:
        """Bind, start the workers, supervise until stopped; the exit code. ConfigError propagates."""
        config = self.config
        self._listeners = open_listeners(config)
        self.addresses = [describe(listener) for listener in self._listeners]
        previous = self._install_signals()
        try:
            if config.reload:
                self._watcher = Watcher(config, self._wake)
                self._watcher.start()
                log.info("Watching for file changes in %s", ", ".join(self._watcher.paths))
            self._selector.register(self._wake_r, selectors.EVENT_READ)
            if config.metrics_bind is not None:
                self._metrics = self._open_metrics(config.metrics_bind)
            self._loop()
        finally:
            if self._metrics is not None:
                self._metrics.close()
            if self._watcher is not None:
                self._watcher.stop()
            for worker in self.workers:  # only after an error in the loop itself
                worker.proc.kill()
                worker.proc.wait()
            self._restore_signals(previous)
            close_listeners(self._listeners)
            self._selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
        return self._exit_code

    def _loop(self) -> None:
        while True:
            self._reconcile()
            if self._stopping and not self.workers:
                return
            for key, _ in self._selector.select(self._timeout()):
                if key.fd == self._wake_r:
                    self._drain_wakeups()
                elif callable(key.data):
                    key.data()  # the metrics endpoint's listener or one of its scrapes
                else:
                    self._read(key.data)
            self._handle_signals()
            self._handle_changes()
            self._reap()
            self._check_deadlines()
            self._check_memory()

    def _timeout(self) -> float | None:
        now = time.monotonic()
        times = [w.deadline for w in self.workers if w.deadline is not None]
        if self._spawn_not_before > now:
            times.append(self._spawn_not_before)
        if self.config.worker_max_rss and any(w.state == "ready" for w in self.workers):
            times.append(self._next_rss_check)
        if self._metrics is not None and (scrape_deadline := self._metrics.next_deadline()) is not None:
            times.append(scrape_deadline)
        # Also wake now and then to reap a worker whose exit left its channel open (a grandchild
        # holding it): SIGCHLD wakes us too, this is the bound if that signal is ever missed.
        times.append(now + 1.0)
        return max(0.0, min(times) - now)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full of wake-ups already

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    # ------------------------------------------------------------------ metrics

    def _open_metrics(self, bind: str) -> MetricsEndpoint:
        """The `--metrics-bind` listener, served here: the sum of the workers' numbers."""
        require_prometheus_client()
        metrics_config = dataclasses.replace(
            self.config, binds=(bind,), certfile=None, keyfile=None, proxy_protocol=False
        )
        (listener,) = open_listeners(metrics_config)
        if listener.tls is not None:
            close_listeners([listener])
            raise ConfigError(f"metrics_bind {bind!r}: with workers the supervisor serves it, in plain HTTP")
        endpoint = MetricsEndpoint(listener.sock, self._selector, self._ask_for_metrics)
        log.info("Metrics on %s/metrics (the workers' numbers, summed)", describe(listener))
        return endpoint

    def _ask_for_metrics(self) -> set[int]:
        asked = set()
        for worker in self.workers:
            if worker.state in ("ready", "retiring") and not worker.channel.closed:
                worker.channel.send({"event": "metrics"})
                asked.add(worker.pid)
        assert self._metrics is not None
        self._metrics.workers = len(self.workers)
        return asked

    # ------------------------------------------------------------------ signals

    def _install_signals(self) -> dict[int, Any]:
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        previous: dict[int, Any] = {sig: signal.signal(sig, self._on_signal) for sig in _SIGNALS}
        previous[-1] = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        return previous

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        signal.set_wakeup_fd(previous.pop(-1))
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if len(self._signals) < 64:  # bounded: a flood of the same signals means the same
            self._signals.append(signum)

    def _handle_signals(self) -> None:
        signals, self._signals = self._signals, []
        for sig in signals:
            if sig in (signal.SIGINT, signal.SIGTERM):
                self.stop(EXIT_OK, f"{signal.Signals(sig).name}: stopping")
            elif self._stopping or sig == signal.SIGCHLD:
                continue
            elif sig == signal.SIGHUP:
                self.generation += 1
                log.info("SIGHUP: restarting the workers one at a time")
            elif sig == signal.SIGTTIN:
                self.target += 1
                log.info("SIGTTIN: %d workers wanted", self.target)
            elif sig == signal.SIGTTOU:
                if self.target > 1:
                    self.target -= 1
                    log.info("SIGTTOU: %d workers wanted", self.target)
                else:
                    log.warning("SIGTTOU ignored: one worker is the least there can be")

    def stop(self, code: int, why: str) -> None:
        """Stop every worker gracefully, then exit with `code`; asked again, the workers' apps are
        cancelled at once (each worker gets SIGTERM, its second shutdown request)."""
        self._stop_requests += 1
        if self._stopping:
            if self._stop_requests == 2:
                log.warning("Asked again: cancelling what the workers still run")
                for worker in self.workers:
                    self._signal(worker, signal.SIGTERM)
            return
        log.info("%s", why)
        self._stopping = True
        self._exit_code = code
        # Our copies of the listening sockets go now: once every worker has closed its own (when it
        # stops accepting), new connections are refused rather than queued for nobody.
        close_listeners(self._listeners)
        deadline = time.monotonic() + self._stop_time()
        for worker in self.workers:
            if worker.state != "stopping":
                worker.channel.send({"event": "stop"})
                self._enter(worker, "stopping", deadline)

    def _stop_time(self) -> float:
        return self.config.shutdown_timeout + self.config.lifespan_shutdown_timeout + _STOP_GRACE

    # ------------------------------------------------------------------ workers

    def _spawn(self) -> _Worker:
        parent, child = socket.socketpair()
        fds = [listener.sock.fileno() for listener in self._listeners]
        command = [sys.executable, "-m", "tapster.supervisor._worker", str(child.fileno())]
        proc = subprocess.Popen(
            command,
            pass_fds=(child.fileno(), *fds),
            stdin=subprocess.DEVNULL,
            # Its own process group: a Ctrl-C at the terminal reaches the supervisor only, which
            # stops the workers in order (a worker that has lost its supervisor stops by itself).
            process_group=0,
        )
        child.close()
        parent.setblocking(False)
        worker = _Worker(proc, Channel(parent), self.generation)
        self._enter(worker, "starting", time.monotonic() + self.config.worker_start_timeout)
        self.workers.append(worker)
        self._selector.register(parent, selectors.EVENT_READ, worker)
        limit = self.config.max_requests
        if limit and self.config.max_requests_jitter:
            limit += random.randint(0, self.config.max_requests_jitter)
        worker_config = dataclasses.replace(
            self.config,
            binds=tuple(
                inherited_bind(listener, fd) for listener, fd in zip(self._listeners, fds, strict=True)
            ),
            workers=0,
            reload=False,
            max_requests=0,
            max_requests_jitter=0,
            worker_max_rss=0,
            metrics_bind=None,  # (served here: each worker only counts)
        )
        worker.channel.send(
            {
                "event": "start",
                "app": self.spec.app,
                "factory": self.spec.factory,
                "app_dir": self.spec.app_dir,
                "configure_logging": self.spec.configure_logging,
                "config": dataclasses.asdict(worker_config),
                "fds": fds,
                "max_requests": limit,
                "metrics": self.config.metrics_bind is not None,
            }
        )
        log.info("Started worker %d", proc.pid)
        return worker

    def _enter(self, worker: _Worker, state: str, deadline: float | None) -> None:
        worker.state = state
        worker.since = time.monotonic()
        worker.deadline = deadline

    def _signal(self, worker: _Worker, sig: int) -> None:
        try:
            worker.proc.send_signal(sig)
        except ProcessLookupError:
            pass

    def _kill(self, worker: _Worker, why: str) -> None:
        log.error("Killing worker %d: %s", worker.pid, why)
        worker.killed = why
        worker.deadline = None
        self._signal(worker, signal.SIGKILL)

    def _retire(self, worker: _Worker) -> None:
        log.info("Retiring worker %d%s", worker.pid, f" ({worker.replace})" if worker.replace else "")
        worker.channel.send({"event": "retire"})
        self._enter(worker, "retiring", time.monotonic() + self._stop_time())

    def _read(self, worker: _Worker) -> None:
        try:
            messages = worker.channel.receive_nowait()
        except ChannelError as exc:
            self._close_channel(worker)
            self._kill(worker, f"it broke the supervisor's protocol ({exc})")
            return
        if messages is None:
            self._close_channel(worker)
            return
        for message in messages:
            event = message["event"]
            if event == "ready" and worker.state == "starting":
                self._enter(worker, "ready", None)
                log.info("Worker %d ready", worker.pid)
            elif event == "failed":
                worker.failure = str(message.get("error", "failed"))
            elif event == "metrics" and self._metrics is not None:
                self._metrics.answered(worker.pid, message)
            elif event == "retire" and worker.replace is None:
                worker.replace = str(message.get("reason", "asked to be replaced"))
                log.info("Worker %d %s: replacing it", worker.pid, worker.replace)

    def _close_channel(self, worker: _Worker) -> None:
        if not worker.channel.closed:
            self._selector.unregister(worker.channel.sock)
            worker.channel.close()

    def _reap(self) -> None:
        for worker in list(self.workers):
            code = worker.proc.poll()
            if code is None:
                continue
            if not worker.channel.closed:
                self._read(worker)  # a last message (its failure) may still be in the pipe
                self._close_channel(worker)
            self.workers.remove(worker)
            self._exited(worker, code)

    def _exited(self, worker: _Worker, code: int) -> None:
        if self._metrics is not None:
            self._metrics.answered(worker.pid, None)  # (gone: it will not answer)
        how = describe_exit(code)
        if worker.state == "starting":
            why = worker.failure or worker.killed or f"it exited before it was ready ({how})"
            if self._stopping:
                return
            if self.config.reload:
                log.error(
                    "Worker %d failed to start (%s): %s; waiting for a file to change", worker.pid, how, why
                )
                self._paused = True
                return
            exit_code = code if code in (2, 3) and worker.failure else EXIT_APP
            log.error("Worker %d failed to start (%s): %s", worker.pid, how, why)
            self.stop(exit_code, "A worker could not start the app: stopping (no respawning a broken app)")
            return
        if worker.state in ("retiring", "stopping"):
            if code == 0:
                log.info("Worker %d stopped", worker.pid)
            else:
                log.warning(
                    "Worker %d stopped (%s)%s", worker.pid, how, f": {worker.killed}" if worker.killed else ""
                )
            return
        # It was serving and nobody asked it to stop.
        lived = time.monotonic() - worker.since
        if lived > self.config.worker_backoff_max:
            self._failures = 0
        delay = (
            0.0
            if self._failures == 0
            else min(self.config.worker_backoff_max, _FIRST_BACKOFF * 2 ** (self._failures - 1))
        )
        self._failures += 1
        self._spawn_not_before = time.monotonic() + delay
        if self._metrics is not None:
            self._metrics.restarts += 1  # tapster_worker_restarts_total
        why = worker.killed or worker.failure or "nobody asked it to"
        log.error(
            "Worker %d died (%s; %s): replacing it%s",
            worker.pid,
            how,
            why,
            f" in {delay:.1f} s" if delay else "",
        )

    def _check_deadlines(self) -> None:
        if self._metrics is not None:
            self._metrics.check_deadlines()
        now = time.monotonic()
        for worker in self.workers:
            if worker.deadline is None or now < worker.deadline:
                continue
            if worker.state == "starting":
                self._kill(
                    worker, f"not ready within worker_start_timeout ({self.config.worker_start_timeout:g} s)"
                )
            else:
                self._kill(worker, f"still running {self._stop_time():g} s after it was told to stop")

    def _check_memory(self) -> None:
        bound = self.config.worker_max_rss
        now = time.monotonic()
        if not bound or now < self._next_rss_check:
            return
        self._next_rss_check = now + self.config.worker_rss_check_interval
        for worker in self.workers:
            if worker.state != "ready" or worker.replace is not None:
                continue
            rss = rss_mib(worker.pid)
            if rss is not None and rss > bound:
                worker.replace = f"uses {rss:.0f} MiB, over worker_max_rss ({bound} MiB)"
                log.warning("Worker %d %s: replacing it", worker.pid, worker.replace)

    # ------------------------------------------------------------------ reload

    def _handle_changes(self) -> None:
        if self._watcher is None or self._stopping:
            return
        changed = self._watcher.take()
        if changed is None:
            return
        log.warning("Detected a change in %r; restarting", changed)
        self._reload_pending = changed
        self._paused = False

    # ------------------------------------------------------------------ the rules

    def _reconcile(self) -> None:
        if self._stopping:
            return
        if self._reload_pending is not None:
            # Development: the old workers stop before the new ones start (they may hold files,
            # ports of their own, a debugger); the listening sockets stay open all along.
            for worker in self.workers:
                if worker.state in ("starting", "ready"):
                    worker.channel.send({"event": "stop"})
                    self._enter(worker, "stopping", time.monotonic() + self._stop_time())
            if self.workers:
                return
            self._reload_pending = None
            self.generation += 1
        if self._paused:
            return
        ready = [w for w in self.workers if w.state == "ready"]
        starting = [w for w in self.workers if w.state == "starting"]
        now = time.monotonic()
        if len(ready) + len(starting) < self.target:
            if now >= self._spawn_not_before:
                for _ in range(self.target - len(ready) - len(starting)):
                    self._spawn()
            return
        stale = [w for w in ready if w.generation < self.generation or w.replace is not None]
        if not starting and stale and len(ready) <= self.target and now >= self._spawn_not_before:
            stale[0].replace = stale[0].replace or "restart"
            self._spawn()
            return
        excess = len(ready) - self.target
        if excess > 0:
            # Retire those to be replaced first, then the oldest.
            order = sorted(ready, key=lambda w: (w not in stale, w.since))
            for worker in order[:excess]:
                self._retire(worker)
        if not self._announced and len(ready) >= self.target and not starting:
            self._announced = True
            log.info(
                "Supervisor %d: %d worker(s) serving on %s",
                os.getpid(),
                len(ready),
                ", ".join(self.addresses),
            )
