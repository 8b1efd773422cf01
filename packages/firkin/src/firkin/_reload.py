"""The reloader of `firkin run --reload`: a supervisor that restarts the server on changes (private)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import click

from ._discovery import _split_import_path

if TYPE_CHECKING:
    from types import FrameType


# Set in the server process the reloader starts: the listening socket it inherits.
_FD_ENV = "FIRKIN_RUN_FD"
_POLL_INTERVAL = 1.0  # seconds between two scans of the watched files' mtimes
_CHILD_STOP_TIMEOUT = 10.0  # seconds a server being restarted gets to exit before it is killed
_SKIP_DIRS = frozenset(("__pycache__", "node_modules", "site-packages"))


def _watched_files(roots: Sequence[str], extra: Sequence[str]) -> Iterator[str]:
    """The .py files under `roots` (skipping hidden directories, caches and virtualenvs), and `extra`."""
    for root in roots:
        for directory, subdirs, files in os.walk(root):
            subdirs[:] = [
                d
                for d in subdirs
                if not d.startswith(".")
                and d not in _SKIP_DIRS
                and not os.path.isfile(os.path.join(directory, d, "pyvenv.cfg"))
            ]
            yield from (os.path.join(directory, f) for f in files if f.endswith(".py"))
    yield from extra


def _scan(roots: Sequence[str], extra: Sequence[str]) -> dict[str, int]:
    mtimes: dict[str, int] = {}
    for path in _watched_files(roots, extra):
        try:
            mtimes[path] = os.stat(path).st_mtime_ns
        except OSError:  # removed while we looked
            pass
    return mtimes


def _first_change(before: dict[str, int], now: dict[str, int]) -> str | None:
    for path, mtime in now.items():
        if before.get(path) != mtime:
            return path
    return next((path for path in before if path not in now), None)


def _stop_server(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)  # tapster's graceful shutdown
        try:
            child.wait(_CHILD_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _supervise(sock: socket.socket, roots: Sequence[str], extra: Sequence[str]) -> None:
    """The reloader: run the server in a child process (the same command line, serving on the socket
    we hold) and restart it when a watched file changes, until SIGINT or SIGTERM."""
    stop_signals: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_signals.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    command = [sys.executable, *sys.orig_argv[1:]]
    env = {**os.environ, _FD_ENV: str(sock.fileno())}
    try:
        while not stop_signals:
            mtimes = _scan(roots, extra)
            child = subprocess.Popen(command, env=env, pass_fds=(sock.fileno(),))
            try:
                changed = _wait_for_change(mtimes, roots, extra, child, stop_signals)
            finally:
                _stop_server(child)
            if changed is not None:
                click.echo(f" * Detected a change in {changed!r}, restarting")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_change(
    mtimes: dict[str, int],
    roots: Sequence[str],
    extra: Sequence[str],
    child: subprocess.Popen[bytes],
    stop_signals: list[int],
) -> str | None:
    """The first file that changed, or None once a stop signal came."""
    exit_reported = False
    next_scan = time.monotonic() + _POLL_INTERVAL
    while not stop_signals:
        time.sleep(0.1)  # short, so a stop signal is acted on at once
        if not exit_reported and child.poll() is not None:
            click.echo(
                f" * The server exited (code {child.returncode}); it restarts when a file changes", err=True
            )
            exit_reported = True
        if time.monotonic() >= next_scan:
            changed = _first_change(mtimes, _scan(roots, extra))
            if changed is not None:
                return changed
            next_scan = time.monotonic() + _POLL_INTERVAL
    return None


def _watch_roots(app_import_path: str | None) -> list[str]:
    roots = [os.getcwd()]
    if app_import_path:
        module_path = _split_import_path(app_import_path)[0]
        if module_path.endswith(".py") or os.sep in module_path:
            directory = os.path.dirname(os.path.realpath(module_path))
            if not directory.startswith(roots[0] + os.sep) and directory != roots[0]:
                roots.append(directory)
    return roots
