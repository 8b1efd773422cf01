"""The public surface: Flask's names at the top, Quart's module paths underneath."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import firkin
import pytest

SRC = Path(firkin.__file__).parent

QUART_MODULES = [
    "app",
    "blueprints",
    "config",
    "ctx",
    "datastructures",
    "globals",
    "helpers",
    "json",
    "json.provider",
    "json.tag",
    "logging",
    "routing",
    "sessions",
    "signals",
    "templating",
    "testing",
    "typing",
    "utils",
    "views",
    "wrappers",
]

# What `quart/__init__.py` (Quart 0.22) exports, under firkin's names.
QUART_TOP_LEVEL = {
    "Blueprint", "Config", "Firkin", "Markup", "Request", "Response", "ResponseReturnValue", "Websocket",
    "abort", "after_this_request", "appcontext_popped", "appcontext_pushed", "appcontext_tearing_down",
    "before_render_template", "copy_current_app_context", "copy_current_request_context",
    "copy_current_websocket_context", "current_app", "escape", "flash", "g", "get_flashed_messages",
    "get_template_attribute", "got_request_exception", "got_websocket_exception", "has_app_context",
    "has_request_context", "has_websocket_context", "jsonify", "make_push_promise", "make_response",
    "message_flashed", "redirect", "render_template", "render_template_string", "request",
    "request_finished", "request_started", "request_tearing_down", "send_file", "send_from_directory",
    "session", "signals_available", "stream_template", "stream_template_string", "stream_with_context",
    "template_rendered", "url_for", "websocket", "websocket_finished", "websocket_started",
    "websocket_tearing_down",
}  # fmt: skip


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
    # One readable list: sorted, each name once.
    assert firkin.__all__ == sorted(set(firkin.__all__))
    for name in firkin.__all__:
        assert hasattr(firkin, name)
    # Nothing public at the top that __all__ leaves out (submodules aside): the surface is what we mean.
    unlisted = {
        name
        for name, value in vars(firkin).items()
        if not name.startswith("_") and not isinstance(value, ModuleType) and name not in firkin.__all__
    }
    assert unlisted == set()


def test_quart_names_at_the_top() -> None:
    assert set(firkin.__all__) >= QUART_TOP_LEVEL
    assert firkin.signals_available is True


def test_quart_submodule_names() -> None:
    from firkin import datastructures, json, signals, utils
    from werkzeug.datastructures import FileStorage

    assert datastructures.FileStorage is FileStorage
    assert {"DefaultJSONProvider", "JSONProvider"} <= set(
        importlib.import_module("firkin.json.provider").__all__
    )
    assert "TaggedJSONSerializer" in importlib.import_module("firkin.json.tag").__all__
    assert json.DefaultJSONProvider is importlib.import_module("firkin.json.provider").DefaultJSONProvider
    assert signals.signals_available is True
    assert {"run_sync", "run_sync_iterable"} <= set(utils.__all__)


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
