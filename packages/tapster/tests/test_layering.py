"""The layering rules of DESIGN.md §2, enforced on the source text (imports), not on conventions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tapster"
EVENT_LOOPS = {"asyncio", "trio", "anyio", "uvloop", "sniffio", "curio"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_source_tree_is_found() -> None:
    assert len(_modules()) > 10


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_tapster_never_imports_firkin(path: Path) -> None:
    assert "firkin" not in _imports(path)


@pytest.mark.parametrize("path", sorted((SRC / "protocol").rglob("*.py")), ids=lambda p: p.name)
def test_protocol_is_sans_io(path: Path) -> None:
    forbidden = _imports(path) & (EVENT_LOOPS | {"socket", "selectors", "ssl", "time", "threading"})
    assert not forbidden, f"tapster.protocol must not import {forbidden}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_only_backends_import_an_event_loop(path: Path) -> None:
    rel = path.relative_to(SRC)
    if rel.parts[0] == "backends":
        return
    allowed = {"sniffio"} if rel.name == "_run.py" else set()  # detects the running library only
    if rel.parts[0] == "wsgi":
        # The WSGI adapter is an ASGI app, not driver code: like any portable app it reaches
        # worker threads through anyio, on whichever loop serves it.
        allowed = {"anyio"}
    forbidden = (_imports(path) & EVENT_LOOPS) - allowed
    assert not forbidden, f"{rel} imports {forbidden}; only tapster.backends.* may"


def test_protocol_does_not_read_the_clock() -> None:
    for path in (SRC / "protocol").rglob("*.py"):
        text = path.read_text()
        assert "time." not in text, path
        assert "datetime" not in text, path


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_only_the_protocol_layer_speaks_wire_formats(path: Path) -> None:
    # Framing (wsproto, h11) belongs to tapster.protocol; the driver sees our own events only.
    rel = path.relative_to(SRC)
    if rel.parts[0] == "protocol":
        return
    forbidden = _imports(path) & {"wsproto", "h11", "h2", "httptools"}
    assert not forbidden, f"{rel} imports {forbidden}; only tapster.protocol may"
