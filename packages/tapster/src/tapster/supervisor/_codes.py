"""Exit codes of `tapster` (supervised or not) and of its workers (docs/running.md#exit-codes)."""

from __future__ import annotations

__all__ = ["EXIT_APP", "EXIT_CONFIG", "EXIT_ERROR", "EXIT_OK"]

EXIT_OK = 0  # stopped by SIGINT/SIGTERM (or Server.shutdown()) after a graceful shutdown
EXIT_ERROR = 1  # an unexpected error in tapster itself (a traceback says where)
EXIT_CONFIG = 2  # the configuration cannot work: a bad flag, a bind that fails, an app that is not found
EXIT_APP = 3  # the app failed to start: its import raised, its lifespan startup failed, or a worker
# died or hung before it was ready
