"""Which peers may speak for their clients (`--forwarded-allow-ips`): addresses, CIDR networks,
`unix` (peers on Unix sockets) and `*` (everyone, only when said explicitly)."""

from __future__ import annotations

import ipaddress

from .errors import ConfigError

__all__ = ["DEFAULT_TRUSTED", "TrustedProxies"]

#: Loopback (as Uvicorn and Gunicorn) and Unix-socket peers: both can only be processes on this
#: machine, and a Unix socket's mode and owner already say which (docs/running.md, "Behind a proxy").
DEFAULT_TRUSTED = "127.0.0.1,::1,unix"

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """A parsed trust list. `trusts(host)` takes an ASGI client host, or None for a Unix-socket peer."""

    __slots__ = ("everyone", "networks", "unix")

    def __init__(self, spec: str) -> None:
        self.everyone = False
        self.unix = False
        networks: list[_Network] = []
        for raw in spec.split(","):
            item = raw.strip()
            if item == "*":
                self.everyone = True
            elif item == "unix":
                self.unix = True
            elif item:
                try:
                    networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    raise ConfigError(
                        f"forwarded_allow_ips: {item!r} is not an IP address, a CIDR network, 'unix' or '*'"
                    ) from None
        self.networks = tuple(networks)

    def trusts(self, host: str | None) -> bool:
        if host is None:
            return self.unix or self.everyone
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
        return any(address in network for network in self.networks)
