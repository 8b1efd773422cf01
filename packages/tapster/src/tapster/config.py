"""One frozen configuration: every limit and timeout, with units. Validated on construction."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from .errors import ConfigError
from .protocol import H11Limits
from .protocol._rules import H2Limits  # (not from protocol.http2: that imports h2, loaded on first use)

__all__ = ["Config"]

_LOOPS = ("auto", "asyncio", "uvloop", "trio")
_LIFESPAN = ("auto", "on", "off")
# Counts where 0 turns the feature off (every other count must be positive).
_ZERO_IS_OFF = ("workers", "max_requests", "max_requests_jitter", "worker_max_rss")
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


@dataclass(frozen=True, slots=True)
class Config:
    """Server configuration. Every bound that protects the server lives here (docs/configuration.md)."""

    binds: tuple[str, ...] = ("127.0.0.1:8000",)  # host:port, [v6]:port, unix:/path, fd://N
    loop: str = "auto"  # auto (uvloop if installed, else asyncio) | asyncio | uvloop | trio
    root_path: str = ""  # ASGI root_path: the prefix the app is mounted under behind a proxy
    access_log: bool = False  # one line per response on the "tapster.access" logger
    log_level: str = "info"
    certfile: str | None = None  # PEM certificate chain: serve HTTPS
    keyfile: str | None = None  # PEM private key for certfile
    server_header: bool = True  # send "server: tapster"
    date_header: bool = True  # send "date:" (RFC 9110 §6.6.1), cached per second
    lifespan: str = "auto"  # auto: run it if the app supports it | on: required | off
    backlog: int = 2048  # listen() backlog, connections

    # Request limits (RFC 9112 heads; precedents in tapster.protocol.H11Limits).
    max_head_size: int = 16 * 1024  # bytes of request line + headers -> 431 (414 for the line)
    max_headers: int = 100  # header fields -> 431
    max_chunk_extensions: int = 4 * 1024  # bytes of chunk extensions per body -> 400
    max_body_buffer: int = 64 * 1024  # bytes of request body buffered for the app before reading pauses
    max_pipelined: int = 64 * 1024  # bytes read ahead of the request being answered before reading pauses
    write_buffer_size: int = 64 * 1024  # bytes queued to the socket before send() waits for it to drain

    # Timeouts, seconds.
    head_timeout: float = 10.0  # first byte -> full request head, else 408 and close (slowloris)
    keep_alive_timeout: float = 5.0  # idle between requests (and before the first byte) -> close
    body_timeout: float = 30.0  # no request-body progress while the body is wanted -> 408 / disconnect
    linger_timeout: float = 2.0  # after an error with input still arriving: read and discard, then close
    shutdown_timeout: float = 30.0  # graceful shutdown: in-flight requests get this long, then cancelled
    lifespan_startup_timeout: float = 60.0  # lifespan.startup must complete within this
    lifespan_shutdown_timeout: float = 30.0  # lifespan.shutdown must complete within this

    # WebSocket (RFC 6455). Precedents: websockets and Uvicorn use 1 MiB messages and 20 s / 20 s pings.
    ws_max_message_size: int = 1024 * 1024  # bytes of one message, after decompression -> close 1009
    ws_max_queue: int = 16  # messages received but not yet taken by the app before reading pauses
    ws_ping_interval: float = 20.0  # seconds between the server's pings; 0 sends none
    ws_ping_timeout: float = 20.0  # seconds to wait for a pong (-> close 1011) or a close answer
    ws_per_message_deflate: bool = True  # accept permessage-deflate compression (RFC 7692)
    ws_deflate_window_bits: int = 12  # our compressor's window (2**n bytes), and the client's when it lets us
    ws_deflate_level: int = 1  # zlib compression level, 1 (fastest) to 9 (smallest)
    ws_deflate_idle_timeout: float = 10.0  # seconds without a message, then a websocket's zlib state is freed

    # HTTP/2 (RFC 9113). Precedents in tapster.protocol.http2.H2Limits.
    http2: bool = True  # offer h2 by ALPN over TLS, and serve h2c (prior knowledge, Upgrade) on cleartext
    h2_max_concurrent_streams: int = 100  # streams open at once per connection; more -> REFUSED_STREAM
    h2_max_header_list_size: int = 64 * 1024  # bytes of a decoded header list (CONTINUATION included)
    h2_stream_window: int = 64 * 1024  # bytes of request body a client may send ahead of the app
    h2_max_resets: int = 200  # client stream resets in a burst (rapid reset) ...
    h2_resets_per_second: float = 20.0  # ... then this many a second, else GOAWAY ENHANCE_YOUR_CALM
    h2_max_control_frames: int = 1000  # SETTINGS/PING/PRIORITY/small WINDOW_UPDATE/empty DATA burst ...
    h2_control_frames_per_second: float = 200.0  # ... then this many a second, else GOAWAY

    # The supervisor (tapster.supervisor; docs/running.md#workers-and-signals). With workers = 0 and
    # no reload, tapster serves in its own process and none of these apply.
    workers: int = 0  # worker processes sharing the listening sockets; 0: serve in this process
    max_requests: int = 0  # requests a worker serves before it is replaced; 0: no limit
    max_requests_jitter: int = 0  # up to this many more, drawn per worker, so they are not replaced at once
    worker_max_rss: int = 0  # MiB of resident memory past which a worker is replaced; 0: no limit
    worker_rss_check_interval: float = 10.0  # seconds between two checks of the workers' memory
    worker_start_timeout: float = 90.0  # seconds from a worker's start to ready (app import + lifespan)
    worker_backoff_max: float = 10.0  # seconds: the longest wait before replacing a worker that keeps dying
    reload: bool = False  # development: restart the worker when a watched file changes
    reload_dirs: tuple[str, ...] = ()  # directories (or files) watched; () watches the current directory
    reload_includes: tuple[str, ...] = ("*.py",)  # glob patterns of the file names (or paths) that count
    reload_excludes: tuple[str, ...] = (".*", "*~", "*.py[cod]", "__pycache__")  # glob patterns ignored

    def __post_init__(self) -> None:
        if not self.binds:
            raise ConfigError("at least one bind address is needed, e.g. --bind 127.0.0.1:8000")
        if isinstance(self.binds, str) or not isinstance(self.binds, tuple):
            raise ConfigError(f"binds must be a tuple of strings, got {self.binds!r}")
        if self.loop not in _LOOPS:
            raise ConfigError(f"loop must be one of {', '.join(_LOOPS)}; got {self.loop!r}")
        if self.lifespan not in _LIFESPAN:
            raise ConfigError(f"lifespan must be one of {', '.join(_LIFESPAN)}; got {self.lifespan!r}")
        if self.log_level.lower() not in _LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(_LOG_LEVELS)}; got {self.log_level!r}")
        if self.root_path and (not self.root_path.startswith("/") or self.root_path.endswith("/")):
            raise ConfigError(f"root_path must start with '/' and not end with one; got {self.root_path!r}")
        if self.keyfile is not None and self.certfile is None:
            raise ConfigError("keyfile given without certfile: pass --certfile too")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _ZERO_IS_OFF:
                if type(value) is not int or value < 0:
                    raise ConfigError(f"{f.name} must be an integer >= 0 (0: off); got {value!r}")
                continue
            is_count = f.name.startswith(("max_", "ws_max_", "h2_max_")) or f.name in (
                "write_buffer_size",
                "backlog",
                "h2_stream_window",
            )
            if is_count and (type(value) is not int or value <= 0):
                raise ConfigError(f"{f.name} must be a positive integer; got {value!r}")
            is_seconds = f.name.endswith("_timeout")
            if is_seconds and (type(value) not in (int, float) or not value > 0):
                raise ConfigError(f"{f.name} must be a positive number of seconds; got {value!r}")
            if (
                f.name.endswith(("_per_second", "_interval", "_max"))
                and f.name != "ws_ping_interval"
                and (type(value) not in (int, float) or not value > 0)
            ):
                raise ConfigError(f"{f.name} must be a positive number of seconds; got {value!r}")
            if f.name.endswith("_per_second") and (type(value) not in (int, float) or not value > 0):
                raise ConfigError(f"{f.name} must be a positive number (per second); got {value!r}")
        if self.h2_stream_window > 2**31 - 1:
            raise ConfigError(
                f"h2_stream_window must be at most 2**31-1 (RFC 9113 §6.9.1); got {self.h2_stream_window}"
            )
        if type(self.ws_deflate_window_bits) is not int or not 9 <= self.ws_deflate_window_bits <= 15:
            raise ConfigError(
                f"ws_deflate_window_bits must be an integer from 9 to 15; got {self.ws_deflate_window_bits!r}"
            )
        if type(self.ws_deflate_level) is not int or not 1 <= self.ws_deflate_level <= 9:
            raise ConfigError(
                f"ws_deflate_level must be an integer from 1 to 9; got {self.ws_deflate_level!r}"
            )
        if type(self.ws_ping_interval) not in (int, float) or not self.ws_ping_interval >= 0:
            raise ConfigError(
                f"ws_ping_interval must be >= 0 seconds (0: no pings); got {self.ws_ping_interval!r}"
            )

        self._check_supervisor()

    def _check_supervisor(self) -> None:
        supervised = self.workers > 0 or self.reload
        if not supervised and (self.max_requests or self.worker_max_rss):
            raise ConfigError(
                "max_requests and worker_max_rss replace workers: they need a supervisor (--workers N)"
            )
        if self.max_requests_jitter and not self.max_requests:
            raise ConfigError("max_requests_jitter needs max_requests")
        for name in ("reload_dirs", "reload_includes", "reload_excludes"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{name} must be a tuple of non-empty strings; got {value!r}")
        if not self.reload_includes:
            raise ConfigError("reload_includes is empty: no file change would ever restart the server")

    @property
    def h11_limits(self) -> H11Limits:
        return H11Limits(
            max_head_size=self.max_head_size,
            max_headers=self.max_headers,
            max_chunk_extensions=self.max_chunk_extensions,
            max_pipelined=self.max_pipelined,
        )

    @property
    def h2_limits(self) -> H2Limits:
        return H2Limits(
            max_concurrent_streams=self.h2_max_concurrent_streams,
            max_header_list_size=self.h2_max_header_list_size,
            stream_window=self.h2_stream_window,
            max_resets=self.h2_max_resets,
            resets_per_second=self.h2_resets_per_second,
            max_control_frames=self.h2_max_control_frames,
            control_frames_per_second=self.h2_control_frames_per_second,
        )

    @property
    def python_log_level(self) -> int:
        level = self.log_level.lower()
        return 5 if level == "trace" else int(logging.getLevelName(level.upper()))
