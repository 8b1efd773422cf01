"""The public surface is what we mean it to be, and the docs cover every setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import tapster
import tapster.protocol

ROOT = Path(__file__).resolve().parents[3]


def test_tapster_exports() -> None:
    assert sorted(tapster.__all__) == sorted(
        [
            "ClientDisconnected",
            "Config",
            "ConfigError",
            "LocalProtocolError",
            "ProtocolError",
            "RemoteProtocolError",
            "Server",
            "TapsterError",
            "__version__",
            "load_config",
            "run",
            "serve",
        ]
    )
    for name in tapster.__all__:
        assert hasattr(tapster, name)


def test_one_root_exception() -> None:
    for name in ("ClientDisconnected", "ConfigError", "LocalProtocolError", "RemoteProtocolError"):
        assert issubclass(getattr(tapster, name), tapster.TapsterError)
    assert issubclass(tapster.ClientDisconnected, OSError)  # ASGI 2.4: send() after disconnect


def test_protocol_exports() -> None:
    assert set(tapster.protocol.__all__) >= {"H11Connection", "H11Limits", "Request", "Data", "NEED_DATA"}


def test_py_typed_is_shipped() -> None:
    assert (Path(tapster.__file__).parent / "py.typed").exists()


def test_config_fields_are_named_as_their_flags() -> None:
    # docs/configuration.md says so; test_settings.py checks the reference lists every flag.
    from tapster.config import settings

    renamed = {s.name: s.flag for s in settings() if s.flag != "--" + s.name.replace("_", "-")}
    assert renamed == {
        "binds": "--bind",
        "reload_dirs": "--reload-dir",
        "reload_includes": "--reload-include",
        "reload_excludes": "--reload-exclude",
    }


def test_config_is_frozen() -> None:
    config = tapster.Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_headers = 5  # type: ignore[misc]


def test_websocket_protocol_exports() -> None:
    import tapster.protocol.websocket as ws

    assert sorted(ws.__all__) == sorted(
        [
            "Closed",
            "Handshake",
            "HandshakeError",
            "Message",
            "Pong",
            "WSState",
            "WebSocketConnection",
            "accept",
            "negotiate",
            "parse_h2_websocket",
            "parse_upgrade",
            "switching_protocols",
        ]
    )
    assert issubclass(ws.HandshakeError, tapster.RemoteProtocolError)
