"""The `firkin` command line (and `python -m firkin`): Flask's `flask` command, for firkin apps.

`firkin --app module:app run | routes | shell | <the app's own commands>`. Commands registered with
`@app.cli.command()` run inside an application context; `async def` commands are run with anyio.
"""

from __future__ import annotations

import functools
import inspect
import os
import socket
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click
from flask.cli import AppGroup as _FlaskAppGroup
from flask.cli import ScriptInfo as _FlaskScriptInfo

from ._discovery import NoAppException, _locate, locate_app
from ._run_worker import watch_roots, worker_environment
from ._sync import run_to_completion as _run_result
from .debug import DebugMiddleware
from .globals import _cv_app
from .helpers import get_debug_flag, get_load_dotenv

if TYPE_CHECKING:
    from .app import Firkin

__all__ = [
    "AppGroup",
    "FirkinGroup",
    "NoAppException",
    "ScriptInfo",
    "load_dotenv",
    "locate_app",
    "main",
    "pass_script_info",
    "with_appcontext",
]

F = TypeVar("F", bound=Callable[..., Any])


# ---------------------------------------------------------------------------- async commands


def _sync_command(f: Callable[..., Any]) -> Callable[..., Any]:
    """A sync callable for click that runs `async def f` with anyio (plain functions pass through)."""
    if not inspect.iscoroutinefunction(f):
        return f

    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        return _run_result(f(*args, **kwargs))

    return run


class ScriptInfo(_FlaskScriptInfo):
    """How the command line finds the app: an import path (`--app`), a factory, or a `wsgi.py` /
    `app.py` in the current directory. It is Flask's ScriptInfo type, so commands made with
    Flask's `AppGroup` (Flask's `with_appcontext`) find the firkin app too."""

    def __init__(
        self,
        app_import_path: str | None = None,
        create_app: Callable[[], Firkin] | None = None,
        set_debug_flag: bool = True,
        load_dotenv_defaults: bool = True,
    ) -> None:
        super().__init__(app_import_path, None, set_debug_flag)
        self.load_dotenv_defaults = get_load_dotenv(load_dotenv_defaults)
        self.create_firkin_app = create_app
        self._firkin_app: Firkin | None = None

    def load_app(self) -> Firkin:  # type: ignore[override]
        """Load the app once (later calls return it); raises NoAppException with a one-line reason."""
        if self._firkin_app is not None:
            return self._firkin_app
        app: Firkin | None = None
        if self.create_firkin_app is not None:
            app = _run_result(self.create_firkin_app())
        elif self.app_import_path:
            app = locate_app(self.app_import_path)
        else:
            for filename in ("wsgi.py", "app.py"):
                if os.path.isfile(filename):
                    app = _locate(filename, "")
                    break
        if app is None:
            raise NoAppException(
                "Could not locate a Firkin application: use 'firkin --app module:name', set FIRKIN_APP, "
                "or add a wsgi.py or app.py to the current directory."
            )
        if self.set_debug_flag:
            app.debug = get_debug_flag()
        self._firkin_app = app
        return app


pass_script_info = click.make_pass_decorator(ScriptInfo, ensure=True)


def with_appcontext(f: F) -> F:
    """Run the command inside the app's application context (pushing one unless it is active).
    `async def` commands are run with anyio, inside the context."""
    call = _sync_command(f)

    @click.pass_context
    def command(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        if _cv_app.get(None) is None:
            app = ctx.ensure_object(ScriptInfo).load_app()
            ctx.with_resource(app.app_context())
        return ctx.invoke(call, *args, **kwargs)

    return functools.update_wrapper(command, f)  # type: ignore[return-value]


class AppGroup(_FlaskAppGroup):
    """A click group whose commands run in the app context (`with_appcontext=False` to opt out) and may
    be `async def`. It is a Flask `AppGroup`, so code written for Flask's works with it."""

    def command(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], click.Command]:
        in_context = kwargs.pop("with_appcontext", True)

        def decorator(f: Callable[..., Any]) -> click.Command:
            callback = with_appcontext(f) if in_context else _sync_command(f)
            command: click.Command = click.Group.command(self, *args, **kwargs)(callback)
            return command

        return decorator

    def group(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], click.Group]:
        kwargs.setdefault("cls", AppGroup)
        decorator: Callable[[Callable[..., Any]], click.Group] = click.Group.group(self, *args, **kwargs)
        return decorator


# ---------------------------------------------------------------------------- .env files


def load_dotenv(path: str | os.PathLike[str] | None = None, load_defaults: bool = True) -> bool:
    """Set environment variables from `.firkinenv` and `.env` (the nearest ones, searching up from the
    current directory) and from `path`. A later file wins over an earlier one (`path` over `.env` over
    `.firkinenv`); a variable already in the environment wins over every file. True if any file was
    loaded."""
    import dotenv

    files: list[str | os.PathLike[str]] = []
    if load_defaults:
        for name in (".firkinenv", ".env"):
            found = dotenv.find_dotenv(name, usecwd=True)
            if found:
                files.append(found)
    if path is not None and os.path.isfile(path):
        files.append(path)
    values: dict[str, str | None] = {}
    for file in files:
        values.update(dotenv.dotenv_values(file, encoding="utf-8"))
    for key, value in values.items():
        if value is not None and key not in os.environ:
            os.environ[key] = value
    return bool(files)


# ---------------------------------------------------------------------------- the group's options


def _on_env_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    info = ctx.ensure_object(ScriptInfo)
    if value is not None or info.load_dotenv_defaults:
        load_dotenv(value, load_defaults=info.load_dotenv_defaults)
    return value


def _on_app(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value:
        ctx.ensure_object(ScriptInfo).app_import_path = value
    return value


def _on_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool | None:
    source = ctx.get_parameter_source(param.name or "debug")
    if source in (None, click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP):
        return None  # not asked for: FIRKIN_DEBUG (if set) decides
    # Through the environment, so that an app factory sees it too.
    os.environ["FIRKIN_DEBUG"] = "1" if value else "0"
    return value


def _on_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    lines = [f"Python {sys.version.split()[0]}"]
    for dist in ("firkin", "tapster", "flask", "werkzeug", "click"):
        try:
            lines.append(f"{dist.capitalize()} {version(dist)}")
        except PackageNotFoundError:  # pragma: no cover - run from a source tree
            pass
    click.echo("\n".join(lines), color=ctx.color)
    ctx.exit()


# --env-file is eager and first, so a FIRKIN_APP in a .env file is seen by --app.
_env_file_option = click.Option(
    ["-e", "--env-file"],
    type=click.Path(exists=True, dir_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_on_env_file,
    help="Load environment variables from this file (over .env and .firkinenv; variables already set "
    "in the environment win).",
)
_app_option = click.Option(
    ["-A", "--app"],
    metavar="IMPORT",
    is_eager=True,
    expose_value=False,
    callback=_on_app,
    help="The application, as 'module:name', 'module:factory(args)' or a file path. ':name' is not "
    "needed for 'app', 'application', 'create_app' or 'make_app'. Default: FIRKIN_APP, then wsgi.py "
    "or app.py in the current directory.",
)
_debug_option = click.Option(
    ["--debug/--no-debug"], expose_value=False, callback=_on_debug, help="Set debug mode (FIRKIN_DEBUG)."
)
_version_option = click.Option(
    ["--version"],
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_on_version,
    help="Show the Python, Firkin, Tapster and Flask versions.",
)


class FirkinGroup(AppGroup):
    """The `firkin` command: built-in `run`, `routes` and `shell`, plugins from the `firkin.commands`
    entry points and then Flask extensions' `flask.commands` ones, and the commands of the loaded
    app's `app.cli`. Use it for a custom script:
    `cli = FirkinGroup(create_app=make_my_app)`."""

    def __init__(
        self,
        add_default_commands: bool = True,
        create_app: Callable[[], Firkin] | None = None,
        add_version_option: bool = True,
        load_dotenv: bool = True,
        set_debug_flag: bool = True,
        **extra: Any,
    ) -> None:
        params: list[click.Parameter] = list(extra.pop("params", None) or ())
        params += [_env_file_option, _app_option, _debug_option]
        if add_version_option:
            params.append(_version_option)
        extra.setdefault("context_settings", {}).setdefault("auto_envvar_prefix", "FIRKIN")
        super().__init__(params=params, **extra)
        self.create_app = create_app
        self.load_dotenv = load_dotenv
        self.set_debug_flag = set_debug_flag
        self._plugins_loaded = False
        if add_default_commands:
            self.add_command(run_command)
            self.add_command(shell_command)
            self.add_command(routes_command)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        from importlib.metadata import entry_points

        for entry in entry_points(group="firkin.commands"):
            self.add_command(entry.load(), entry.name)
        # Flask extensions' plugin commands (Flask-Limiter's `limiter`): they find the app through
        # Flask's ScriptInfo, which firkin's is. A name already taken keeps its command.
        for entry in entry_points(group="flask.commands"):
            if entry.name not in self.commands:
                self.add_command(entry.load(), entry.name)
        self._plugins_loaded = True

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load_plugins()
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command  # built-in and plugin commands work even when the app does not load
        try:
            app = ctx.ensure_object(ScriptInfo).load_app()
        except NoAppException as exc:
            click.secho(f"Error: {exc.format_message()}\n", err=True, fg="red")
            return None
        # The app context is there for the command's parameter callbacks as well as for the command.
        active = _cv_app.get(None)
        if active is None or active.app is not app:
            ctx.with_resource(app.app_context())
        return app.cli.get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugins()
        names = set(super().list_commands(ctx))
        try:
            names.update(ctx.ensure_object(ScriptInfo).load_app().cli.list_commands(ctx))
        except NoAppException as exc:
            click.secho(f"Error: {exc.format_message()}\n", err=True, fg="red")
        except Exception:  # noqa: BLE001 - the app failed to import: show why, still list the built-ins
            click.secho(f"{traceback.format_exc()}\n", err=True, fg="red")
        return sorted(names)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        if "obj" not in extra and "obj" not in self.context_settings:
            extra["obj"] = ScriptInfo(
                create_app=self.create_app,
                set_debug_flag=self.set_debug_flag,
                load_dotenv_defaults=self.load_dotenv,
            )
        return super().make_context(info_name, args, parent=parent, **extra)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if (not args and self.no_args_is_help) or (len(args) == 1 and args[0] in ctx.help_option_names):
            # Help is shown before eager options run: load .env and --app/FIRKIN_APP first, so the
            # help lists the app's commands.
            _env_file_option.handle_parse_result(ctx, {}, [])
            _app_option.handle_parse_result(ctx, {}, [])
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        # A command made with Flask's AppGroup (or plain click) may be `async def`: its coroutine comes
        # back here, still inside the app context this group pushed.
        return _run_result(super().invoke(ctx))


# ---------------------------------------------------------------------------- routes


@click.command("routes", short_help="Show the routes of the app.")
@click.option(
    "--sort",
    "-s",
    type=click.Choice(("endpoint", "methods", "domain", "rule", "match")),
    default="endpoint",
    help="Sort by this column; 'match' is the order rules were added (the order they are tried in).",
)
@click.option("--all-methods", is_flag=True, help="Show HEAD and OPTIONS too.")
@with_appcontext
def routes_command(sort: str, all_methods: bool) -> None:
    """Show every route of the app: endpoint, methods and rule."""
    app = _cv_app.get().app
    rules = list(app.url_map.iter_rules())
    if not rules:
        click.echo("No routes were registered.")
        return
    hidden = set() if all_methods else {"HEAD", "OPTIONS"}
    host_matching = app.url_map.host_matching
    domains = [(rule.host if host_matching else rule.subdomain) or "" for rule in rules]
    rows = [
        [rule.endpoint, ", ".join(sorted((rule.methods or set()) - hidden)), domain, rule.rule]
        for rule, domain in zip(rules, domains, strict=True)
    ]
    column = {"endpoint": 0, "methods": 1, "domain": 2, "rule": 3}
    if sort in column:
        rows.sort(key=lambda row: row[column[sort]])
    headers = ["Endpoint", "Methods", "Host" if host_matching else "Subdomain", "Rule"]
    if not any(domains):
        headers.pop(2)
        rows = [[row[0], row[1], row[3]] for row in rows]
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    for line in (headers, ["-" * width for width in widths], *rows):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


# ---------------------------------------------------------------------------- shell


def _shell_namespace() -> dict[str, Any]:
    ctx = _cv_app.get()
    namespace: dict[str, Any] = {"app": ctx.app, "g": ctx.g}
    for processor in ctx.app.shell_context_processors:
        namespace.update(_run_result(processor()))
    return namespace


@click.command("shell", short_help="Run a Python shell in the app context.")
@with_appcontext
def shell_command() -> None:
    """An interactive Python shell with `app`, `g` and the names from the app's shell context
    processors, inside an application context. PYTHONSTARTUP is run first."""
    import code

    app = _cv_app.get().app
    banner = (
        f"Python {sys.version} on {sys.platform}\n"
        f"App: {app.import_name}{' [debug]' if app.debug else ''}\n"
        f"Instance: {app.instance_path}"
    )
    namespace: dict[str, Any] = {}
    startup = os.environ.get("PYTHONSTARTUP")
    if startup and os.path.isfile(startup):
        with open(startup, encoding="utf-8") as file:
            exec(compile(file.read(), startup, "exec"), namespace)
    namespace.update(_shell_namespace())
    hook = getattr(sys, "__interactivehook__", None)
    if hook is not None and sys.stdin.isatty():
        hook()  # line editing and history, as `python` has them
        try:
            import readline
            import rlcompleter

            readline.set_completer(rlcompleter.Completer(namespace).complete)
        except ImportError:  # pragma: no cover - no readline on this platform
            pass
    code.interact(banner=banner, local=namespace)


# ---------------------------------------------------------------------------- run


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket for host:port. We bind it (not tapster) so the URL shows the real port for
    `--port 0`, and so the reloader keeps one socket open while servers come and go."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(2048)  # tapster's default backlog; it calls listen() again with its own
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _url(sock: socket.socket, tls: bool) -> str:
    host, port = sock.getsockname()[:2]
    scheme = "https" if tls else "http"
    return f"{scheme}://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{scheme}://{host}:{port}"


def _configure_logging() -> None:
    """Tapster's startup, shutdown and access lines on stderr, unless logging is set up already."""
    import logging

    logger = logging.getLogger("tapster")
    configured = [h for h in logger.handlers if not isinstance(h, logging.NullHandler)]
    if configured or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _serve(
    app: Firkin, fd: int, certfile: str | None, keyfile: str | None, loop: str, access_log: bool
) -> None:
    import tapster

    try:
        config = tapster.Config(
            binds=(f"fd://{fd}",), certfile=certfile, keyfile=keyfile, loop=loop, access_log=access_log
        )
    except tapster.TapsterError as exc:
        os.close(fd)
        raise click.ClickException(str(exc)) from None
    _configure_logging()
    try:
        tapster.run(DebugMiddleware(app) if app.debug else app, config)
    except tapster.TapsterError as exc:
        raise click.ClickException(str(exc)) from None


def _split_paths(values: Sequence[str]) -> list[str]:
    return [os.path.abspath(path) for value in values for path in value.split(os.pathsep) if path]


@click.command("run", short_help="Serve the app with tapster.")
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Interface (0.0.0.0: all).")
@click.option(
    "--port", "-p", type=click.IntRange(0, 65535), default=5000, show_default=True, help="Port (0: any free)."
)
@click.option(
    "--certfile", "--cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate: HTTPS."
)
@click.option(
    "--keyfile", "--key", type=click.Path(exists=True, dir_okay=False), help="PEM key for --certfile."
)
@click.option("--debug/--no-debug", expose_value=False, callback=_on_debug, help="Set debug mode.")
@click.option(
    "--reload/--no-reload", default=None, help="Restart when a .py file changes. Default: on in debug mode."
)
@click.option(
    "--extra-files",
    multiple=True,
    help=f"More files the reloader watches (repeat it, or separate paths with {os.pathsep!r}).",
)
@click.option(
    "--loop",
    type=click.Choice(("auto", "asyncio", "uvloop", "trio")),
    default="auto",
    show_default=True,
    help="Event loop (auto: uvloop if installed, else asyncio).",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log each response.")
@pass_script_info
def run_command(
    info: ScriptInfo,
    host: str,
    port: int,
    certfile: str | None,
    keyfile: str | None,
    reload: bool | None,
    extra_files: tuple[str, ...],
    loop: str,
    access_log: bool,
) -> None:
    """Serve the app with tapster, for development. In debug mode (--debug, FIRKIN_DEBUG=1) the server
    restarts when a Python file under the current directory changes."""
    if keyfile is not None and certfile is None:
        raise click.BadParameter("--keyfile needs --certfile.", param_hint="'--keyfile'")
    if get_debug_flag() if reload is None else reload:
        _serve_reloading(info, host, port, certfile, keyfile, loop, access_log, _split_paths(extra_files))
        return
    app = info.load_app()
    click.echo(f" * Serving Firkin app {app.name!r}")
    click.echo(f" * Debug mode: {'on' if app.debug else 'off'}")
    sock = _listen(host, port)
    click.echo(f" * Running on {_url(sock, certfile is not None)} (Press CTRL+C to quit)")
    fd = sock.detach()  # tapster owns (and closes) the socket from here
    _serve(app, fd, certfile, keyfile, loop, access_log)


def _serve_reloading(
    info: ScriptInfo,
    host: str,
    port: int,
    certfile: str | None,
    keyfile: str | None,
    loop: str,
    access_log: bool,
    extra_files: list[str],
) -> None:
    """Tapster's supervisor serves the app in a worker process and restarts it when a .py file under
    the watched directories (or one of `extra_files`) changes; the socket stays open all along."""
    import tapster
    import tapster.supervisor

    os.environ.update(worker_environment(info.app_import_path, info.create_firkin_app, info.set_debug_flag))
    sock = _listen(host, port)
    click.echo(f" * Running on {_url(sock, certfile is not None)} (Press CTRL+C to quit)")
    click.echo(" * Restarting when a Python file changes")
    try:
        config = tapster.Config(
            binds=(f"fd://{sock.fileno()}",),
            certfile=certfile,
            keyfile=keyfile,
            loop=loop,
            access_log=access_log,
            reload=True,
            reload_dirs=(*watch_roots(info.app_import_path), *extra_files),
            reload_includes=(*tapster.Config().reload_includes, *extra_files),
        )
    except tapster.TapsterError as exc:
        sock.close()
        raise click.ClickException(str(exc)) from None
    sock.detach()  # the supervisor owns (and closes) the socket from here
    _configure_logging()
    try:
        code = tapster.supervisor.run(
            "firkin._run_worker:load_app", config, factory=True, configure_logging=False
        )
    except tapster.TapsterError as exc:
        raise click.ClickException(str(exc)) from None
    if code:
        raise SystemExit(code)


# ---------------------------------------------------------------------------- main

cli = FirkinGroup(
    name="firkin",
    help="""\
A general utility script for Firkin applications.

It loads the application given with '--app' or the FIRKIN_APP environment variable (or a wsgi.py or
app.py in the current directory), then runs one of its commands:

  firkin --app hello run --debug
""",
)


def main() -> None:
    """The `firkin` console script and `python -m firkin`."""
    cli.main()
