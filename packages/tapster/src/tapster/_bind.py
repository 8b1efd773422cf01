"""Listening sockets from bind strings (tapster._bindspec): TCP, unix sockets with mode and owner,
fd://N, systemd socket activation; each with its own TLS and PROXY protocol settings."""

from __future__ import annotations

import grp
import os
import pwd
import socket
import ssl
import stat
from urllib.parse import quote

from ._bindspec import BindSpec, parse_bind
from .asgi._seam import Listener
from .config import Config
from .errors import ConfigError

__all__ = ["close_listeners", "describe", "open_listeners", "ssl_context"]

_SD_LISTEN_FDS_START = 3  # sd_listen_fds(3): systemd passes its sockets from fd 3 on


def _unlink_stale(path: str) -> None:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # a stale socket from an earlier run
    except FileNotFoundError:
        pass


def _user_id(spec: BindSpec) -> int:
    if spec.owner is None:
        return -1
    if spec.owner.isdigit():
        return int(spec.owner)
    try:
        return pwd.getpwnam(spec.owner).pw_uid
    except KeyError:
        raise ConfigError(f"bind {spec.text!r}: no user named {spec.owner!r}") from None


def _group_id(spec: BindSpec) -> int:
    if spec.group is None:
        return -1
    if spec.group.isdigit():
        return int(spec.group)
    try:
        return grp.getgrnam(spec.group).gr_gid
    except KeyError:
        raise ConfigError(f"bind {spec.text!r}: no group named {spec.group!r}") from None


def _unix_socket(spec: BindSpec, backlog: int) -> socket.socket:
    uid, gid = _user_id(spec), _group_id(spec)
    _unlink_stale(spec.path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(spec.path)
        # Before listen(): until then a connect() is refused, so nobody gets in under the umask's mode.
        if spec.mode is not None:
            os.chmod(spec.path, spec.mode)
        if uid != -1 or gid != -1:
            os.chown(spec.path, uid, gid)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        _unlink_stale(spec.path)
        raise ConfigError(f"cannot bind {spec.text!r}: {exc.strerror or exc}") from exc
    return sock


def _tcp_socket(spec: BindSpec, backlog: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(spec.host, spec.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot bind {spec.text!r}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {spec.text!r}: {exc.strerror or exc}") from exc
    return sock


def _inherited_socket(spec: BindSpec, fd: int) -> socket.socket:
    """A bound stream socket someone else opened and passed us as `fd` (systemd's: listening too)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ConfigError(f"bind {spec.text!r}: fd {fd} is not a socket ({exc.strerror or exc})") from exc
    listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    if sock.type != socket.SOCK_STREAM or (spec.kind == "systemd" and not listening):
        sock.detach()  # not ours to close
        what = "a listening stream socket" if spec.kind == "systemd" else "a stream socket"
        raise ConfigError(f"bind {spec.text!r}: fd {fd} is not {what}")
    return sock


def systemd_fds(spec: BindSpec) -> list[int]:
    """The fds systemd passed us (sd_listen_fds(3)): all of them, or those named `spec.name`
    (FileDescriptorName= in the .socket unit, listed in LISTEN_FDNAMES)."""
    count, pid = os.environ.get("LISTEN_FDS"), os.environ.get("LISTEN_PID")
    if count is None:
        raise ConfigError(
            f"bind {spec.text!r}: no sockets from systemd (LISTEN_FDS is not set); start tapster from a "
            "systemd .socket unit, or bind fd://N for a socket passed another way"
        )
    if pid != str(os.getpid()):
        raise ConfigError(
            f"bind {spec.text!r}: the systemd sockets are for process {pid}, not this one ({os.getpid()})"
        )
    if not count.isdigit() or int(count) == 0:
        raise ConfigError(f"bind {spec.text!r}: LISTEN_FDS={count!r} passes no sockets")
    fds = range(_SD_LISTEN_FDS_START, _SD_LISTEN_FDS_START + int(count))
    if not spec.name:
        return list(fds)
    names = os.environ.get("LISTEN_FDNAMES", "").split(":")
    chosen = [fd for fd, name in zip(fds, names, strict=False) if name == spec.name]
    if not chosen:
        raise ConfigError(
            f"bind {spec.text!r}: systemd passed no socket named {spec.name!r} "
            f"(LISTEN_FDNAMES={os.environ.get('LISTEN_FDNAMES', '')!r})"
        )
    return chosen


def _sockets(spec: BindSpec, backlog: int, taken: set[int]) -> list[socket.socket]:
    if spec.kind == "tcp":
        return [_tcp_socket(spec, backlog)]
    if spec.kind == "unix":
        return [_unix_socket(spec, backlog)]
    fds = [spec.fd] if spec.kind == "fd" else systemd_fds(spec)
    sockets: list[socket.socket] = []
    for fd in fds:
        if fd in taken:
            raise ConfigError(f"bind {spec.text!r}: fd {fd} is already bound by another --bind")
        sock = _inherited_socket(spec, fd)
        if spec.kind == "fd":
            sock.listen(backlog)  # (a systemd socket keeps the Backlog= its unit set)
        taken.add(fd)
        sockets.append(sock)
    return sockets


def open_listeners(config: Config) -> list[Listener]:
    """Every bind of `config`, bound and listening (non-blocking), with its TLS context."""
    listeners: list[Listener] = []
    contexts: dict[tuple[str, str | None], ssl.SSLContext] = {}
    taken: set[int] = set()
    try:
        for bind in config.binds:
            spec = parse_bind(bind)
            certfile = spec.certfile or (config.certfile if spec.tls is not False else None)
            keyfile = spec.keyfile if spec.certfile else config.keyfile
            tls = None
            if certfile is not None:
                key = (certfile, keyfile)
                tls = contexts.get(key) or contexts.setdefault(key, ssl_context(config, certfile, keyfile))
            proxy = config.proxy_protocol if spec.proxy_protocol is None else spec.proxy_protocol
            for sock in _sockets(spec, config.backlog, taken):
                sock.setblocking(False)
                listeners.append(
                    Listener(
                        sock,
                        bind,
                        tls,
                        proxy_protocol=proxy,
                        proxy_timeout=config.proxy_protocol_timeout,
                        max_proxy_header_size=config.max_proxy_header_size,
                    )
                )
    except BaseException:
        close_listeners(listeners)
        raise
    return listeners


def close_listeners(listeners: list[Listener]) -> None:
    """Close listening sockets and remove the socket files of our `unix:` binds."""
    for listener in listeners:
        listener.sock.close()
        spec = parse_bind(listener.bind)
        if spec.kind == "unix":
            _unlink_stale(spec.path)


def inherited_bind(listener: Listener, fd: int) -> str:
    """The bind string with which a worker process serves `listener`'s socket, inherited as `fd`:
    `fd://N` with the options of the bind it came from that still apply (TLS, PROXY protocol; a
    unix socket's mode and owner were applied when it was bound)."""
    spec = parse_bind(listener.bind)
    options = []
    if spec.tls is not None:
        options.append(f"tls={int(spec.tls)}")
    for name in ("certfile", "keyfile"):
        value = getattr(spec, name)
        if value is not None:
            options.append(f"{name}={quote(value, safe='/')}")
    options.append(f"proxy_protocol={int(listener.proxy_protocol)}")
    return f"fd://{fd}?" + "&".join(options)


def describe(listener: Listener) -> str:
    """A URL-ish name for a listening socket, for the startup log and for tests."""
    sock = listener.sock
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{address}"
    scheme = "https" if listener.tls is not None else "http"
    host, port = address[0], address[1]
    return f"{scheme}://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{scheme}://{host}:{port}"


def ssl_context(config: Config, certfile: str, keyfile: str | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS certificate {certfile!r}: {exc}") from exc
    # RFC 9113 §3.2: "h2" over TLS 1.2+ (minimum_version above), chosen by ALPN after the handshake.
    context.set_alpn_protocols(["h2", "http/1.1"] if config.http2 else ["http/1.1"])
    return context
