"""firkin.config: Flask's Config with FIRKIN_ as the default environment prefix."""

from __future__ import annotations

import pytest
from firkin.config import Config


def test_from_prefixed_env_defaults_to_firkin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRKIN_SECRET_KEY", "s3cr3t")
    monkeypatch.setenv("FIRKIN_DEBUG", "true")
    monkeypatch.setenv("FIRKIN_DB__PORT", "5432")
    monkeypatch.setenv("FLASK_OTHER", "1")
    config = Config(".")
    config["DB"] = {}
    assert config.from_prefixed_env() is True
    assert config["SECRET_KEY"] == "s3cr3t"
    assert config["DEBUG"] is True  # parsed as JSON
    assert config["DB"] == {"PORT": 5432}
    assert "OTHER" not in config
    assert config.from_prefixed_env("FLASK") is True
    assert config["OTHER"] == 1
