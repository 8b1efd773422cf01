"""`--reload`: watch files with watchfiles (inotify/FSEvents through the Rust `notify` crate) in a
thread, and tell the supervisor's loop which file changed (private)."""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any

from tapster.config import Config
from tapster.errors import ConfigError

__all__ = ["ChangeFilter", "Watcher"]

# Directories never worth a restart, whatever the patterns say (firkin's reloader skipped them too).
_SKIP_DIRS = frozenset(("__pycache__", "node_modules", "site-packages"))


# What counts as a change whatever else is given (--reload-include/--reload-exclude add to these).
DEFAULT_INCLUDES = ("*.py",)
DEFAULT_EXCLUDES = (".*", "*~", "*.py[cod]", "__pycache__")


class ChangeFilter:
    """Whether a changed path counts: a file name (or the whole path) matches an include pattern, and
    neither it nor a directory between it and the watched root matches an exclude pattern, nor is a
    cache or a virtualenv."""

    def __init__(self, roots: Sequence[str], includes: Sequence[str], excludes: Sequence[str]) -> None:
        self.roots = [os.path.abspath(r) for r in roots]
        self.includes = tuple(includes)
        self.excludes = tuple(excludes)

    def __call__(self, change: Any, path: str) -> bool:
        return self.matches(path)

    def matches(self, path: str) -> bool:
        path = os.path.abspath(path)
        name = os.path.basename(path)
        if not any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in self.includes):
            return False
        if any(fnmatch.fnmatch(path, p) for p in self.includes if os.sep in p):
            return True  # a file named by its path (firkin run --extra-files) counts whatever its name
        root = next((r for r in self.roots if path == r or path.startswith(r + os.sep)), None)
        parts = PurePath(os.path.relpath(path, root)).parts if root is not None else (name,)
        for i, part in enumerate(parts):
            if any(fnmatch.fnmatch(part, p) for p in self.excludes):
                return False
            if i < len(parts) - 1:
                if part in _SKIP_DIRS:
                    return False
                assert root is not None
                if os.path.isfile(os.path.join(root, *parts[: i + 1], "pyvenv.cfg")):
                    return False
        return True


class Watcher:
    """A daemon thread running watchfiles.watch() on the configured paths. `take()` returns the first
    relevant path changed since the last call (or None); `wake` is called on each change."""

    def __init__(self, config: Config, wake: Callable[[], None]) -> None:
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            raise ConfigError("--reload needs watchfiles: pip install 'tapster[reload]'") from None
        self.paths = [os.path.abspath(p) for p in (config.reload_dirs or (os.getcwd(),))]
        missing = [p for p in self.paths if not os.path.exists(p)]
        if missing:
            raise ConfigError(f"reload_dirs: {', '.join(missing)} does not exist")
        dirs = [p for p in self.paths if os.path.isdir(p)] or [os.getcwd()]
        self.filter = ChangeFilter(
            dirs, DEFAULT_INCLUDES + config.reload_includes, DEFAULT_EXCLUDES + config.reload_excludes
        )
        self._wake = wake
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changed: str | None = None
        self._thread = threading.Thread(target=self._watch, name="tapster-reload", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _watch(self) -> None:
        import watchfiles

        for changes in watchfiles.watch(
            *self.paths,
            watch_filter=self.filter,
            debounce=400,
            step=50,
            stop_event=self._stop,
            rust_timeout=1000,
            raise_interrupt=False,
        ):
            with self._lock:
                if self._changed is None:
                    self._changed = sorted(path for _, path in changes)[0]
            self._wake()

    def take(self) -> str | None:
        with self._lock:
            changed, self._changed = self._changed, None
        return changed

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
