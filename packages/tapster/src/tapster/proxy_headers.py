"""Proxy headers as plain ASGI middleware (DESIGN.md): the client, scheme and host a trusted proxy
reports replace the ones of the connection, before the app runs and before the access log line.

The server applies it with `--proxy-headers`; any ASGI server can use it the same way::

    app = ProxyHeadersMiddleware(app, trusted="10.0.0.0/8", header="forwarded")

Only a peer in `trusted` is believed. Which header is read is a setting, not a guess: a proxy that
sets X-Forwarded-For passes a client's own `Forwarded` through untouched (and the other way round),
so reading the one the proxy does not set would let any client choose its address.

- `x-forwarded`: X-Forwarded-For (the rightmost address that is not a trusted proxy is the client),
  X-Forwarded-Proto and X-Forwarded-Host (the entry of the same hop when the proxies appended one each,
  else the last, which the nearest proxy wrote).
- `forwarded`: RFC 7239 — the same walk over the elements' `for=`, then that element's `proto=` and
  `host=`. `for=unknown` and obfuscated identifiers (`_hidden`) leave the ASGI client None.

A header a trusted proxy sent but nobody could parse is answered with 400 (the app never runs): it
means the proxy is broken or misconfigured, and guessing would put the wrong address in the logs.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any

from ._trust import DEFAULT_TRUSTED, TrustedProxies
from .asgi._types import ASGIApp, Receive, Scope, Send

__all__ = ["HEADERS", "ProxyHeadersMiddleware"]

HEADERS = ("x-forwarded", "forwarded")

error_log = logging.getLogger("tapster.error")

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2 token
_QDTEXT = re.compile(r"[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]")  # RFC 9110 §5.6.4 qdtext
_ESCAPABLE = re.compile(r"[\t \x21-\x7e\x80-\xff]")  # RFC 9110 §5.6.4 quoted-pair
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]+")  # RFC 7239 §6.3 obfnode / obfport
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::[0-9]{1,5})?")  # RFC 9110 §7.2 Host
_SCHEMES = {"http": ("http", "ws"), "https": ("https", "wss"), "ws": ("http", "ws"), "wss": ("https", "wss")}

Client = tuple[str, int] | None


class MalformedHeader(ValueError):
    """A trusted proxy's header that cannot be parsed: the request is answered with 400."""


def _header(headers: Any, name: bytes) -> str | None:
    """Every field named `name`, joined as one list (RFC 9110 §5.3), or None when there is none."""
    values = [value for key, value in headers if key == name]
    if not values:
        return None
    return ",".join(value.decode("latin-1") for value in values)


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise MalformedHeader(f"{text[:50]!r} is not an IP address") from None


def _port(text: str) -> int:
    if not text.isdigit() or len(text) > 5 or int(text) > 65535:
        raise MalformedHeader(f"{text[:10]!r} is not a port")
    return int(text)


def _xff_node(entry: str) -> tuple[str, int]:
    """An X-Forwarded-For entry: 192.0.2.1, 192.0.2.1:80, 2001:db8::1, [2001:db8::1]:80."""
    if entry.startswith("["):
        host, sep, rest = entry[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise MalformedHeader(f"{entry[:50]!r} is not an address")
        return _ip(host), _port(rest[1:]) if rest else 0
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return _ip(host), _port(port)
    return _ip(entry), 0


def _pick(values: list[str], index: int, hops: int) -> str:
    """The entry of the chosen hop when each proxy appended one, else the nearest proxy's (the last)."""
    return values[index] if len(values) == hops else values[-1]


def _split(value: str) -> list[str]:
    entries = [entry.strip() for entry in value.split(",")]
    if not all(entries):
        raise MalformedHeader("an empty list element")
    return entries


def _from_x_forwarded(headers: Any, trusted: TrustedProxies) -> tuple[Client, str | None, str | None] | None:
    forwarded_for = _header(headers, b"x-forwarded-for")
    proto = _header(headers, b"x-forwarded-proto")
    host = _header(headers, b"x-forwarded-host")
    if forwarded_for is None and proto is None and host is None:
        return None
    client: Client = None
    index, hops = 0, 1
    if forwarded_for is not None:
        entries = _split(forwarded_for)
        hops = len(entries)
        # The rightmost entry that is no trusted proxy is the client; entries left of it are what
        # the client (or proxies nobody vouches for) claimed, and are never read.
        for index in range(hops - 1, -1, -1):
            client = _xff_node(entries[index])
            if not trusted.trusts(client[0]):
                break
    scheme = _pick(_split(proto), index, hops).lower() if proto is not None else None
    chosen_host = _pick(_split(host), index, hops) if host is not None else None
    return (client, scheme, chosen_host) if forwarded_for is not None else (_KEEP, scheme, chosen_host)


class _Keep:
    """The connection's client stands (only X-Forwarded-Proto or -Host was sent)."""


_KEEP: Any = _Keep()


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The quoted-string at text[start] (which is '"'): its value and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\":  # quoted-pair
            if i + 1 >= len(text) or not _ESCAPABLE.fullmatch(text[i + 1]):
                raise MalformedHeader("a bad escape in a quoted string")
            out.append(text[i + 1])
            i += 2
            continue
        if not _QDTEXT.fullmatch(char):
            raise MalformedHeader("a control character in a quoted string")
        out.append(char)
        i += 1
    raise MalformedHeader("an unterminated quoted string")


def _skip_ows(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """RFC 7239 §4: `Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8::1]:80"`,
    one dict per element, parameter names lower-cased. Raises MalformedHeader."""
    elements: list[dict[str, str]] = []
    element: dict[str, str] = {}
    i = _skip_ows(value, 0)
    while True:
        match = _TOKEN.match(value, i)
        if match is None or match.end() >= len(value) or value[match.end()] != "=":
            raise MalformedHeader("expected name=value")
        name = match.group().lower()
        i = match.end() + 1
        if i < len(value) and value[i] == '"':
            text, i = _quoted(value, i)
        else:
            token = _TOKEN.match(value, i)
            if token is None:
                raise MalformedHeader(f"no value for {name!r}")
            text, i = token.group(), token.end()
        if name in element:  # §4: "each parameter MUST NOT occur more than once per forwarded-element"
            raise MalformedHeader(f"{name!r} twice in one element")
        element[name] = text
        i = _skip_ows(value, i)
        if i == len(value):
            elements.append(element)
            return elements
        if value[i] == ",":
            elements.append(element)
            element = {}
        elif value[i] != ";":
            raise MalformedHeader(f"unexpected {value[i]!r}")
        i = _skip_ows(value, i + 1)


def _forwarded_node(node: str) -> tuple[Client, str | None]:
    """RFC 7239 §6: the client a `for=` names (None for `unknown` and obfuscated names, §6.2-6.3),
    and the IP to check against the trust list (None when it names none)."""
    ip: str | None
    if node.startswith("["):
        inside, sep, rest = node[1:].partition("]")
        try:
            ip = str(ipaddress.IPv6Address(inside)) if sep else None
        except ValueError:
            ip = None
        if ip is None:
            raise MalformedHeader(f"{node[:50]!r} is not a node")
    else:
        name, colon, port = node.partition(":")
        rest = colon + port
        if name.lower() == "unknown" or _OBFUSCATED.fullmatch(name):
            ip = None
        else:
            try:
                ip = str(ipaddress.IPv4Address(name))
            except ValueError:
                raise MalformedHeader(f"{node[:50]!r} is not a node (IPv6 goes in brackets)") from None
    port_number = 0
    if rest:
        if rest[0] != ":":
            raise MalformedHeader(f"{node[:50]!r} is not a node")
        if not _OBFUSCATED.fullmatch(rest[1:]):
            port_number = _port(rest[1:])
    if ip is None:
        return None, None
    return (ip, port_number), ip


def _from_forwarded(headers: Any, trusted: TrustedProxies) -> tuple[Client, str | None, str | None] | None:
    value = _header(headers, b"forwarded")
    if value is None:
        return None
    elements = parse_forwarded(value)
    chosen: dict[str, str] = elements[0]
    client: Client = _KEEP
    for element in reversed(elements):
        chosen = element
        node = element.get("for")
        if node is None:
            client = _KEEP  # this hop did not say whom it served
            break
        client, ip = _forwarded_node(node)
        if ip is None or not trusted.trusts(ip):
            break
    proto = chosen.get("proto")
    return client, proto.lower() if proto is not None else None, chosen.get("host")


class ProxyHeadersMiddleware:
    """Believe a trusted proxy about the client's address, scheme and host (see the module's doc)."""

    def __init__(
        self, app: ASGIApp, trusted: str | TrustedProxies = DEFAULT_TRUSTED, header: str = "x-forwarded"
    ) -> None:
        if header not in HEADERS:
            raise ValueError(f"header must be one of {', '.join(HEADERS)}; got {header!r}")
        self.app = app
        self.trusted = trusted if isinstance(trusted, TrustedProxies) else TrustedProxies(trusted)
        self._read = _from_forwarded if header == "forwarded" else _from_x_forwarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            peer = scope.get("client")
            if self.trusted.trusts(peer[0] if peer else None):
                try:
                    self._apply(scope)
                except MalformedHeader as exc:
                    error_log.debug("malformed proxy header from %s: %s", peer, exc)
                    await _refuse(scope, send, f"malformed proxy header: {exc}")
                    return
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> None:
        headers = scope["headers"]
        found = self._read(headers, self.trusted)
        if found is None:
            return
        client, proto, host = found
        schemes = _SCHEMES.get(proto) if proto is not None else None
        if proto is not None and schemes is None:
            raise MalformedHeader(f"{proto[:20]!r} is not http, https, ws or wss")
        if host is not None and not _valid_host(host):
            raise MalformedHeader(f"{host[:100]!r} is not a host")
        # Validated: now change the scope in place (the server's access log reads this same scope).
        if client is not _KEEP:
            scope["client"] = client
        if schemes is not None:
            scope["scheme"] = schemes[0] if scope["type"] == "http" else schemes[1]
        if host is not None:
            raw = host.encode("latin-1")
            scope["headers"] = [(k, v) for k, v in headers if k != b"host"] + [(b"host", raw)]


def _valid_host(host: str) -> bool:
    if _HOST.fullmatch(host) is None:
        return False
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:].partition("]")[0])
        except ValueError:
            return False
    port = host.rpartition(":")[2] if not host.endswith("]") and ":" in host else ""
    return not port or int(port) <= 65535


async def _refuse(scope: Scope, send: Send, message: str) -> None:
    body = message.encode("latin-1", "replace") + b"\n"
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": 400, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
