"""Workers, signals and reload: the layer that runs tapster in production (and in development).

`run()` binds the listening sockets once and keeps `config.workers` worker processes serving them
(one with `config.reload`). Each worker is a fresh interpreter (`python -m
tapster.supervisor._worker`) that inherits the sockets, imports the app by name and runs the
ordinary single-process server; docs/architecture.md says why it is not fork() or multiprocessing.

Signals to the supervisor: SIGINT/SIGTERM stop every worker gracefully (twice: at once); SIGHUP
replaces the workers one at a time, each replacement ready before its predecessor retires;
SIGTTIN/SIGTTOU add and remove a worker. The exit code says why it stopped (`EXIT_*`).
"""

from __future__ import annotations

from tapster.config import Config

from ._codes import EXIT_APP, EXIT_CONFIG, EXIT_ERROR, EXIT_OK
from ._supervisor import AppSpec, Supervisor

__all__ = ["EXIT_APP", "EXIT_CONFIG", "EXIT_ERROR", "EXIT_OK", "AppSpec", "Supervisor", "run"]


def run(
    app: str, config: Config, *, factory: bool = False, app_dir: str = ".", configure_logging: bool = True
) -> int:
    """Serve the app named `app` ("module:attribute") in supervised worker processes until
    SIGINT/SIGTERM; returns the exit code. Call it from the main thread (it handles signals).
    Raises ConfigError when the sockets cannot be bound or reload cannot start."""
    return Supervisor(AppSpec(app, factory, app_dir, configure_logging), config).run()
