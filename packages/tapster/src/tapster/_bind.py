"""Listening sockets from bind strings: host:port, [v6]:port, unix:/path, fd://N; and the TLS context."""

from __future__ import annotations

import os
import socket
import ssl
import stat

from .config import Config
from .errors import ConfigError

__all__ = ["bind_sockets", "close_sockets", "describe", "ssl_context"]


def _parse_host_port(bind: str) -> tuple[str, int]:
    if bind.startswith("["):
        host, sep, port = bind[1:].partition("]:")
    else:
        host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"bind {bind!r} must be host:port, [ipv6]:port, unix:/path or fd://N")
    number = int(port)
    if number > 65535:
        raise ConfigError(f"bind {bind!r}: port {number} is out of range")
    return host, number


def bind_socket(bind: str, backlog: int) -> socket.socket:
    """A bound, listening, non-blocking socket for one bind string."""
    if bind.startswith("fd://"):
        fd = bind[5:]
        if not fd.isdigit():
            raise ConfigError(f"bind {bind!r}: fd:// takes a file descriptor number")
        sock = socket.socket(fileno=int(fd))
    elif bind.startswith("unix:"):
        path = bind[5:]
        if not path:
            raise ConfigError("bind 'unix:' needs a path, e.g. unix:/run/app.sock")
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)  # a stale socket from an earlier run
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot bind {bind!r}: {exc.strerror or exc}") from exc
    else:
        host, port = _parse_host_port(bind)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise ConfigError(f"cannot bind {bind!r}: {exc.strerror}") from exc
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot bind {bind!r}: {exc.strerror or exc}") from exc
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def bind_sockets(config: Config) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    try:
        sockets.extend(bind_socket(bind, config.backlog) for bind in config.binds)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def close_sockets(sockets: list[socket.socket], config: Config) -> None:
    """Close listening sockets and remove the socket files of our `unix:` binds."""
    for sock in sockets:
        sock.close()
    for bind in config.binds:
        if bind.startswith("unix:"):
            try:
                if stat.S_ISSOCK(os.stat(bind[5:]).st_mode):
                    os.unlink(bind[5:])
            except FileNotFoundError:
                pass


def describe(sock: socket.socket, tls: bool) -> str:
    """A URL-ish name for a listening socket, for the startup log and for tests."""
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{address}"
    scheme = "https" if tls else "http"
    host, port = address[0], address[1]
    return f"{scheme}://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{scheme}://{host}:{port}"


def ssl_context(config: Config) -> ssl.SSLContext | None:
    if config.certfile is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.certfile, config.keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS certificate {config.certfile!r}: {exc}") from exc
    # RFC 9113 §3.2: "h2" over TLS 1.2+ (minimum_version above), chosen by ALPN after the handshake.
    context.set_alpn_protocols(["h2", "http/1.1"] if config.http2 else ["http/1.1"])
    return context
