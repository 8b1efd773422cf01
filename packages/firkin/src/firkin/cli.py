"""The `firkin` command line (and `python -m firkin`): Flask's `flask` command, for firkin apps.

`firkin --app module:app run | routes | shell | <the app's own commands>`. Commands registered with
`@app.cli.command()` run inside an application context; `async def` commands are run with anyio.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import os
import re
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import click
from flask.cli import AppGroup as _FlaskAppGroup
from flask.cli import ScriptInfo as _FlaskScriptInfo

from .globals import _cv_app
from .helpers import get_debug_flag, get_load_dotenv

if TYPE_CHECKING:
    from types import FrameType, ModuleType

    from .app import Firkin

__all__ = [
    "AppGroup",
    "FirkinGroup",
    "NoAppException",
    "ScriptInfo",
    "load_dotenv",
    "main",
    "pass_script_info",
    "with_appcontext",
]

F = TypeVar("F", bound=Callable[..., Any])

# Set in the server process the reloader starts: the listening socket it inherits.
_FD_ENV = "FIRKIN_RUN_FD"
_POLL_INTERVAL = 1.0  # seconds between two scans of the watched files' mtimes
_CHILD_STOP_TIMEOUT = 10.0  # seconds a server being restarted gets to exit before it is killed
_SKIP_DIRS = frozenset(("__pycache__", "node_modules", "site-packages"))


class NoAppException(click.ClickException):
    """The application could not be found or loaded; the message says what to fix."""

    exit_code = 2


# ---------------------------------------------------------------------------- async commands


def _run_result(value: Any) -> Any:
    """Run an awaitable a command returned (an `async def` command) to completion."""
    if not inspect.isawaitable(value):
        return value

    async def wait() -> Any:
        return await value

    return anyio.run(wait)


def _sync_command(f: Callable[..., Any]) -> Callable[..., Any]:
    """A sync callable for click that runs `async def f` with anyio (plain functions pass through)."""
    if not inspect.iscoroutinefunction(f):
        return f

    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        return _run_result(f(*args, **kwargs))

    return run


# ---------------------------------------------------------------------------- app discovery


def _module_name_for(path: str) -> str:
    """Make `path` (a file, a package directory or a dotted module name) importable; return its module
    name. The directory above the outermost package goes first on sys.path."""
    is_file = path.endswith(".py") or os.sep in path or (os.altsep is not None and os.altsep in path)
    if not is_file:
        directory = os.getcwd()
        name = path
    else:
        full = os.path.realpath(path)
        base = full[:-3] if full.endswith(".py") else full
        if os.path.basename(base) == "__init__":
            base = os.path.dirname(base)
        directory, name = os.path.split(base)
        while os.path.isfile(os.path.join(directory, "__init__.py")):
            directory, package = os.path.split(directory)
            name = f"{package}.{name}"
    if not sys.path or sys.path[0] != directory:
        sys.path.insert(0, directory)
    return name


def _import_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only "this module does not exist" is ours to report in one line; a missing import inside
        # the user's module is their bug, shown with its traceback.
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise NoAppException(
                f"Could not import {module_name!r}: no such module (is the current directory right?)."
            ) from None
        raise


def _is_app(value: Any) -> bool:
    from .app import Firkin

    return isinstance(value, Firkin)


def _call_factory(
    factory: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any], where: str
) -> Any:
    try:
        inspect.signature(factory).bind(*args, **kwargs)
    except TypeError:
        raise NoAppException(f"The factory {where!r} cannot be called with the arguments given.") from None
    except ValueError:  # no signature to check (a builtin): just call it
        pass
    return factory(*args, **kwargs)


def _find_app_by_string(module: ModuleType, spec: str) -> Firkin:
    """`name` or `factory(literal, key=literal)` in `module`."""
    where = f"{module.__name__}:{spec}"
    try:
        expr = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError:
        raise NoAppException(f"Failed to parse {spec!r} as an attribute name or function call.") from None
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if isinstance(expr, ast.Name):
        name, is_call = expr.id, False
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        name, is_call = expr.func.id, True
        try:
            args = [ast.literal_eval(arg) for arg in expr.args]
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in expr.keywords if kw.arg is not None}
        except ValueError:
            raise NoAppException(f"Failed to parse the arguments of {where!r} as literal values.") from None
    else:
        raise NoAppException(f"Failed to parse {spec!r} as an attribute name or function call.")
    try:
        attr = getattr(module, name)
    except AttributeError:
        raise NoAppException(f"Failed to find attribute {name!r} in module {module.__name__!r}.") from None
    app = attr
    if inspect.isfunction(attr) or is_call:
        if not callable(attr):
            raise NoAppException(f"{module.__name__}:{name} is not callable, so it cannot be a factory.")
        app = _run_result(_call_factory(attr, args, kwargs, where))
    if not _is_app(app):
        raise NoAppException(f"{where!r} did not give a Firkin application (got {type(app).__name__}).")
    return app  # type: ignore[no-any-return]


def _find_best_app(module: ModuleType) -> Firkin:
    """The `app` or `application` attribute, the only Firkin instance, or `create_app`/`make_app()`."""
    for name in ("app", "application"):
        if _is_app(getattr(module, name, None)):
            return getattr(module, name)  # type: ignore[no-any-return]
    apps = [value for value in vars(module).values() if _is_app(value)]
    if len(apps) == 1:
        return apps[0]  # type: ignore[no-any-return]
    if len(apps) > 1:
        raise NoAppException(
            f"Found several Firkin applications in module {module.__name__!r}: "
            f"use '{module.__name__}:name' to say which one."
        )
    for name in ("create_app", "make_app"):
        factory = getattr(module, name, None)
        if inspect.isfunction(factory):
            app = _run_result(_call_factory(factory, (), {}, f"{module.__name__}:{name}"))
            if _is_app(app):
                return app  # type: ignore[no-any-return]
            raise NoAppException(
                f"The factory {module.__name__}:{name} did not return a Firkin application "
                f"(got {type(app).__name__})."
            )
    raise NoAppException(
        f"Failed to find a Firkin application or factory in module {module.__name__!r}: "
        f"use '{module.__name__}:name' to say which one."
    )


def _split_import_path(import_path: str) -> tuple[str, str]:
    # A colon followed by a slash or backslash is a Windows drive ("C:\\app.py"), not the separator.
    parts = re.split(r":(?![\\/])", import_path, maxsplit=1)
    return parts[0], parts[1] if len(parts) == 2 else ""


def locate_app(import_path: str) -> Firkin:
    """Import and return the app `import_path` names: `module`, `module:name`, `module:factory(args)`,
    or a file path in place of the module."""
    return _locate(*_split_import_path(import_path))


def _locate(module_path: str, name: str) -> Firkin:
    module = _import_module(_module_name_for(module_path))
    return _find_app_by_string(module, name) if name else _find_best_app(module)


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
    entry points, and the commands of the loaded app's `app.cli`. Use it for a custom script:
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
        tapster.run(app, config)
    except tapster.TapsterError as exc:
        raise click.ClickException(str(exc)) from None


def _watched_files(roots: Sequence[str], extra: Sequence[str]) -> Iterator[str]:
    """The .py files under `roots` (skipping hidden directories, caches and virtualenvs), and `extra`."""
    for root in roots:
        for directory, subdirs, files in os.walk(root):
            subdirs[:] = [
                d
                for d in subdirs
                if not d.startswith(".")
                and d not in _SKIP_DIRS
                and not os.path.isfile(os.path.join(directory, d, "pyvenv.cfg"))
            ]
            yield from (os.path.join(directory, f) for f in files if f.endswith(".py"))
    yield from extra


def _scan(roots: Sequence[str], extra: Sequence[str]) -> dict[str, int]:
    mtimes: dict[str, int] = {}
    for path in _watched_files(roots, extra):
        try:
            mtimes[path] = os.stat(path).st_mtime_ns
        except OSError:  # removed while we looked
            pass
    return mtimes


def _first_change(before: dict[str, int], now: dict[str, int]) -> str | None:
    for path, mtime in now.items():
        if before.get(path) != mtime:
            return path
    return next((path for path in before if path not in now), None)


def _stop_server(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)  # tapster's graceful shutdown
        try:
            child.wait(_CHILD_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _supervise(sock: socket.socket, roots: Sequence[str], extra: Sequence[str]) -> None:
    """The reloader: run the server in a child process (the same command line, serving on the socket
    we hold) and restart it when a watched file changes, until SIGINT or SIGTERM."""
    stop_signals: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_signals.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    command = [sys.executable, *sys.orig_argv[1:]]
    env = {**os.environ, _FD_ENV: str(sock.fileno())}
    try:
        while not stop_signals:
            mtimes = _scan(roots, extra)
            child = subprocess.Popen(command, env=env, pass_fds=(sock.fileno(),))
            try:
                changed = _wait_for_change(mtimes, roots, extra, child, stop_signals)
            finally:
                _stop_server(child)
            if changed is not None:
                click.echo(f" * Detected a change in {changed!r}, restarting")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_change(
    mtimes: dict[str, int],
    roots: Sequence[str],
    extra: Sequence[str],
    child: subprocess.Popen[bytes],
    stop_signals: list[int],
) -> str | None:
    """The first file that changed, or None once a stop signal came."""
    exit_reported = False
    next_scan = time.monotonic() + _POLL_INTERVAL
    while not stop_signals:
        time.sleep(0.1)  # short, so a stop signal is acted on at once
        if not exit_reported and child.poll() is not None:
            click.echo(
                f" * The server exited (code {child.returncode}); it restarts when a file changes", err=True
            )
            exit_reported = True
        if time.monotonic() >= next_scan:
            changed = _first_change(mtimes, _scan(roots, extra))
            if changed is not None:
                return changed
            next_scan = time.monotonic() + _POLL_INTERVAL
    return None


def _watch_roots(app_import_path: str | None) -> list[str]:
    roots = [os.getcwd()]
    if app_import_path:
        module_path = _split_import_path(app_import_path)[0]
        if module_path.endswith(".py") or os.sep in module_path:
            directory = os.path.dirname(os.path.realpath(module_path))
            if not directory.startswith(roots[0] + os.sep) and directory != roots[0]:
                roots.append(directory)
    return roots


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
    inherited = os.environ.pop(_FD_ENV, None)  # we are a server the reloader started
    if inherited is None and (get_debug_flag() if reload is None else reload):
        with _listen(host, port) as sock:
            click.echo(f" * Running on {_url(sock, certfile is not None)} (Press CTRL+C to quit)")
            click.echo(" * Restarting when a Python file changes")
            _supervise(sock, _watch_roots(info.app_import_path), _split_paths(extra_files))
        return
    app = info.load_app()
    click.echo(f" * Serving Firkin app {app.name!r}")
    click.echo(f" * Debug mode: {'on' if app.debug else 'off'}")
    if inherited is not None:
        fd = int(inherited)
    else:
        sock = _listen(host, port)
        click.echo(f" * Running on {_url(sock, certfile is not None)} (Press CTRL+C to quit)")
        fd = sock.detach()  # tapster owns (and closes) the socket from here
    _serve(app, fd, certfile, keyfile, loop, access_log)


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
