"""The `firkin` command line: app discovery, .env files, routes, shell, app and blueprint commands,
async commands, and `firkin run` end to end (with the reloader)."""

from __future__ import annotations

import importlib
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import anyio
import click
import flask.cli
import httpx
import pytest
from click.testing import CliRunner, Result
from firkin import Blueprint, Firkin, current_app, g, has_app_context
from firkin.cli import AppGroup, FirkinGroup, NoAppException, ScriptInfo, cli, load_dotenv, locate_app
from firkin.testing import FirkinCliRunner

# A module template: `_make(who)` builds an app with a `who` command that prints `who`.
MAKER = """\
import click
from firkin import Firkin

def _make(who):
    app = Firkin(__name__, static_folder=None)

    @app.cli.command("who")
    def who_command():
        click.echo(who)

    return app
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean current directory; sys.path, sys.modules and os.environ are put back afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("FIRKIN_APP", "FIRKIN_DEBUG", "FIRKIN_SKIP_DOTENV", "FIRKIN_RUN_FD", "PYTHONSTARTUP"):
        monkeypatch.delenv(name, raising=False)
    modules = set(sys.modules)
    environ = dict(os.environ)
    yield tmp_path
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    os.environ.clear()
    os.environ.update(environ)


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    importlib.invalidate_caches()
    return path


def firkin(*args: str, **kwargs: Any) -> Result:
    return CliRunner().invoke(cli, list(args), **kwargs)


# ---------------------------------------------------------------------------- discovery


@pytest.mark.parametrize(
    ("body", "app_option", "expected"),
    [
        ("app = _make('app')", "mod", "app"),
        ("application = _make('application')", "mod", "application"),
        ("web = _make('only one')", "mod", "only one"),
        ("def create_app():\n    return _make('create_app')", "mod", "create_app"),
        ("def make_app():\n    return _make('make_app')", "mod", "make_app"),
        ("async def create_app():\n    return _make('async factory')", "mod", "async factory"),
        ("web = _make('web')\nother = _make('other')", "mod:web", "web"),
        (
            "def build(name, *, suffix=''):\n    return _make(name + suffix)",
            "mod:build('a', suffix='b')",
            "ab",
        ),
        ("def create_app():\n    return _make('called')", "mod:create_app", "called"),
        ("app = _make('by path')", "mod.py", "by path"),
        ("app = _make('by path and name')", "mod.py:app", "by path and name"),
    ],
)
def test_discovery(project: Path, body: str, app_option: str, expected: str) -> None:
    write(project / "mod.py", MAKER + body + "\n")
    result = firkin("--app", app_option, "who")
    assert result.exit_code == 0, result.output
    assert result.output == f"{expected}\n"


def test_discovery_file_in_a_package(project: Path) -> None:
    write(project / "pkg" / "__init__.py", "")
    write(project / "pkg" / "web.py", MAKER + "app = _make('package')\n")
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    result = firkin("--app", str(project / "pkg" / "web.py"), "who")
    assert result.output == "package\n"
    assert "pkg.web" in sys.modules  # imported under its package, not as a loose "web"


def test_dotted_module(project: Path) -> None:
    write(project / "pkg" / "__init__.py", "")
    write(project / "pkg" / "web.py", MAKER + "app = _make('dotted')\n")
    assert firkin("--app", "pkg.web", "who").output == "dotted\n"


@pytest.mark.parametrize("filename", ["wsgi.py", "app.py"])
def test_discovery_in_current_directory(project: Path, filename: str) -> None:
    write(project / filename, MAKER + f"app = _make({filename!r})\n")
    assert firkin("who").output == f"{filename}\n"


def test_wsgi_py_before_app_py(project: Path) -> None:
    write(project / "wsgi.py", MAKER + "app = _make('wsgi')\n")
    write(project / "app.py", MAKER + "app = _make('app')\n")
    assert firkin("who").output == "wsgi\n"


def test_firkin_app_environment_variable(project: Path) -> None:
    write(project / "mod.py", MAKER + "app = _make('from env')\n")
    assert firkin("who", env={"FIRKIN_APP": "mod"}).output == "from env\n"


def test_locate_app_and_script_info(project: Path) -> None:
    write(project / "mod.py", MAKER + "app = _make('x')\n")
    app = locate_app("mod")
    assert isinstance(app, Firkin)
    info = ScriptInfo(app_import_path="mod")
    assert info.load_app() is app
    assert info.load_app() is app  # loaded once
    assert isinstance(info, flask.cli.ScriptInfo)  # so Flask's with_appcontext finds it


@pytest.mark.parametrize(
    ("body", "app_option", "message"),
    [
        ("", "nope", "Error: Could not import 'nope': no such module (is the current directory right?)."),
        ("", "nope.deeper", "Error: Could not import 'nope.deeper': no such module"),
        ("app = _make('x')", "mod:nope", "Error: Failed to find attribute 'nope' in module 'mod'."),
        ("thing = 1", "mod:thing", "Error: 'mod:thing' did not give a Firkin application (got int)."),
        (
            "def create_app():\n    return 1",
            "mod:create_app()",
            "Error: 'mod:create_app()' did not give a Firkin",
        ),
        ("app = _make('x')", "mod:create_app(", "Error: Failed to parse 'create_app(' as an attribute name"),
        ("app = _make('x')", "mod:a.b", "Error: Failed to parse 'a.b' as an attribute name"),
        (
            "def create_app():\n    return _make('x')",
            "mod:create_app(1, 2)",
            "Error: The factory 'mod:create_app(1, 2)' cannot be called with the arguments given.",
        ),
        (
            "def create_app(a):\n    return _make(a)",
            "mod:create_app(a)",
            "Error: Failed to parse the arguments of 'mod:create_app(a)' as literal values.",
        ),
        ("x = 1", "mod", "Error: Failed to find a Firkin application or factory in module 'mod'"),
        ("a = _make('a')\nb = _make('b')", "mod", "Error: Found several Firkin applications in module 'mod'"),
        (
            "def create_app():\n    return 1",
            "mod",
            "Error: The factory mod:create_app did not return a Firkin",
        ),
    ],
)
def test_discovery_errors_are_one_line(project: Path, body: str, app_option: str, message: str) -> None:
    write(project / "mod.py", MAKER + body + "\n")
    result = firkin("--app", app_option, "routes")
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    lines = result.output.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(message)


def test_no_app_found(project: Path) -> None:
    result = firkin("routes")
    assert result.exit_code == 2
    assert result.output.startswith("Error: Could not locate a Firkin application: use 'firkin --app")


def test_unknown_command_when_the_app_does_not_load(project: Path) -> None:
    result = firkin("--app", "nope", "who")
    assert result.exit_code == 2
    assert "Error: Could not import 'nope'" in result.output
    assert "No such command 'who'" in result.output


def test_import_error_inside_the_module_keeps_its_traceback(project: Path) -> None:
    write(project / "mod.py", "import a_dependency_that_is_missing\n")
    result = firkin("--app", "mod", "routes")
    assert isinstance(result.exception, ModuleNotFoundError)
    assert result.exception.name == "a_dependency_that_is_missing"


def test_help_lists_app_commands_and_shows_load_errors(project: Path) -> None:
    write(project / "mod.py", MAKER + "app = _make('x')\n")
    result = firkin("--help", env={"FIRKIN_APP": "mod"})
    assert result.exit_code == 0
    assert " who" in result.output
    assert " routes " in result.output
    assert " run " in result.output
    result = firkin("--app", "nope", "--help")
    assert "Error: Could not import 'nope'" in result.output
    assert " routes " in result.output  # the built-ins still work
    write(project / "broken.py", "raise RuntimeError('boom at import')\n")
    result = firkin("--app", "broken", "--help")
    assert "RuntimeError: boom at import" in result.output


def test_version(project: Path) -> None:
    result = firkin("--version")
    assert result.exit_code == 0
    assert "Firkin 0.1.0" in result.output
    assert "Tapster" in result.output


# ---------------------------------------------------------------------------- debug and .env


def test_debug_flag(project: Path) -> None:
    write(
        project / "mod.py",
        MAKER + "app = _make('x')\n\n@app.cli.command()\ndef dbg():\n    print(app.debug)\n",
    )
    assert firkin("--app", "mod", "dbg").output == "False\n"
    assert firkin("--app", "mod", "--debug", "dbg").output == "True\n"
    assert os.environ["FIRKIN_DEBUG"] == "1"  # set in the environment, for app factories
    assert firkin("--app", "mod", "dbg", env={"FIRKIN_DEBUG": "1"}).output == "True\n"
    assert firkin("--app", "mod", "--no-debug", "dbg", env={"FIRKIN_DEBUG": "1"}).output == "False\n"


ENV_APP = (
    MAKER
    + """\
import os

app = _make('x')

@app.cli.command()
def env():
    click.echo(os.environ.get("FOO", "-") + " " + os.environ.get("BAR", "-"))
"""
)


def test_dotenv_files(project: Path) -> None:
    write(project / "mod.py", ENV_APP)
    write(project / ".firkinenv", "FIRKIN_APP=mod\nFOO=firkinenv\nBAR=firkinenv\n")
    write(project / ".env", "FOO=dotenv\n")
    result = firkin("env")  # FIRKIN_APP comes from .firkinenv
    assert result.output == "dotenv firkinenv\n"  # .env wins over .firkinenv


def test_dotenv_found_in_a_parent_directory(project: Path) -> None:
    write(project / ".env", "FOO=parent\n")
    (project / "sub").mkdir()
    os.chdir(project / "sub")
    assert load_dotenv() is True
    assert os.environ["FOO"] == "parent"


def test_environment_wins_over_dotenv(project: Path) -> None:
    write(project / "mod.py", ENV_APP)
    write(project / ".env", "FOO=dotenv\nBAR=dotenv\n")
    assert firkin("--app", "mod", "env", env={"FOO": "environ"}).output == "environ dotenv\n"


def test_env_file_option(project: Path) -> None:
    write(project / "mod.py", ENV_APP)
    write(project / ".env", "FOO=dotenv\nBAR=dotenv\n")
    write(project / "custom.env", "FOO=custom\n")
    assert firkin("--env-file", "custom.env", "--app", "mod", "env").output == "custom dotenv\n"
    result = firkin("--env-file", "missing.env", "--app", "mod", "env")
    assert result.exit_code == 2
    assert "'missing.env' does not exist" in result.output


def test_skip_dotenv(project: Path) -> None:
    write(project / "mod.py", ENV_APP)
    write(project / ".env", "FOO=dotenv\n")
    write(project / "custom.env", "BAR=custom\n")
    result = firkin("--app", "mod", "env", env={"FIRKIN_SKIP_DOTENV": "1"})
    assert result.output == "- -\n"
    result = firkin("-e", "custom.env", "--app", "mod", "env", env={"FIRKIN_SKIP_DOTENV": "1"})
    assert result.output == "- custom\n"  # an explicit file is still read


def test_no_dotenv_files() -> None:
    assert load_dotenv(load_defaults=False) is False


SHOW_ENV_APP = """\
import os

import click
from firkin import Firkin

app = Firkin(__name__)


@app.cli.command()
def show():
    names = ("FOO", "BAR", "BAZ", "FROM_FLASKENV", "FROM_QUARTENV")
    click.echo(" ".join(os.environ.get(name, "-") for name in names))
"""


def run_firkin_script(project: Path, *args: str, **extra: str) -> str:
    """The installed `firkin` console script, in a process of its own (so .env files are read as a
    user's shell would have them read), with only PATH and HOME from this environment."""
    script = Path(sys.executable).parent / "firkin"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "firkin"]
    env = {name: os.environ[name] for name in ("PATH", "HOME", "SYSTEMROOT") if name in os.environ}
    done = subprocess.run(
        [*command, *args], cwd=project, env={**env, **extra}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_dotenv_precedence_through_the_console_script(project: Path) -> None:
    """Quart reads `.env` and `.quartenv`, `.env` winning; firkin reads `.env` and `.firkinenv` the
    same way. Neither reads `.flaskenv`, nor (in firkin) `.quartenv`: renamed by the swap, it is
    `.firkinenv`. The environment wins over every file. Different on purpose: a file given with
    `-e` wins over `.env` and `.firkinenv`, as in Flask 3.1 (Quart lets the default files win)."""
    write(project / "app.py", SHOW_ENV_APP)
    write(project / ".firkinenv", "FOO=firkinenv\nBAR=firkinenv\nBAZ=firkinenv\n")
    write(project / ".env", "FOO=dotenv\nBAR=dotenv\n")
    write(project / ".flaskenv", "FOO=flaskenv\nFROM_FLASKENV=yes\n")
    write(project / ".quartenv", "FOO=quartenv\nFROM_QUARTENV=yes\n")
    write(project / "custom.env", "FOO=custom\n")
    assert run_firkin_script(project, "show") == "dotenv dotenv firkinenv - -\n"
    assert run_firkin_script(project, "show", BAR="environ") == "dotenv environ firkinenv - -\n"
    assert run_firkin_script(project, "-e", "custom.env", "show") == "custom dotenv firkinenv - -\n"
    assert run_firkin_script(project, "-e", "custom.env", "show", FOO="environ").startswith("environ ")
    skipped = run_firkin_script(project, "-e", "custom.env", "show", FIRKIN_SKIP_DOTENV="1")
    assert skipped == "custom - - - -\n"


def test_firkin_app_from_firkinenv_through_the_console_script(project: Path) -> None:
    """`FIRKIN_APP` (Quart's `QUART_APP`) in `.firkinenv` picks the app before `--app` is needed."""
    write(project / "service.py", SHOW_ENV_APP)
    write(project / ".firkinenv", "FIRKIN_APP=service\nBAZ=found\n")
    assert run_firkin_script(project, "show") == "- - found - -\n"


# ---------------------------------------------------------------------------- routes


def routes_app() -> Firkin:
    app = Firkin(__name__, static_folder=None)

    @app.get("/")
    async def index() -> str:
        return ""

    @app.route("/items", methods=["GET", "POST"])
    async def items() -> str:
        return ""

    bp = Blueprint("admin", __name__, url_prefix="/admin")

    @bp.delete("/<int:id>")
    async def delete(id: int) -> str:
        return ""

    app.register_blueprint(bp)
    return app


def test_routes() -> None:
    result = routes_app().test_cli_runner().invoke(args=["routes"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Endpoint      Methods    Rule\n"
        "------------  ---------  ---------------\n"
        "admin.delete  DELETE     /admin/<int:id>\n"
        "index         GET        /\n"
        "items         GET, POST  /items\n"
    )


def test_routes_sorted() -> None:
    runner = routes_app().test_cli_runner()

    def endpoints(*args: str) -> list[str]:
        return [line.split()[0] for line in runner.invoke(args=["routes", *args]).output.splitlines()[2:]]

    assert endpoints("--sort", "rule") == ["index", "admin.delete", "items"]
    assert endpoints("--sort", "match") == ["index", "items", "admin.delete"]
    assert endpoints("-s", "methods") == ["admin.delete", "index", "items"]
    assert runner.invoke(args=["routes", "--sort", "nope"]).exit_code == 2


def test_routes_all_methods() -> None:
    output = routes_app().test_cli_runner().invoke(args=["routes", "--all-methods"]).output
    assert "GET, HEAD, OPTIONS, POST  /items" in output


def test_routes_with_subdomains() -> None:
    app = Firkin(__name__, static_folder=None, subdomain_matching=True)

    @app.get("/", subdomain="api")
    async def api() -> str:
        return ""

    @app.get("/")
    async def index() -> str:
        return ""

    output = app.test_cli_runner().invoke(args=["routes", "--sort", "domain"]).output
    assert output.splitlines() == [
        "Endpoint  Methods  Subdomain  Rule",
        "--------  -------  ---------  ----",
        "index     GET                 /",
        "api       GET      api        /",
    ]


def test_no_routes() -> None:
    app = Firkin(__name__, static_folder=None)
    assert app.test_cli_runner().invoke(args=["routes"]).output == "No routes were registered.\n"


# ---------------------------------------------------------------------------- app and blueprint commands


def test_app_command_runs_in_the_app_context() -> None:
    app = Firkin(__name__, static_folder=None)
    seen: list[Any] = []

    @app.cli.command()
    @click.option("--name", default="world")
    def hello(name: str) -> None:
        g.greeting = "hello"
        seen.append(current_app._get_current_object())  # type: ignore[attr-defined]
        click.echo(f"{g.greeting} {name}")

    runner = app.test_cli_runner()
    assert isinstance(runner, FirkinCliRunner)
    result = runner.invoke(args=["hello", "--name", "firkin"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello firkin\n"
    assert seen == [app]
    assert not has_app_context()  # popped afterwards
    assert (
        runner.invoke(hello, ["--name", "direct"]).output == "hello direct\n"
    )  # a command, invoked directly


def test_command_errors_and_exit_codes() -> None:
    app = Firkin(__name__, static_folder=None)

    @app.cli.command()
    def fail() -> None:
        raise click.ClickException("it went wrong")

    @app.cli.command()
    def boom() -> None:
        raise ValueError("a bug")

    runner = app.test_cli_runner()
    result = runner.invoke(args=["fail"])
    assert (result.exit_code, result.output) == (1, "Error: it went wrong\n")
    result = runner.invoke(args=["boom"])
    assert isinstance(result.exception, ValueError)
    assert runner.invoke(args=["missing"]).exit_code == 2


def test_blueprint_commands() -> None:
    app = Firkin(__name__, static_folder=None)
    default = Blueprint("users", __name__)
    named = Blueprint("admin", __name__, cli_group="staff")
    merged = Blueprint("tools", __name__, cli_group=None)
    for bp in (default, named, merged):

        @bp.cli.command("create")
        def create() -> None:
            click.echo(f"created in {current_app.name}")

    merged.cli.commands["tool"] = merged.cli.commands.pop("create")
    for bp in (default, named, merged):
        app.register_blueprint(bp)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create"]).output == "created in test_cli\n"
    assert runner.invoke(args=["staff", "create"]).output == "created in test_cli\n"
    assert runner.invoke(args=["tool"]).output == "created in test_cli\n"
    assert runner.invoke(args=["admin", "create"]).exit_code == 2


def test_async_commands() -> None:
    app = Firkin(__name__, static_folder=None)
    bp = Blueprint("jobs", __name__)

    @app.cli.command()
    @click.argument("n", type=int)
    async def count(n: int) -> None:
        for i in range(n):
            await anyio.sleep(0)
            click.echo(i)
        g.counted = n
        click.echo(f"{current_app.name} {g.counted}")

    @bp.cli.command()
    async def run_jobs() -> None:
        await anyio.sleep(0)
        click.echo(f"jobs in {current_app.name}")

    app.register_blueprint(bp)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["count", "2"])
    assert result.exit_code == 0, result.output
    assert result.output == "0\n1\ntest_cli 2\n"
    assert runner.invoke(args=["jobs", "run-jobs"]).output == "jobs in test_cli\n"


def test_async_command_in_a_flask_app_group() -> None:
    """A group made with Flask's AppGroup (Flask's with_appcontext) also gets the firkin app and
    its async commands are awaited."""
    app = Firkin(__name__, static_folder=None)
    group = flask.cli.AppGroup("legacy")

    @group.command()
    async def ping() -> None:
        await anyio.sleep(0)
        click.echo(f"pong from {current_app.name}")

    app.cli.add_command(group)
    result = app.test_cli_runner().invoke(args=["legacy", "ping"])
    assert result.exit_code == 0, result.output
    assert result.output == "pong from test_cli\n"


def test_firkin_app_group() -> None:
    app = Firkin(__name__, static_folder=None)
    group = AppGroup("db")
    assert isinstance(group, flask.cli.AppGroup)

    @group.command()
    async def init() -> None:
        await anyio.sleep(0)
        click.echo(f"init {current_app.name} {has_app_context()}")

    @group.command(with_appcontext=False)
    async def version() -> None:
        await anyio.sleep(0)
        click.echo(f"v1 {has_app_context()}")

    @group.group()
    def nested() -> None:
        pass

    @nested.command()
    def deep() -> None:
        click.echo(current_app.name)

    assert isinstance(nested, AppGroup)
    app.cli.add_command(group)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "init"]).output == "init test_cli True\n"
    assert runner.invoke(args=["db", "nested", "deep"]).output == "test_cli\n"
    # Without the firkin group around it, nothing pushes an app context:
    assert runner.invoke(group, ["version"]).output == "v1 False\n"


def test_custom_script_group(project: Path) -> None:
    app = Firkin(__name__, static_folder=None)

    @app.cli.command()
    def hello() -> None:
        click.echo(f"hello from {current_app.name}")

    script = FirkinGroup(create_app=lambda: app, add_default_commands=False, add_version_option=False)
    result = CliRunner().invoke(script, ["hello"])
    assert result.output == "hello from test_cli\n"
    assert CliRunner().invoke(script, ["routes"]).exit_code == 2


def test_no_app_exception_is_a_click_exception() -> None:
    exc = NoAppException("Could not import 'x'.")
    assert isinstance(exc, click.ClickException)
    assert exc.exit_code == 2


# ---------------------------------------------------------------------------- shell


def shell_app() -> Firkin:
    app = Firkin(__name__, static_folder=None)

    @app.shell_context_processor
    def names() -> dict[str, Any]:
        return {"answer": 42}

    return app


def test_shell_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    import code

    app = shell_app()
    seen: dict[str, Any] = {}

    def interact(banner: str | None = None, local: dict[str, Any] | None = None, **kwargs: Any) -> None:
        assert local is not None
        seen.update(local, banner=banner, in_context=has_app_context(), context_g=g._get_current_object())

    monkeypatch.setattr(code, "interact", interact)
    result = app.test_cli_runner().invoke(args=["shell"])
    assert result.exit_code == 0, result.output
    assert seen["app"] is app
    assert seen["answer"] == 42
    assert seen["in_context"] is True
    assert seen["g"] is seen["context_g"]  # the g of the app context the shell runs in
    assert "App: test_cli" in seen["banner"]


def test_shell_runs_pythonstartup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import code

    startup = write(tmp_path / "startup.py", "from_startup = 'yes'\n")
    monkeypatch.setenv("PYTHONSTARTUP", str(startup))
    seen: dict[str, Any] = {}
    monkeypatch.setattr(code, "interact", lambda banner=None, local=None, **kw: seen.update(local or {}))
    shell_app().test_cli_runner().invoke(args=["shell"])
    assert seen["from_startup"] == "yes"


# ---------------------------------------------------------------------------- subprocesses


SERVED = """\
import os

from firkin import Firkin, g

app = Firkin(__name__)

@app.shell_context_processor
def names():
    return {"answer": 42}

@app.get("/")
async def index():
    return f"VERSION {os.getpid()}"
"""


def child_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FIRKIN_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Lines:
    """Collects the lines of a child's output stream in a thread, so waits can have a deadline."""

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None
        self.stream = stream
        self.lines: list[str] = []
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.stream:
            self.queue.put(line)
        self.queue.put(None)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        """The next line containing `text`; fails after `timeout` seconds or at the end of the stream."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{text!r} did not come within {timeout}s; got {self.lines!r}") from None
            if line is None:
                self.queue.put(None)
                raise AssertionError(f"the stream ended before {text!r}; got {self.lines!r}")
            self.lines.append(line)
            if text in line:
                return line

    def rest(self) -> str:
        """Everything (after the process exited and the stream ended)."""
        self.thread.join(timeout=10)
        while (line := self.queue.get_nowait() if not self.queue.empty() else None) is not None:
            self.lines.append(line)
        return "".join(self.lines)


class Child:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.stdout = Lines(proc.stdout)
        self.stderr = Lines(proc.stderr)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, and the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


@pytest.fixture
def spawn(project: Path) -> Iterator[Callable[..., Child]]:
    """Start processes in the project directory; any still running at the end is killed."""
    children: list[Child] = []

    def start(*command: str) -> Child:
        proc = subprocess.Popen(
            command,
            cwd=project,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: a reloader's server is cleaned up with it
        )
        children.append(Child(proc))
        return children[-1]

    yield start
    for child in children:
        try:
            os.killpg(child.proc.pid, signal.SIGKILL)  # the process, and any server a reloader left
        except ProcessLookupError:
            pass
        child.proc.wait()
        child.stdout.rest()
        child.stderr.rest()
        for stream in (child.proc.stdout, child.proc.stderr):
            if stream is not None:
                stream.close()


def url_of(line: str) -> str:
    return line.split("Running on ", 1)[1].split()[0]


FIRKIN_SCRIPT = str(Path(sys.executable).parent / "firkin")


@pytest.mark.parametrize(
    "command", [(sys.executable, "-m", "firkin"), (FIRKIN_SCRIPT,)], ids=["-m", "script"]
)
def test_run_serves_until_sigterm(
    project: Path, spawn: Callable[..., Child], command: tuple[str, ...]
) -> None:
    write(project / "served.py", SERVED)
    child = spawn(*command, "--app", "served:app", "run", "--port", "0")
    line = child.stdout.wait_for("Running on")
    assert child.stdout.lines[0] == " * Serving Firkin app 'served'\n"
    assert child.stdout.lines[1] == " * Debug mode: off\n"
    url = url_of(line)
    assert url.startswith("http://127.0.0.1:")
    assert not url.endswith(":0")
    response = httpx.get(url + "/", timeout=5)
    assert response.status_code == 200
    assert response.text == f"VERSION {child.proc.pid}"
    assert child.stop() == 0
    err = child.stderr.rest()
    assert '"GET / HTTP/1.1" 200' in err  # the access log
    assert "Traceback" not in err


def test_run_errors(project: Path) -> None:
    result = firkin("--app", "nope", "run", "--port", "0")
    assert result.exit_code == 2
    assert result.output.startswith("Error: Could not import 'nope'")
    write(project / "served.py", SERVED)
    write(project / "key.pem", "not a key")
    result = firkin("--app", "served", "run", "--keyfile", "key.pem")
    assert result.exit_code == 2
    assert "--keyfile needs --certfile" in result.output
    result = firkin("--app", "served", "run", "--port", "70000")
    assert result.exit_code == 2


def test_run_reports_a_port_in_use(project: Path) -> None:
    import socket

    write(project / "served.py", SERVED)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = firkin("--app", "served", "run", "--port", str(port))
    assert result.exit_code == 1
    assert f"Error: cannot listen on 127.0.0.1:{port}" in result.output


def test_run_bad_certificate(project: Path) -> None:
    write(project / "served.py", SERVED)
    write(project / "cert.pem", "not a certificate")
    result = firkin("--app", "served", "run", "--port", "0", "--certfile", "cert.pem")
    assert result.exit_code == 1
    assert "cannot load TLS certificate" in result.output


def test_shell_in_a_subprocess(project: Path) -> None:
    write(project / "served.py", SERVED)
    proc = subprocess.run(
        [sys.executable, "-m", "firkin", "--app", "served", "shell"],
        input="print('names:', app.name, type(g).__name__, answer)\n",
        cwd=project,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "names: served _AppCtxGlobals 42" in proc.stdout
    assert "App: served" in proc.stderr + proc.stdout


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def get_text(url: str, timeout: float = 15.0) -> str:
    """GET url, retrying while nothing accepts connections yet (a server starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5).text
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def touch(path: Path, source: str) -> None:
    path.write_text(source)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # a visible mtime change


@pytest.mark.slow
def test_reload_restarts_on_change(project: Path, spawn: Callable[..., Child]) -> None:
    source = write(project / "served.py", SERVED)
    child = spawn(sys.executable, "-m", "firkin", "--app", "served", "run", "--reload", "--port", "0")
    url = url_of(child.stdout.wait_for("Running on")) + "/"
    child.stdout.wait_for("Serving Firkin app")
    first = get_text(url)
    assert first.startswith("VERSION ")
    first_pid = int(first.split()[1])
    assert first_pid != child.proc.pid  # served by a child process

    touch(source, SERVED.replace("VERSION", "CHANGED"))
    child.stderr.wait_for("Detected a change in")
    deadline = time.monotonic() + 15
    while not (second := get_text(url)).startswith("CHANGED"):
        assert time.monotonic() < deadline, second
        time.sleep(0.1)
    second_pid = int(second.split()[1])
    assert second_pid not in (first_pid, child.proc.pid)
    assert not alive(first_pid)

    assert child.stop() == 0
    assert not alive(second_pid)
    assert "Traceback" not in child.stderr.rest()


@pytest.mark.slow
def test_reload_survives_a_broken_app(project: Path, spawn: Callable[..., Child]) -> None:
    source = write(project / "served.py", "this is not python\n")
    child = spawn(sys.executable, "-m", "firkin", "--app", "served", "--debug", "run", "--port", "0")
    url = url_of(child.stdout.wait_for("Running on")) + "/"  # --debug turns the reloader on
    child.stderr.wait_for("failed to start")
    touch(source, SERVED)
    child.stdout.wait_for("Debug mode: on")
    assert get_text(url).startswith("VERSION")
    assert child.stop() == 0


SCRIPT = """\
import os

from firkin import Firkin
from firkin.cli import FirkinGroup


def create_app():
    app = Firkin("scripted")

    @app.get("/")
    async def index():
        return f"SCRIPTED {os.getpid()}"

    return app


cli = FirkinGroup(create_app=create_app)

if __name__ == "__main__":
    cli()
"""


@pytest.mark.slow
def test_reload_from_a_custom_script(project: Path, spawn: Callable[..., Child]) -> None:
    # The worker finds the script's create_app by name, from the script's file (not as __main__,
    # so the script's command line does not run again in the worker).
    write(project / "manage.py", SCRIPT)
    child = spawn(sys.executable, "manage.py", "run", "--reload", "--port", "0")
    url = url_of(child.stdout.wait_for("Running on")) + "/"
    child.stdout.wait_for("Serving Firkin app 'scripted'")
    text = get_text(url)
    assert text.startswith("SCRIPTED ")
    assert int(text.split()[1]) != child.proc.pid
    assert child.stop() == 0
    assert "Traceback" not in child.stderr.rest()


@pytest.mark.slow
def test_reload_watches_extra_files(
    project: Path, spawn: Callable[..., Child], tmp_path_factory: Any
) -> None:
    write(project / "served.py", SERVED)
    elsewhere = tmp_path_factory.mktemp("config") / "settings.toml"  # outside the project, not .py
    elsewhere.write_text("debug = false\n")
    child = spawn(
        sys.executable, "-m", "firkin", "--app", "served", "run", "--reload", "--port", "0",
        "--extra-files", str(elsewhere),
    )  # fmt: skip
    url = url_of(child.stdout.wait_for("Running on")) + "/"
    child.stdout.wait_for("Serving Firkin app")  # the first worker
    first = int(get_text(url).split()[1])
    touch(elsewhere, "debug = true\n")
    assert "settings.toml" in child.stderr.wait_for("Detected a change in")
    child.stdout.wait_for("Serving Firkin app")  # its replacement
    assert int(get_text(url).split()[1]) != first
    assert child.stop() == 0


def test_plugin_commands_of_flask_extensions(project: Path) -> None:
    # An installed distribution (its dist-info on sys.path) whose `flask.commands` entry points
    # are a Flask extension's CLI (Flask-Limiter's `limiter` is one): written for Flask's CLI, with
    # Flask's `with_appcontext`, they run under `firkin` on the firkin app. A `run` among them does
    # not replace firkin's, and a `firkin.commands` plugin wins over a Flask one of the same name.
    write(
        project / "ext_cli.py",
        """\
        import click
        from flask import current_app
        from flask.cli import with_appcontext

        @click.group()
        def ext():
            "The extension's commands."

        @ext.command()
        @with_appcontext
        def status():
            click.echo(f"ext on {current_app.name}: {current_app.config['EXT_MODE']}")

        @click.command()
        def run():
            click.echo("the extension's run")

        @click.command()
        def both():
            click.echo("flask plugin")

        @click.command()
        def both_firkin():
            click.echo("firkin plugin")
        """,
    )
    dist = project / "ext_cli-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ext-cli\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[flask.commands]\next = ext_cli:ext\nrun = ext_cli:run\nboth = ext_cli:both\n\n"
        "[firkin.commands]\nboth = ext_cli:both_firkin\n"
    )
    write(
        project / "extapp.py",
        "from firkin import Firkin\napp = Firkin('extapp')\napp.config['EXT_MODE'] = 'on'\n",
    )
    sys.path.insert(0, str(project))
    importlib.invalidate_caches()
    group = FirkinGroup()  # (not the module's `cli`: it keeps the plugins it loaded once)

    def run(*args: str) -> Result:
        return CliRunner().invoke(group, list(args))

    result = run("--app", "extapp", "ext", "status")
    assert (result.exit_code, result.output) == (0, "ext on extapp: on\n")
    assert run("--app", "extapp", "both").output == "firkin plugin\n"
    assert "The extension's commands." in run("--app", "extapp", "--help").output
    assert "Serve the app with tapster" in run("run", "--help").output  # firkin's own run
