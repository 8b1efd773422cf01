"""The app's config reads FIRKIN_* variables by default."""

from __future__ import annotations

import pytest
from firkin import Firkin
from firkin.config import Config


def test_app_config_from_prefixed_env_reads_firkin_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRKIN_SECRET_KEY", "from-env")
    monkeypatch.setenv("FIRKIN_LIMIT", "10")
    monkeypatch.setenv("FLASK_OTHER", "ignored")
    app = Firkin(__name__)
    assert isinstance(app.config, Config)
    app.config.from_prefixed_env()
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["LIMIT"] == 10
    assert "OTHER" not in app.config
