"""The CLI runner: click's CliRunner, invoking the app's command line (`app.test_cli_runner()`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner, Result

if TYPE_CHECKING:
    import click

    from firkin.app import Firkin

__all__ = ["FirkinCliRunner"]


class FirkinCliRunner(CliRunner):
    """`app.test_cli_runner().invoke(args=["my-command", "--flag"])`: runs the command as `firkin` would
    for this app (built-in `routes`/`shell`/`run` included), in its app context. No .env file is read."""

    def __init__(self, app: Firkin, **kwargs: Any) -> None:
        self.app = app
        super().__init__(**kwargs)

    def invoke(  # type: ignore[override]
        self, cli: click.Command | None = None, args: str | Sequence[str] | None = None, **kwargs: Any
    ) -> Result:
        """Invoke `cli` (default: the `firkin` command line for this app) with `args`; other keyword
        arguments go to click's `CliRunner.invoke` (`input=`, `env=`, `catch_exceptions=`)."""
        from firkin.cli import FirkinGroup, ScriptInfo

        if cli is None:
            cli = FirkinGroup(name=self.app.name, create_app=lambda: self.app, load_dotenv=False)
        if "obj" not in kwargs:
            kwargs["obj"] = ScriptInfo(create_app=lambda: self.app, load_dotenv_defaults=False)
        return super().invoke(cli, args, **kwargs)
