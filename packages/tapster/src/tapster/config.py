"""One frozen configuration: every limit and timeout, with units. Validated on construction.

Each field is a setting with a group, and the group names the TOML table it lives in: the field
`h2_max_concurrent_streams` is `[http2] max_concurrent_streams` in a config file, the flag
`--h2-max-concurrent-streams` and the variable `TAPSTER_H2_MAX_CONCURRENT_STREAMS` (`settings()` lists them,
`tapster._settings` reads them, docs/configuration.md is the reference).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, TypeVar

from ._access import DEFAULT_FORMAT as DEFAULT_ACCESS_FORMAT
from ._access import check_format
from ._bindspec import parse_bind
from ._trust import DEFAULT_TRUSTED, TrustedProxies
from .errors import ConfigError
from .protocol import H11Limits
from .protocol._rules import H2Limits  # (not from protocol.http2: that imports h2, loaded on first use)

__all__ = ["GROUPS", "Config", "Setting", "settings"]

_LOOPS = ("auto", "asyncio", "uvloop", "trio")
_LIFESPAN = ("auto", "on", "off")
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
_INTERFACES = ("auto", "asgi3", "asgi2", "wsgi")
_FORWARDED_HEADERS = ("x-forwarded", "forwarded")
# Counts where 0 turns the feature off (every other count must be positive).
_ZERO_IS_OFF = ("workers", "max_requests", "max_requests_jitter", "worker_max_rss")

# The TOML tables, in reference order, and the prefix a field of the group drops in its key there.
GROUPS: dict[str, str] = {
    "server": "",
    "proxy": "",
    "logging": "",
    "limits": "",
    "timeouts": "",
    "websocket": "ws_",
    "http2": "h2_",
    "metrics": "metrics_",
    "workers": "",
}

_T = TypeVar("_T")


def _setting(
    default: _T,
    group: str,
    help: str,
    *,
    unit: str | None = None,
    key: str | None = None,
    flags: tuple[str, ...] = (),
    choices: tuple[str, ...] | None = None,
) -> _T:
    """A Config field with what the file, the environment and the command line need to know of it."""
    metadata = {"group": group, "help": help, "unit": unit, "key": key, "flags": flags, "choices": choices}
    field: _T = dataclasses.field(default=default, metadata=metadata)
    return field


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as the config file, the environment and the command line name it."""

    name: str  # the Config field
    group: str  # the TOML table
    key: str  # the key in that table
    flag: str  # the command-line flag; aliases in `aliases`
    env: str  # the environment variable
    kind: str  # bool | int | optional-int | float | str | optional-str | list (of str)
    default: Any
    help: str
    unit: str | None
    choices: tuple[str, ...] | None
    aliases: tuple[str, ...]


_KINDS = {
    "bool": "bool",
    "int": "int",
    "float": "float",
    "str": "str",
    "str | None": "optional-str",
    "int | None": "optional-int",
    "tuple[str, ...]": "list",
}


def _unit(kind: str, unit: str | None) -> str | None:
    if unit is not None or kind not in ("int", "float", "optional-int"):
        return unit
    return "seconds" if kind == "float" else "bytes"


def settings() -> tuple[Setting, ...]:
    """Every setting of Config, in reference order."""
    out = []
    for f in dataclasses.fields(Config):
        meta = f.metadata
        group = meta["group"]
        prefix = GROUPS[group]
        key = meta["key"] or (f.name[len(prefix) :] if prefix and f.name.startswith(prefix) else f.name)
        flag_name = meta["key"] if meta["key"] and not prefix else f.name
        kind = _KINDS[str(f.type)]
        out.append(
            Setting(
                name=f.name,
                group=group,
                key=key,
                flag="--" + flag_name.replace("_", "-"),
                env="TAPSTER_" + flag_name.upper(),
                kind=kind,
                default=f.default,
                help=meta["help"],
                unit=_unit(kind, meta["unit"]),
                choices=meta["choices"],
                aliases=meta["flags"],
            )
        )
    out.sort(key=lambda s: list(GROUPS).index(s.group))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Config:
    """Server configuration. Every bound that protects the server lives here (docs/configuration.md)."""

    # [server]
    binds: tuple[str, ...] = _setting(
        ("127.0.0.1:8000",),
        "server",
        "host:port, [ipv6]:port, unix:/path, fd://N or systemd:[NAME], each with optional "
        "?tls=0|1&certfile=..&keyfile=..&proxy_protocol=0|1 (unix: also mode=660&owner=..&group=..); "
        "repeatable",
        key="bind",
        flags=("-b",),
    )
    loop: str = _setting(
        "auto", "server", "event loop: auto (uvloop if installed, else asyncio)", choices=_LOOPS
    )
    lifespan: str = _setting(
        "auto", "server", "auto: run it if the app supports it | on: required", choices=_LIFESPAN
    )
    root_path: str = _setting(
        "", "server", "ASGI root_path: the prefix the app is mounted under behind a proxy"
    )
    certfile: str | None = _setting(None, "server", "PEM certificate (chain): serve HTTPS")
    keyfile: str | None = _setting(None, "server", "PEM private key for certfile")
    server_header: bool = _setting(True, "server", "send 'server: tapster'")
    date_header: bool = _setting(True, "server", "send 'date:' (RFC 9110 §6.6.1), formatted once a second")
    backlog: int = _setting(2048, "server", "listen() backlog", unit="connections")
    interface: str = _setting(
        "auto",
        "server",
        "how the app is called: auto (WSGI or ASGI 2 when it clearly is one, else ASGI 3)",
        choices=_INTERFACES,
    )
    # Precedents: Uvicorn's and a2wsgi's WSGI middleware 10, Waitress 4, Gunicorn's gthread 1.
    wsgi_threads: int = _setting(
        10, "server", "threads that run WSGI requests; more wait for one to come free", unit="threads"
    )

    # [proxy] Behind a proxy (docs/running.md, "Behind a proxy").
    proxy_headers: bool = _setting(
        False, "proxy", "take the client, scheme and host from the proxy's headers (trusted peers only)"
    )
    forwarded_allow_ips: str = _setting(
        DEFAULT_TRUSTED,
        "proxy",
        "trusted proxies, comma-separated: addresses, CIDRs, unix (unix socket peers), * (all)",
    )
    forwarded_header: str = _setting(
        "x-forwarded",
        "proxy",
        "the header the proxy sets: X-Forwarded-For/-Proto/-Host or RFC 7239 Forwarded",
        choices=_FORWARDED_HEADERS,
    )
    proxy_protocol: bool = _setting(
        False, "proxy", "every bind expects a PROXY protocol v1/v2 header (a bind's ?proxy_protocol= wins)"
    )
    # Before the header the connection is idle before its first byte, which keep_alive_timeout (5 s)
    # bounds everywhere else.
    proxy_protocol_timeout: float = _setting(
        5.0, "proxy", "from accept to a complete PROXY header; else close"
    )
    # v1 is 107 bytes by its spec; v2's length field allows 64 KiB. HAProxy sends ~30-100 bytes with
    # the usual TLVs; cloud load balancers add IDs of a few hundred.
    max_proxy_header_size: int = _setting(
        4096, "proxy", "a PROXY v2 header, TLVs included (at least 16); more: close"
    )

    # [logging]
    access_log: bool = _setting(False, "logging", "log one line per response on the 'tapster.access' logger")
    log_level: str = _setting("info", "logging", "level of the 'tapster' loggers", choices=_LOG_LEVELS)

    # [limits] Request limits (RFC 9112 heads; precedents in tapster.protocol.H11Limits).
    max_head_size: int = _setting(16 * 1024, "limits", "request line + headers; more: 431 (414 for the line)")
    max_headers: int = _setting(100, "limits", "header fields of a request; more: 431", unit="fields")
    max_chunk_extensions: int = _setting(4 * 1024, "limits", "chunk-extension bytes of one body; more: 400")
    max_body_buffer: int = _setting(
        64 * 1024, "limits", "request body buffered for the app before reading pauses"
    )
    max_pipelined: int = _setting(
        64 * 1024, "limits", "bytes read ahead of the request being answered before reading pauses"
    )
    write_buffer_size: int = _setting(
        64 * 1024, "limits", "bytes queued to the socket before the app's send() waits for it to drain"
    )

    # [timeouts]
    head_timeout: float = _setting(10.0, "timeouts", "first byte to a full request head; else 408, close")
    keep_alive_timeout: float = _setting(
        5.0,
        "timeouts",
        "idle between requests (and before the first); then close",
        flags=("--timeout-keep-alive", "--keep-alive"),
    )
    body_timeout: float = _setting(
        30.0, "timeouts", "no request-body progress while it is wanted; 408/disconnect"
    )
    linger_timeout: float = _setting(
        2.0, "timeouts", "after an error with input still arriving: discard, then close"
    )
    shutdown_timeout: float = _setting(
        30.0,
        "timeouts",
        "graceful shutdown: in-flight requests get this long, then are cancelled",
        flags=("--timeout-graceful-shutdown", "--graceful-timeout"),
    )
    lifespan_startup_timeout: float = _setting(60.0, "timeouts", "lifespan.startup must complete within this")
    lifespan_shutdown_timeout: float = _setting(
        30.0, "timeouts", "lifespan.shutdown must complete within this"
    )

    # [websocket] RFC 6455. Precedents: websockets and Uvicorn use 1 MiB messages and 20 s / 20 s pings.
    ws_max_message_size: int = _setting(
        1024 * 1024, "websocket", "one message, after decompression; more: close 1009"
    )
    ws_max_queue: int = _setting(
        16, "websocket", "messages received, not yet taken by the app, before reading pauses", unit="messages"
    )
    ws_ping_interval: float = _setting(20.0, "websocket", "between the server's pings; 0 sends none")
    ws_ping_timeout: float = _setting(
        20.0, "websocket", "wait for a pong (else close 1011) or a close answer"
    )
    ws_per_message_deflate: bool = _setting(
        True, "websocket", "accept permessage-deflate compression (RFC 7692)"
    )
    ws_deflate_window_bits: int = _setting(
        12, "websocket", "our compressor's window (2**n bytes), and the client's when it lets us", unit="bits"
    )
    ws_deflate_level: int = _setting(1, "websocket", "zlib level, 1 (fastest) to 9 (smallest)", unit="level")
    ws_deflate_idle_timeout: float = _setting(
        10.0, "websocket", "without a message, then a websocket's zlib state is freed"
    )

    # [http2] RFC 9113. Precedents in tapster.protocol.http2.H2Limits.
    http2: bool = _setting(True, "http2", "offer h2 by ALPN over TLS, serve h2c on cleartext", key="enabled")
    h2_max_concurrent_streams: int = _setting(
        100, "http2", "streams open at once per connection; more: REFUSED_STREAM", unit="streams"
    )
    h2_max_header_list_size: int = _setting(
        64 * 1024, "http2", "a decoded header list (CONTINUATION included); more: GOAWAY"
    )
    h2_stream_window: int = _setting(64 * 1024, "http2", "request body a client may send ahead of the app")
    h2_max_resets: int = _setting(
        200, "http2", "client stream resets in a burst (rapid reset) ...", unit="resets"
    )
    h2_resets_per_second: float = _setting(
        20.0, "http2", "... then this many a second; more: GOAWAY ENHANCE_YOUR_CALM", unit="resets a second"
    )
    h2_max_control_frames: int = _setting(
        1000, "http2", "SETTINGS/PING/PRIORITY/small WINDOW_UPDATE/empty DATA in a burst ...", unit="frames"
    )
    h2_control_frames_per_second: float = _setting(
        200.0, "http2", "... then this many a second; more: GOAWAY ENHANCE_YOUR_CALM", unit="frames a second"
    )

    # [limits] Admission (docs/limits.md#admission). None: no bound.
    limit_concurrency: int | None = _setting(
        None, "limits", "app calls in flight (requests, websockets); more: 503 + Retry-After", unit="calls"
    )
    max_connections: int | None = _setting(
        None,
        "limits",
        "open connections; at the bound accepting pauses (the backlog waits)",
        unit="connections",
    )

    # [logging] (docs/running.md#logging)
    log_config: str | None = _setting(
        None, "logging", "logging config file: .json/.toml/.yaml (dictConfig) or .ini (fileConfig)"
    )
    access_log_format: str = _setting(
        DEFAULT_ACCESS_FORMAT, "logging", "access-log atoms like Gunicorn's (%(h)s %(r)s %(s)s ...), or json"
    )

    # [metrics] (docs/running.md#metrics)
    metrics_bind: str | None = _setting(None, "metrics", "host:port serving Prometheus metrics on /metrics")
    statsd_host: str | None = _setting(
        None, "metrics", "send StatsD datagrams to host:port (UDP) or unix:/path"
    )
    statsd_prefix: str = _setting("tapster", "metrics", "prefix of every StatsD metric name")
    dogstatsd_tags: tuple[str, ...] = _setting(
        (), "metrics", "DogStatsD tags (env:prod), repeatable; with any, method and status are tags too"
    )
    statsd_max_packet: int = _setting(1432, "metrics", "one StatsD datagram (lines are batched up to it)")

    # [workers] The supervisor (tapster.supervisor; docs/running.md#workers-and-signals). With workers = 0
    # and no reload, tapster serves in its own process and none of these apply.
    workers: int = _setting(
        0,
        "workers",
        "worker processes sharing the listening sockets; 0: serve in this process",
        unit="processes",
    )
    max_requests: int = _setting(
        0, "workers", "requests a worker serves before it is replaced; 0: no limit", unit="requests"
    )
    max_requests_jitter: int = _setting(
        0,
        "workers",
        "up to this many more, drawn per worker, so they are not replaced at once",
        unit="requests",
    )
    worker_max_rss: int = _setting(
        0, "workers", "resident memory past which a worker is replaced; 0: no limit", unit="MiB"
    )
    worker_rss_check_interval: float = _setting(10.0, "workers", "between two checks of the workers' memory")
    worker_start_timeout: float = _setting(
        90.0, "workers", "from a worker's start to ready (app import and lifespan startup)"
    )
    worker_backoff_max: float = _setting(
        10.0, "workers", "the longest wait before replacing a worker that keeps dying"
    )
    reload: bool = _setting(False, "workers", "development: restart the worker when a watched file changes")
    reload_dirs: tuple[str, ...] = _setting(
        (),
        "workers",
        "directories (or files) the reloader watches, repeatable; none: the current one",
        key="reload_dir",
    )
    reload_includes: tuple[str, ...] = _setting(
        (), "workers", "file patterns that count as a change, besides *.py; repeatable", key="reload_include"
    )
    reload_excludes: tuple[str, ...] = _setting(
        (),
        "workers",
        "file or directory patterns ignored, besides .* *~ *.py[cod] __pycache__; repeatable",
        key="reload_exclude",
    )

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
        if self.interface not in _INTERFACES:
            raise ConfigError(f"interface must be one of {', '.join(_INTERFACES)}; got {self.interface!r}")
        if type(self.wsgi_threads) is not int or self.wsgi_threads <= 0:
            raise ConfigError(f"wsgi_threads must be a positive integer; got {self.wsgi_threads!r}")
        if self.root_path and (not self.root_path.startswith("/") or self.root_path.endswith("/")):
            raise ConfigError(f"root_path must start with '/' and not end with one; got {self.root_path!r}")
        if self.keyfile is not None and self.certfile is None:
            raise ConfigError("keyfile given without certfile: pass --certfile too")
        for bind in self.binds:
            if not isinstance(bind, str):
                raise ConfigError(f"binds must be a tuple of strings, got {bind!r} in it")
            spec = parse_bind(bind)
            if spec.tls and spec.certfile is None and self.certfile is None:
                raise ConfigError(
                    f"bind {bind!r}: tls=1 needs a certificate: --certfile, or certfile= on the bind"
                )
        if not isinstance(self.forwarded_allow_ips, str):
            raise ConfigError(
                f"forwarded_allow_ips must be a comma-separated str; got {self.forwarded_allow_ips!r}"
            )
        TrustedProxies(self.forwarded_allow_ips)  # (raises ConfigError naming the bad entry)
        if self.forwarded_header not in _FORWARDED_HEADERS:
            raise ConfigError(
                f"forwarded_header must be one of {', '.join(_FORWARDED_HEADERS)}; "
                f"got {self.forwarded_header!r}"
            )
        if type(self.max_proxy_header_size) is int and self.max_proxy_header_size < 16:
            raise ConfigError(
                f"max_proxy_header_size must be at least 16 (a PROXY v2 header's fixed part); "
                f"got {self.max_proxy_header_size}"
            )
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in ("limit_concurrency", "max_connections"):
                continue
            if f.name in _ZERO_IS_OFF:
                if type(value) is not int or value < 0:
                    raise ConfigError(f"{f.name} must be an integer >= 0 (0: off); got {value!r}")
                continue
            is_count = f.name.startswith(("max_", "ws_max_", "h2_max_")) or f.name in (
                "write_buffer_size",
                "backlog",
                "h2_stream_window",
                "limit_concurrency",
            )
            if is_count and (type(value) is not int or value <= 0):
                raise ConfigError(f"{f.name} must be a positive integer; got {value!r}")
            is_seconds = f.name.endswith("_timeout")
            if is_seconds and (type(value) not in (int, float) or not value > 0):
                raise ConfigError(f"{f.name} must be a positive number of seconds; got {value!r}")
            if f.name.endswith("_per_second") and (type(value) not in (int, float) or not value > 0):
                raise ConfigError(f"{f.name} must be a positive number (per second); got {value!r}")
        self._check_supervisor()
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

        self._check_observability()

    def _check_observability(self) -> None:
        try:
            check_format(self.access_log_format)
        except ValueError as exc:
            raise ConfigError(f"access_log_format {self.access_log_format!r}: {exc}") from None
        if self.log_config is not None and not isinstance(self.log_config, str):
            raise ConfigError(f"log_config must be a file path; got {self.log_config!r}")
        if not isinstance(self.statsd_prefix, str) or any(c in self.statsd_prefix for c in ":|@#\n"):
            raise ConfigError(
                f"statsd_prefix must be a name without ':', '|', '@' or '#'; got {self.statsd_prefix!r}"
            )
        if isinstance(self.dogstatsd_tags, str) or not isinstance(self.dogstatsd_tags, tuple):
            raise ConfigError(f"dogstatsd_tags must be a tuple of strings; got {self.dogstatsd_tags!r}")
        for tag in self.dogstatsd_tags:
            if not isinstance(tag, str) or not tag or any(c in tag for c in ",|#\n"):
                raise ConfigError(f"dogstatsd tag {tag!r} must be non-empty, without ',', '|' or '#'")
        if (
            type(self.statsd_max_packet) is not int
            or self.statsd_max_packet < 512
            or self.statsd_max_packet > 65000
        ):
            raise ConfigError(
                f"statsd_max_packet must be 512 to 65000 bytes (1432 fits an Ethernet frame); "
                f"got {self.statsd_max_packet}"
            )
        for name in ("metrics_bind", "statsd_host"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{name} must be host:port; got {value!r}")

    def _check_supervisor(self) -> None:
        for name in ("worker_rss_check_interval", "worker_backoff_max"):
            value = getattr(self, name)
            if type(value) not in (int, float) or not value > 0:
                raise ConfigError(f"{name} must be a positive number of seconds; got {value!r}")
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
