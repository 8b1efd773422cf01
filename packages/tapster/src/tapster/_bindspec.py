"""Bind strings, parsed: ``ADDRESS[?option=value&option=value]`` (docs/running.md, "Binds").

ADDRESS is ``host:port``, ``[ipv6]:port``, ``unix:/path``, ``fd://N`` or ``systemd:[NAME]``. The options
say what differs on that listener: ``tls``, ``certfile``, ``keyfile``, ``proxy_protocol``, and for Unix
sockets ``mode``, ``owner``, ``group``. `Config.binds` stays a tuple of these strings; parsing them is
pure (no names resolved, no files opened), so a bad one is refused when the Config is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from .errors import ConfigError

__all__ = ["BindSpec", "parse_bind"]

_OPTIONS = ("tls", "certfile", "keyfile", "proxy_protocol", "mode", "owner", "group")
_UNIX_ONLY = ("mode", "owner", "group")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_FORMS = "host:port, [ipv6]:port, unix:/path, fd://N or systemd:[NAME]"


@dataclass(frozen=True, slots=True)
class BindSpec:
    """One bind string. None for an option means "as the server-wide setting says"."""

    text: str  # as given, options included
    kind: str  # "tcp" | "unix" | "fd" | "systemd"
    host: str = ""  # tcp
    port: int = 0  # tcp
    path: str = ""  # unix
    fd: int = -1  # fd
    name: str = ""  # systemd: the socket's FileDescriptorName=, "" for every socket passed
    tls: bool | None = None
    certfile: str | None = None
    keyfile: str | None = None
    proxy_protocol: bool | None = None
    mode: int | None = None  # unix: permission bits of the socket file, e.g. 0o660
    owner: str | None = None  # unix: user name or uid
    group: str | None = None  # unix: group name or gid


def _flag(bind: str, name: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"bind {bind!r}: {name} takes 1 or 0 (true/false, yes/no, on/off); got {value!r}")


def _options(bind: str, query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in query.split("&"):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"bind {bind!r}: options are name=value pairs joined by '&'; got {item!r}")
        if name not in _OPTIONS:
            raise ConfigError(f"bind {bind!r}: unknown option {name!r} (known: {', '.join(_OPTIONS)})")
        if name in options:
            raise ConfigError(f"bind {bind!r}: option {name!r} given twice")
        options[name] = unquote(value)
    return options


def _host_port(bind: str, address: str) -> tuple[str, int]:
    if address.startswith("["):
        host, sep, port = address[1:].partition("]:")
    else:
        host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"bind {bind!r} must be {_FORMS}")
    number = int(port)
    if number > 65535:
        raise ConfigError(f"bind {bind!r}: port {number} is out of range")
    return host, number


def parse_bind(bind: str) -> BindSpec:
    """Parse one bind string; raises ConfigError saying what is wrong with it."""
    address, _, query = bind.partition("?")
    options = _options(bind, query) if query else {}
    host, port, path, fd, name = "", 0, "", -1, ""
    if address.startswith("unix:"):
        kind, path = "unix", address[5:]
        if not path:
            raise ConfigError(f"bind {bind!r}: unix: needs a path, e.g. unix:/run/app.sock")
    elif address.startswith("fd://"):
        kind = "fd"
        if not address[5:].isdigit():
            raise ConfigError(f"bind {bind!r}: fd:// takes a file descriptor number")
        fd = int(address[5:])
    elif address.startswith("systemd:"):
        kind, name = "systemd", address[8:]
    else:
        kind = "tcp"
        host, port = _host_port(bind, address)
    for option in _UNIX_ONLY:
        if option in options and kind != "unix":
            raise ConfigError(f"bind {bind!r}: {option} is for unix: binds only")
    for option in ("certfile", "keyfile", "owner", "group"):
        if options.get(option) == "":
            raise ConfigError(f"bind {bind!r}: {option} is empty")
    mode = options.get("mode")
    if mode is not None and (
        not (3 <= len(mode) <= 4 and all(c in "01234567" for c in mode)) or int(mode, 8) > 0o777
    ):
        raise ConfigError(f"bind {bind!r}: mode is octal permission bits such as 660 or 0600; got {mode!r}")
    tls = _flag(bind, "tls", options["tls"]) if "tls" in options else None
    if "keyfile" in options and "certfile" not in options:
        raise ConfigError(f"bind {bind!r}: keyfile without certfile")
    if tls is False and "certfile" in options:
        raise ConfigError(f"bind {bind!r}: tls=0 with a certfile: drop one of them")
    return BindSpec(
        bind,
        kind,
        host=host,
        port=port,
        path=path,
        fd=fd,
        name=name,
        tls=tls,
        certfile=options.get("certfile"),
        keyfile=options.get("keyfile"),
        proxy_protocol=(
            _flag(bind, "proxy_protocol", options["proxy_protocol"]) if "proxy_protocol" in options else None
        ),
        mode=int(mode, 8) if mode is not None else None,
        owner=options.get("owner"),
        group=options.get("group"),
    )
