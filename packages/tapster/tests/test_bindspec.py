"""Bind strings and their options, as the Config checks them (no sockets: parsing is pure)."""

from __future__ import annotations

import pytest
from tapster import Config, ConfigError
from tapster._bindspec import BindSpec, parse_bind


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        ("0.0.0.0:8000", BindSpec("0.0.0.0:8000", "tcp", host="0.0.0.0", port=8000)),
        ("[::]:443?tls=1", BindSpec("[::]:443?tls=1", "tcp", host="::", port=443, tls=True)),
        (
            "localhost:8443?certfile=/etc/a%20b.pem&keyfile=/k.pem&proxy_protocol=yes",
            BindSpec(
                "localhost:8443?certfile=/etc/a%20b.pem&keyfile=/k.pem&proxy_protocol=yes",
                "tcp",
                host="localhost",
                port=8443,
                certfile="/etc/a b.pem",
                keyfile="/k.pem",
                proxy_protocol=True,
            ),
        ),
        (
            "unix:/run/app.sock?mode=0660&owner=www-data&group=33",
            BindSpec(
                "unix:/run/app.sock?mode=0660&owner=www-data&group=33",
                "unix",
                path="/run/app.sock",
                mode=0o660,
                owner="www-data",
                group="33",
            ),
        ),
        ("fd://3?proxy_protocol=0", BindSpec("fd://3?proxy_protocol=0", "fd", fd=3, proxy_protocol=False)),
        ("systemd:", BindSpec("systemd:", "systemd")),
        ("systemd:web?tls=off", BindSpec("systemd:web?tls=off", "systemd", name="web", tls=False)),
    ],
)
def test_valid_binds(bind: str, expected: BindSpec) -> None:
    assert parse_bind(bind) == expected


@pytest.mark.parametrize(
    ("bind", "message"),
    [
        ("8000", "must be host:port"),
        ("host:99999", "port 99999 is out of range"),
        ("unix:", "unix: needs a path"),
        ("fd://x", "fd:// takes a file descriptor number"),
        ("127.0.0.1:80?tls", "options are name=value pairs"),
        ("127.0.0.1:80?tls=maybe", "tls takes 1 or 0"),
        ("127.0.0.1:80?color=red", "unknown option 'color'"),
        ("127.0.0.1:80?tls=1&tls=0", "option 'tls' given twice"),
        ("127.0.0.1:80?mode=600", "mode is for unix: binds only"),
        ("unix:/a.sock?mode=999", "mode is octal permission bits"),
        ("unix:/a.sock?mode=4755", "mode is octal permission bits"),
        ("unix:/a.sock?owner=", "owner is empty"),
        ("127.0.0.1:80?keyfile=/k.pem", "keyfile without certfile"),
        ("127.0.0.1:80?tls=0&certfile=/c.pem", "tls=0 with a certfile"),
    ],
)
def test_bad_binds_say_what_is_wrong(bind: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_bind(bind)
    with pytest.raises(ConfigError, match=message):
        Config(binds=(bind,))  # refused when the config is built, before anything is bound


def test_tls_on_a_bind_needs_a_certificate() -> None:
    with pytest.raises(ConfigError, match="tls=1 needs a certificate"):
        Config(binds=("127.0.0.1:0?tls=1",))
    Config(binds=("127.0.0.1:0?tls=1",), certfile="/c.pem")
    Config(binds=("127.0.0.1:0?certfile=/c.pem",))


def test_proxy_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="'nonsense' is not an IP address"):
        Config(forwarded_allow_ips="127.0.0.1,nonsense")
    with pytest.raises(ConfigError, match="forwarded_header must be one of x-forwarded, forwarded"):
        Config(forwarded_header="x-real-ip")
    with pytest.raises(ConfigError, match="max_proxy_header_size must be at least 16"):
        Config(max_proxy_header_size=15)
    with pytest.raises(ConfigError, match="proxy_protocol_timeout must be a positive number"):
        Config(proxy_protocol_timeout=0)
    with pytest.raises(ConfigError, match="binds must be a tuple of strings"):
        Config(binds=(8000,))  # type: ignore[arg-type]
