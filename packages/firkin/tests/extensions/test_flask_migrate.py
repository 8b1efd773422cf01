"""Flask-Migrate on firkin, unpatched: its `db` commands (added to `app.cli` by `init_app`) through
the `firkin` command line: `db init`, `db migrate` (Alembic's autogenerate against the
Flask-SQLAlchemy models), `db upgrade` and `db downgrade` on an SQLite file."""

from __future__ import annotations

import sqlite3
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from firkin.cli import FirkinGroup

APP = """\
from firkin import Firkin
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

app = Firkin(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///{database}"
db = SQLAlchemy(app)
Migrate(app, db)


class Note(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    (tmp_path / "notes_app.py").write_text(textwrap.dedent(APP.format(database=tmp_path / "notes.db")))
    yield tmp_path
    # Only the app's module: what it imported (Alembic, SQLAlchemy's dialects) stays imported, as a
    # second import of those would register their SQL functions twice (SQLAlchemy warns).
    sys.modules.pop("notes_app", None)


def firkin(*args: str) -> Result:
    result = CliRunner().invoke(FirkinGroup(), ["--app", "notes_app", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        return {row[0] for row in connection.execute("select name from sqlite_master where type='table'")}


# Flask-Migrate's generated env.py tries Flask-SQLAlchemy 2's get_engine() first (deprecated in 3).
@pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")
def test_init_migrate_upgrade_downgrade(project: Path) -> None:
    firkin("db", "init")
    assert (project / "migrations" / "alembic.ini").is_file()
    firkin("db", "migrate", "-m", "notes")
    (script,) = (project / "migrations" / "versions").glob("*_notes.py")
    assert "op.create_table('note'" in script.read_text()
    firkin("db", "upgrade")
    assert tables(project / "notes.db") == {"alembic_version", "note"}
    revision = script.name.partition("_")[0]
    with sqlite3.connect(project / "notes.db") as connection:
        assert connection.execute("select version_num from alembic_version").fetchall() == [(revision,)]
    firkin("db", "downgrade")
    assert tables(project / "notes.db") == {"alembic_version"}
