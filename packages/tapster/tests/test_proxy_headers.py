"""The proxy-headers middleware and the trust list, as units: scopes in, scopes (or a 400) out.
(End to end, through real sockets and the access log: tests/e2e/test_proxy.py.)"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from tapster import ConfigError
from tapster._trust import TrustedProxies
from tapster.asgi._types import Message, Receive, Scope, Send
from tapster.proxy_headers import MalformedHeader, ProxyHeadersMiddleware, parse_forwarded


class App:
    """Records the scope it was called with."""

    def __init__(self) -> None:
        self.scope: Scope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope


def call(
    headers: list[tuple[bytes, bytes]],
    *,
    client: tuple[str, int] | None = ("127.0.0.1", 5000),
    kind: str = "http",
    trusted: str = "127.0.0.1,::1,unix",
    header: str = "x-forwarded",
    extensions: dict[str, Any] | None = None,
) -> tuple[Scope | None, list[Message]]:
    """Run the middleware on one scope; the scope the app saw (None if refused) and what was sent."""
    app = App()
    sent: list[Message] = []
    scope: Scope = {
        "type": kind,
        "client": client,
        "scheme": "http" if kind == "http" else "ws",
        "headers": [(b"host", b"internal:8000"), *headers],
        "extensions": {"websocket.http.response": {}} if extensions is None else extensions,
    }

    async def receive() -> Message:
        raise AssertionError("the middleware never reads")

    async def send(message: Message) -> None:
        sent.append(message)

    trio.run(ProxyHeadersMiddleware(app, trusted, header), scope, receive, send)
    return app.scope, sent


def test_untrusted_peer_headers_are_ignored() -> None:
    forged = [(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-proto", b"https")]
    scope, _ = call(forged, client=("10.9.9.9", 1))
    assert scope is not None
    assert scope["client"] == ("10.9.9.9", 1)
    assert scope["scheme"] == "http"
    # An untrusted peer's malformed header is no reason for a 400 either: it is not read at all.
    scope, sent = call([(b"x-forwarded-for", b"garbage")], client=("10.9.9.9", 1))
    assert scope is not None
    assert not sent


def test_x_forwarded_from_a_trusted_peer() -> None:
    scope, _ = call(
        [
            (b"x-forwarded-for", b"203.0.113.7"),
            (b"x-forwarded-proto", b"https"),
            (b"x-forwarded-host", b"example.com"),
        ]
    )
    assert scope is not None
    assert scope["client"] == ("203.0.113.7", 0)
    assert scope["scheme"] == "https"
    assert [v for k, v in scope["headers"] if k == b"host"] == [b"example.com"]


def test_x_forwarded_for_takes_the_rightmost_untrusted_hop() -> None:
    # The client forged "6.6.6.6"; 198.51.100.1 is a proxy we trust, 203.0.113.7 the real client.
    chain = b"6.6.6.6, 203.0.113.7, 198.51.100.1"
    scope, _ = call([(b"x-forwarded-for", chain)], trusted="127.0.0.1,198.51.100.0/24")
    assert scope is not None
    assert scope["client"] == ("203.0.113.7", 0)
    # Every hop trusted: the leftmost is all there is. Several fields are one list (RFC 9110 §5.3).
    scope, _ = call(
        [(b"x-forwarded-for", b"10.0.0.1"), (b"x-forwarded-for", b"10.0.0.2")], trusted="127.0.0.1,10.0.0.0/8"
    )
    assert scope is not None
    assert scope["client"] == ("10.0.0.1", 0)
    # The forged part is never parsed: garbage left of the real client changes nothing.
    scope, _ = call([(b"x-forwarded-for", b"not an address, 203.0.113.7")])
    assert scope is not None
    assert scope["client"] == ("203.0.113.7", 0)


@pytest.mark.parametrize(
    ("entry", "client"),
    [
        (b"203.0.113.7:4711", ("203.0.113.7", 4711)),
        (b"2001:db8::7", ("2001:db8::7", 0)),
        (b"[2001:db8::7]:4711", ("2001:db8::7", 4711)),
        (b"[2001:DB8:0::7]", ("2001:db8::7", 0)),
    ],
)
def test_x_forwarded_for_forms(entry: bytes, client: tuple[str, int]) -> None:
    scope, _ = call([(b"x-forwarded-for", entry)])
    assert scope is not None
    assert scope["client"] == client


def test_x_forwarded_proto_per_hop_and_for_websockets() -> None:
    # Two proxies appended one proto each: the client's hop said https.
    scope, _ = call(
        [(b"x-forwarded-for", b"203.0.113.7, 10.0.0.1"), (b"x-forwarded-proto", b"https, http")],
        trusted="127.0.0.1,10.0.0.1",
    )
    assert scope is not None
    assert scope["scheme"] == "https"
    for proto, scheme in ((b"https", "wss"), (b"http", "ws"), (b"wss", "wss"), (b"WS", "ws")):
        scope, _ = call([(b"x-forwarded-proto", proto)], kind="websocket")
        assert scope is not None
        assert scope["scheme"] == scheme
        assert scope["client"] == ("127.0.0.1", 5000), "no X-Forwarded-For: the peer stays the client"
    scope, _ = call([(b"x-forwarded-proto", b"wss")])
    assert scope is not None
    assert scope["scheme"] == "https"


def test_unix_socket_peers_are_trusted_by_the_unix_entry() -> None:
    scope, _ = call([(b"x-forwarded-for", b"203.0.113.7")], client=None)
    assert scope is not None
    assert scope["client"] == ("203.0.113.7", 0)
    scope, _ = call([(b"x-forwarded-for", b"203.0.113.7")], client=None, trusted="127.0.0.1")
    assert scope is not None
    assert scope["client"] is None


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-forwarded-for", b"203.0.113.7, nonsense")],
        [(b"x-forwarded-for", b"203.0.113.7,,")],
        [(b"x-forwarded-for", b"203.0.113.7:99999")],
        [(b"x-forwarded-for", b"[::1")],
        [(b"x-forwarded-proto", b"gopher")],
        [(b"x-forwarded-host", b"exa mple.com")],
        [(b"x-forwarded-host", b"example.com:123456")],
        [(b"x-forwarded-host", b"[not:v6]")],
    ],
)
def test_malformed_x_forwarded_from_a_trusted_peer_is_a_400(headers: list[tuple[bytes, bytes]]) -> None:
    scope, sent = call(headers)
    assert scope is None, "the app never runs"
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 400
    assert sent[1]["body"].startswith(b"malformed proxy header: ")


def test_malformed_header_refuses_a_websocket() -> None:
    scope, sent = call([(b"x-forwarded-for", b"nonsense")], kind="websocket")
    assert scope is None
    assert sent[0] == {"type": "websocket.http.response.start", "status": 400, "headers": sent[0]["headers"]}
    # A server without the websocket.http.response extension: a close before accept (403).
    scope, sent = call([(b"x-forwarded-for", b"nonsense")], kind="websocket", extensions={})
    assert scope is None
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_forwarded_rfc7239() -> None:
    value = b'for=192.0.2.60;proto=https;host="example.com:8443";by=203.0.113.43'
    scope, _ = call([(b"forwarded", value)], header="forwarded")
    assert scope is not None
    assert scope["client"] == ("192.0.2.60", 0)
    assert scope["scheme"] == "https"
    assert [v for k, v in scope["headers"] if k == b"host"] == [b"example.com:8443"]


@pytest.mark.parametrize(
    ("value", "client"),
    [
        (b'for="[2001:db8:cafe::17]:4711"', ("2001:db8:cafe::17", 4711)),
        (b'For="192.0.2.60:80"', ("192.0.2.60", 80)),
        (b"for=192.0.2.60, for=198.51.100.17", ("198.51.100.17", 0)),
        (b"for=unknown", None),
        (b"for=_hidden", None),
        (b'for="_gazonk:_port"', None),
        (b'for="192.0.2.60:_p"', ("192.0.2.60", 0)),
        (b'for = "192.0.2.60" ; proto=http', ("192.0.2.60", 0)),
        (b'for="\\192.0.2.60"', ("192.0.2.60", 0)),  # a quoted-pair
    ],
)
def test_forwarded_nodes(value: bytes, client: tuple[str, int] | None) -> None:
    scope, sent = call([(b"forwarded", value)], header="forwarded")
    if b" = " in value:  # whitespace around '=' is not in the grammar
        assert scope is None
        assert sent[0]["status"] == 400
        return
    assert scope is not None
    assert scope["client"] == client


def test_forwarded_walks_past_trusted_hops_only() -> None:
    value = b"for=6.6.6.6, for=203.0.113.7;proto=https, for=10.0.0.5;proto=http"
    scope, _ = call([(b"forwarded", value)], header="forwarded", trusted="127.0.0.1,10.0.0.0/8")
    assert scope is not None
    assert scope["client"] == ("203.0.113.7", 0)
    assert scope["scheme"] == "https"
    # The header not chosen is ignored: a client's own Forwarded passes an X-Forwarded proxy untouched.
    scope, _ = call([(b"forwarded", b"for=6.6.6.6"), (b"x-forwarded-for", b"203.0.113.7")])
    assert scope is not None
    assert scope["client"] == ("203.0.113.7", 0)


@pytest.mark.parametrize(
    "value",
    [
        b"for=2001:db8::1",  # IPv6 without brackets (and quotes)
        b"for=192.0.2.60;for=192.0.2.61",  # a parameter twice
        b'for="192.0.2.60',  # unterminated
        b"for=192.0.2.60;",
        b"for",
        b"=x",
        b"for=999.0.2.60",
        b'for="[2001:db8::1"',
        b'for="[192.0.2.1]"',
        b'for="192.0.2.1:http"',
        b"for=192.0.2.60;proto=gopher",
        b'for=192.0.2.60;host="a b"',
        b"for=192.0.2.60 proto=http",
        b'for="a\x01"',
    ],
)
def test_malformed_forwarded_is_a_400(value: bytes) -> None:
    scope, sent = call([(b"forwarded", value)], header="forwarded")
    assert scope is None
    assert sent[0]["status"] == 400


def test_parse_forwarded_elements() -> None:
    assert parse_forwarded('for=a;BY=b, for="x\\"y", proto=https') == [
        {"for": "a", "by": "b"},
        {"for": 'x"y'},
        {"proto": "https"},
    ]
    with pytest.raises(MalformedHeader):
        parse_forwarded("")


def test_lifespan_passes_through() -> None:
    app = App()

    async def main() -> None:
        async def nothing() -> Message:
            return {}

        async def ignore(message: Message) -> None:
            pass

        await ProxyHeadersMiddleware(app)({"type": "lifespan"}, nothing, ignore)

    trio.run(main)
    assert app.scope == {"type": "lifespan"}


def test_trust_list() -> None:
    trusted = TrustedProxies(" 10.0.0.0/8 , 192.0.2.1, 2001:db8::/32 ")
    assert trusted.trusts("10.200.3.4")
    assert trusted.trusts("192.0.2.1")
    assert not trusted.trusts("192.0.2.2")
    assert trusted.trusts("2001:db8::99")
    assert trusted.trusts("::ffff:10.1.1.1"), "an IPv4 peer seen through a dual-stack socket"
    assert not trusted.trusts(None), "unix peers only when listed"
    assert not trusted.trusts("not-an-ip")
    assert TrustedProxies("unix").trusts(None)
    everyone = TrustedProxies("*")
    assert everyone.trusts("8.8.8.8")
    assert everyone.trusts(None)
    assert not TrustedProxies("").trusts("127.0.0.1")
    with pytest.raises(ConfigError, match=r"'10\.0\.0\.0/33' is not an IP address, a CIDR network"):
        TrustedProxies("10.0.0.0/33")
    with pytest.raises(ValueError, match="header must be one of"):
        ProxyHeadersMiddleware(App(), header="x-real-ip")
